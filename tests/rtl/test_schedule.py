"""The cycle model's figures: the relaxation approaches total MACs / P (the issue asks for 85% lane
utilisation at P = 8 on the default configuration); the simulated counts are checked in test_core."""

import pytest

from eqprop.hw.hwconfig import HwConfig
from rtl.schedule import cycle_model, cycle_table


def test_utilisation_at_default_config():
    rows = {r["P"]: r for r in cycle_table(HwConfig())}
    assert rows[8]["utilisation"] >= 0.85
    assert all(r["step"] >= r["mac_bound_step"] for r in rows.values())


@pytest.mark.parametrize("estimator, phases", [("symmetric", 2), ("one-sided", 1)])
def test_train_is_free_plus_nudged_plus_update(estimator, phases):
    cfg = HwConfig(sizes=(5, 6, 3), estimator=estimator)
    m = cycle_model(cfg)
    assert m["train"] == m["infer"] + phases * (1 + cfg.nudge_steps * m["step"]) + m["update"]
