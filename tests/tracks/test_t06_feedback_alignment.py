from tests.tracks.conftest import check_outcome
from tracks import t06_feedback_alignment as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == set(t.ARMS)


def test_feedback_that_carries_nothing_fails():
    # the "random feedback" arm is given no feedback: it can only match the read-out-only control
    arms = {"symmetric": "symmetric", "random feedback": "zero", "no feedback (read-out only)": "zero"}
    m = t.experiment(hidden=[16, 16], epochs=2, arms=arms)
    assert t.judge(m).status == Status.FAIL
