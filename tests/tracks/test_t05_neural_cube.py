from tests.tracks.conftest import check_outcome
from tracks import t05_neural_cube as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == set(t.ARMS)


def test_cube_that_does_not_learn_fails():
    m = t.experiment(cube_size=3, epochs=1, lr=1e-9,
                     arms={"cube (26 neighbours)": "local", "dense recurrence": "dense"})
    assert t.judge(m).status == Status.FAIL
