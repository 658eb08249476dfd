import numpy as np
import torch

from eqprop.zoo.lazy import LazyEqProp, dense_macs
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
    assert 0 < macs <= dense_macs([8, 6, 5, 3], 25)


def test_the_loop_counts_as_lazyeqprop_counts():
    """This loop's MAC count is track 12's (LazyEqProp's) on the same weights and inputs, in float64."""
    net = LazyEqProp(8, [6, 5], 3, epsilon=0.05, generator=torch.Generator().manual_seed(0), init_gain=2.0).double()
    ws = [w.detach().numpy() for w in net.weights]
    bs = [b.detach().numpy() for b in net.biases]
    xs = np.random.default_rng(1).uniform(0, 1, (4, 8))
    macs = sum(t.relax_events(ws, [w.T.copy() for w in ws], bs, x, 20, net.config.step_size, 0.05)[1] for x in xs)
    with torch.no_grad():
        net.relax(torch.from_numpy(xs), steps=20)
    assert (macs, dense_macs(net.sizes, 20, samples=4)) == (net.macs_event, net.macs_dense)
    assert 0 < macs < net.macs_dense


def test_judge_thresholds():
    def m(speedup, acc=0.95):
        return {"dense_acc": 0.95, "rows": [{"threshold": 0.01, "speedup": speedup, "test_acc": acc,
                                             "macs_saved_pct": 90.0}]}
    assert t.judge(m(3.0)).status == Status.PASS
    assert t.judge(m(1.3)).status == Status.PARTIAL
    assert t.judge(m(1.1)).status == Status.FAIL   # within the timing noise: no effect
    assert t.judge(m(0.5)).status == Status.FAIL
    assert t.judge(m(3.0, acc=0.5)).status == Status.FAIL
