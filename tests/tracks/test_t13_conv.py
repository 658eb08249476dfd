from tests.tracks.conftest import check_outcome
from tracks import t13_conv as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == {t.FULL, t.CONTROL}
    assert all(len(a["curve"]) == 1 for a in out.metrics["arms"].values())
    arms = out.metrics["arms"]
    assert arms[t.CONTROL]["trained_parameters"] < arms[t.FULL]["trained_parameters"]


def test_network_that_does_not_learn_fails():
    m = t.experiment(channels=(2, 2), epochs=1, lr=1e-9, n_train=200)
    assert t.judge(m).status == Status.FAIL


def _metrics(full, control, n_test=360):
    return {"epochs": 5, "n_test": n_test, "arms": {t.FULL: {"test_acc": full, "parameters": 3818},
                                                    t.CONTROL: {"test_acc": control, "parameters": 3818}}}


def test_judge_needs_the_convolutions_to_beat_the_read_out():
    assert t.judge(_metrics(0.942, 0.886)).status == Status.PASS
    v = t.judge(_metrics(0.93, 0.925))  # 0.5 points: within the 1.4-point standard error at 92.5%
    assert v.status == Status.FAIL and "read-out" in v.reason


def test_convolutions_that_do_not_learn_fail():
    """The mechanism disabled: the 'all layers' arm learns only its read-out, so it is the control itself."""
    m = t.experiment(channels=(2, 2), epochs=1, arms={t.FULL: True, t.CONTROL: True}, n_train=200)
    assert m["arms"][t.FULL]["test_acc"] == m["arms"][t.CONTROL]["test_acc"]
    assert t.judge(m).status == Status.FAIL
