from tests.tracks.conftest import check_outcome
from tracks import t21_continual as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["models"]) == {"EqProp", "backprop MLP"}


def test_untrained_first_task_fails():
    m = t.experiment(hidden=16, epochs=1, epochs_a=0)  # task A never trained: nothing to forget
    v = t.judge(m)
    assert v.status == Status.FAIL and "not learned" in v.reason


def test_judge_thresholds():
    def m(eq_forget, bp_forget):
        def r(f):
            return {"a_before": 0.98, "a_after": 0.98 - f, "b_after": 0.97, "forgetting": f}
        return {"models": {"EqProp": r(eq_forget), "backprop MLP": r(bp_forget)}}
    assert t.judge(m(0.05, 0.9)).status == Status.PASS
    assert t.judge(m(0.6, 0.9)).status == Status.PARTIAL
    assert t.judge(m(0.9, 0.9)).status == Status.FAIL
