from tests.tracks.conftest import check_outcome
from tracks import t05_neural_cube as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == set(t.ARMS)


def test_cube_that_does_not_learn_fails():
    m = t.experiment(cube_size=3, epochs=1, lr=1e-9)
    assert t.judge(m).status == Status.FAIL


def _metrics(cube, dense, control, n_test=360):
    def arm(acc, recurrent):
        return {"test_acc": acc, "recurrent": recurrent, "input": 1, "output": 1}
    return {"n_test": n_test, "arms": {t.CUBE: arm(cube, 3880), t.DENSE: arm(dense, 46440), t.CONTROL: arm(control, 0)}}


def test_judge_needs_the_cube_to_beat_the_control():
    assert t.judge(_metrics(0.97, 0.97, 0.95)).status == Status.PASS
    # the previous session's numbers: cube 95.8%, dense 96.4%, no recurrence 95.8%
    v = t.judge(_metrics(0.958, 0.964, 0.958))
    assert v.status == Status.FAIL and "control" in v.reason
    # 0.5 points better is within one standard error (1.1 points at 95% on 360 images)
    assert t.judge(_metrics(0.963, 0.964, 0.958)).status == Status.FAIL


def test_cube_without_its_recurrence_fails():
    """The mechanism disabled: the 'cube' arm has no recurrent connections, so it is the control itself."""
    m = t.experiment(cube_size=3, epochs=1, arms={t.CUBE: "none", t.DENSE: "dense", t.CONTROL: "none"})
    assert m["arms"][t.CUBE]["test_acc"] == m["arms"][t.CONTROL]["test_acc"]
    v = t.judge(m)
    assert v.status == Status.FAIL and "control" in v.reason
