from tests.tracks.conftest import check_outcome
from tracks import t11_deep as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    for n in out.metrics["nets"].values():
        assert len(n["update_rms"]) == len(n["cos_bptt"]) == n["depth"] + 1


def test_network_that_does_not_learn_fails():
    m = t.experiment(depths=(1, 2), width=16, epochs=1, lr=1e-9)
    assert t.judge(m).status == Status.FAIL
