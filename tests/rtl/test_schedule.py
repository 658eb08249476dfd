"""The cycle model's figures: the relaxation approaches total MACs / P (85% lane utilisation at P = 8 on
the default configuration when every step computes the input layer's drive; cached, a step does a fifth of
that work and the fixed drain weighs more), and the cached drive with early exit takes at most a quarter
of the cycles of fixed T; the simulated counts are checked in test_core and test_controller."""

import pytest

from eqprop.hw.formats import Mode
from eqprop.hw.hwconfig import HwConfig
from rtl.schedule import command_cycles, cycle_model, cycle_table


def test_utilisation_at_default_config():
    rows = {r["P"]: r for r in cycle_table(HwConfig(cache_drive=False))}
    assert rows[8]["utilisation"] >= 0.85
    assert all(r["step"] >= r["mac_bound_step"] for r in rows.values())
    cached = {r["P"]: r for r in cycle_table(HwConfig())}
    assert cached[8]["utilisation"] >= 0.75
    assert all(r["step"] >= r["mac_bound_step"] for r in cached.values())


def test_cached_drive_and_early_exit_cost_a_quarter_of_fixed_t():
    """The issue's figure at P = 8, with the golden model's median of 13 free steps on digits (the
    measured mean is reported by make bench): at most 0.25 of the fixed-T cycles."""
    full = cycle_model(HwConfig(cache_drive=False, early_exit=False))["infer"]
    assert command_cycles(HwConfig(), Mode.INFER, (13,)) <= 0.25 * full
    assert command_cycles(HwConfig(early_exit=False), Mode.INFER) == cycle_model(HwConfig())["infer"]


def test_command_cycles_refuses_impossible_steps():
    with pytest.raises(ValueError, match="steps must give 1 .. the limit for each phase of INFER"):
        command_cycles(HwConfig(), Mode.INFER, (31,))
    with pytest.raises(ValueError, match="steps must give"):
        command_cycles(HwConfig(), Mode.TRAIN, (3,))


@pytest.mark.parametrize("estimator, phases", [("symmetric", 2), ("one-sided", 1)])
def test_train_is_free_plus_nudged_plus_update(estimator, phases):
    cfg = HwConfig(sizes=(5, 6, 3), estimator=estimator)
    m = cycle_model(cfg)
    assert m["train"] == m["infer"] + phases * (1 + cfg.nudge_steps * m["step"]) + m["update"]
