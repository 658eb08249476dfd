from tests.tracks.conftest import check_outcome
from tracks import t02_eqprop_vs_backprop as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["mean"]) == {"eqprop", "mlp", "bptt"}


def test_eqprop_that_does_not_learn_fails():
    m = t.experiment(seeds=[0], epochs=1, eqprop_lr=1e-12)  # updates too small to move the weights
    assert m["mean"]["eqprop"] < 0.3
    v = t.judge(m)
    assert v.status == Status.FAIL and "floor" in v.reason


def test_judge_thresholds():
    def m(eq, bp):
        return {"mean": {"eqprop": eq, "mlp": bp}}
    assert t.judge(m(0.97, 0.975)).status == Status.PASS
    assert t.judge(m(0.99, 0.95)).status == Status.PASS
    assert t.judge(m(0.95, 0.97)).status == Status.PARTIAL
    assert t.judge(m(0.92, 0.97)).status == Status.FAIL
    assert t.judge(m(0.125, 0.10)).status == Status.FAIL  # the seed's "parity" at chance


def test_the_worse_data_set_decides():
    def m(eq, bp):
        return {"mean": {"eqprop": eq, "mlp": bp}}
    both = {**m(0.97, 0.975), "mnist5k": m(0.80, 0.92)}      # digits PASS, mnist5k below its 85% floor
    v = t.judge(both)
    assert v.status == Status.FAIL and v.reason.startswith("digits: ") and "mnist5k: " in v.reason
    assert t.judge({**m(0.97, 0.975), "mnist5k": m(0.90, 0.92)}).status == Status.PARTIAL
    assert t.judge({**m(0.97, 0.975), "mnist5k": m(0.91, 0.915)}).status == Status.PASS
