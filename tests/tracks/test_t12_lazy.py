from tests.tracks.conftest import check_outcome
from tracks import t12_lazy as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["epsilon"] for r in out.metrics["sweep"]] == list(t.EPSILONS)


def test_savings_on_an_untrained_model_fail():
    m = t.experiment(hidden=16, epochs=1, dense_epochs=0, epsilons=(0.0, 0.1))
    assert m["dense_acc"] < 0.5
    v = t.judge(m)
    assert v.status == Status.FAIL and "not learned" in v.reason
