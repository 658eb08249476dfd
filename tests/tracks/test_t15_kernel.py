from tests.tracks.conftest import check_outcome
from tracks import t15_kernel as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert out.verdict.status == Status.PASS


def test_kernel_without_top_down_feedback_fails():
    m = t.experiment(hidden=[16], train_steps=3, kernel_kw={"top_down": False})
    v = t.judge(m)
    assert v.status == Status.FAIL and m["max_update_rel"] > 1e-3
