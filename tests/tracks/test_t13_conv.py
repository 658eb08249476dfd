from tests.tracks.conftest import check_outcome
from tracks import t13_conv as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert len(out.metrics["curve"]) == 1


def test_network_that_does_not_learn_fails():
    m = t.experiment(channels=(2, 2), epochs=1, lr=1e-9)
    assert t.judge(m).status == Status.FAIL
