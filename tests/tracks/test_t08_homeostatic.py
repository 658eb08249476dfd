from tests.tracks.conftest import check_outcome
from tracks import t08_homeostatic as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == {"homeostasis", "control (gain 0)"}


def test_controller_switched_off_fails():
    m = t.experiment(hidden=16, epochs_before=1, epochs_after=1, gain=0.0)
    assert t.judge(m).status == Status.FAIL
