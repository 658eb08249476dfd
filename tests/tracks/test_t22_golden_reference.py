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


def _judged(flips, n, **kw):
    agree = 1 - flips / n
    m = {"max_state_err": 2e-4, "agreement": agree, "agreement_lower": t.wilson_lower(agree, n), "flips": flips,
         "n_images": n, "min_update_cosine": 0.9999, "updates_int_only": 0}
    return t.judge({**m, **kw}).status


def test_judge_thresholds():
    assert _judged(6, 1797) == Status.PASS
    assert _judged(6, 1797, max_state_err=0.05) == Status.PARTIAL
    assert _judged(6, 1797, updates_int_only=1) == Status.FAIL
    assert _judged(180, 1797) == Status.FAIL
    # two flips on the 360 test images alone do not show 99% agreement: the old verdict's footing
    assert _judged(2, 360) == Status.PARTIAL
    assert np.isfinite(t.STATE_TOL)


def test_wilson_lower():
    assert 0.9926 < t.wilson_lower(1 - 6 / 1797, 1797) < 0.9928
    assert 0.996 < t.wilson_lower(1.0, 1000) < 1.0  # no flip is still an interval
