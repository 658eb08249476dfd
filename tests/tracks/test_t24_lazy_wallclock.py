import numpy as np

from tests.tracks.conftest import check_outcome
from tracks import t24_lazy_wallclock as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["threshold"] for r in out.metrics["rows"]] == [0.0, 0.01, 0.1]


def test_event_relaxation_at_threshold_zero_is_dense():
    rng = np.random.default_rng(0)
    ws = [rng.uniform(-1, 1, (6, 8)), rng.uniform(-1, 1, (5, 6)), rng.uniform(-1, 1, (3, 5))]
    bs = [rng.uniform(-0.1, 0.1, w.shape[0]) for w in ws]
    x = rng.uniform(0, 1, 8)
    dense = t.relax_dense(ws, bs, x, 25, 0.5)
    events, macs = t.relax_events(ws, [w.T.copy() for w in ws], bs, x, 25, 0.5, 0.0)
    np.testing.assert_allclose(events, dense, atol=1e-12)
    assert 0 < macs <= 25 * 2 * (6 * 5 + 5 * 3)


def test_judge_thresholds():
    def m(speedup, acc=0.95):
        return {"dense_acc": 0.95, "rows": [{"threshold": 0.01, "speedup": speedup, "test_acc": acc,
                                             "macs_saved_pct": 90.0}]}
    assert t.judge(m(3.0)).status == Status.PASS
    assert t.judge(m(1.3)).status == Status.PARTIAL
    assert t.judge(m(0.5)).status == Status.FAIL
    assert t.judge(m(3.0, acc=0.5)).status == Status.FAIL
