import numpy as np
import torch

from tests.tracks.conftest import check_outcome
from tracks import t22_golden_reference as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert out.metrics["bits"] == 16 and 0 <= out.metrics["agreement"] <= 1


def test_a_golden_update_of_the_wrong_sign_fails(monkeypatch):
    real = t.golden.train_sample

    def backwards(cfg, params, x, target, **kw):
        new = real(cfg, params, x, target, **kw)
        new.shadow = [2 * o - n for o, n in zip(params.shadow, new.shadow, strict=True)]
        return new

    monkeypatch.setattr(t.golden, "train_sample", backwards)
    net = t.EqPropNet(sizes=[64, 64, 10], generator=torch.Generator().manual_seed(0))
    m = t.compare(net, n_update=2)
    assert m["min_update_cosine"] < -0.99
    assert t.judge(m).status == Status.FAIL


def test_judge_thresholds():
    good = {"max_state_err": 2e-4, "agreement": 0.995, "min_update_cosine": 0.9999, "updates_int_only": 0}
    assert t.judge(good).status == Status.PASS
    assert t.judge({**good, "max_state_err": 0.05}).status == Status.PARTIAL
    assert t.judge({**good, "agreement": 0.9}).status == Status.FAIL
    assert t.judge({**good, "updates_int_only": 1}).status == Status.FAIL
    assert np.isfinite(t.STATE_TOL)
