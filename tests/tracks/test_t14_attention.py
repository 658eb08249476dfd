from tests.tracks.conftest import check_outcome
from tracks import t14_attention as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == {"attention", "no attention (control)"}


def test_judge_fails_on_untrained_and_on_a_task_the_control_solves():
    m = t.experiment(train_steps=1, dim=8, attention_arms=(True,))
    assert t.judge(m).status == Status.FAIL
    easy = {"chance": 0.125, "arms": {"attention": {"test_acc": 1.0, "test_acc_3x_steps": 1.0},
                                      "no attention (control)": {"test_acc": 0.9, "test_acc_3x_steps": 0.9}}}
    assert t.judge(easy).status == Status.FAIL
