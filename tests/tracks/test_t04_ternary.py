from tests.tracks.conftest import check_outcome
from tracks import t04_ternary as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert all(n <= 3 for k, a in out.metrics["arms"].items() if k != "float" for n in a["levels_per_layer"])


def test_all_zero_ternary_network_fails():
    m = t.experiment(hidden=32, epochs=1, thresholds=(100.0,))  # delta above every |w|: every weight is 0
    assert m["arms"]["ternary 100.0"]["sparsity"] == 1.0
    assert t.judge(m).status == Status.FAIL
