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


def _arms(dataset, float_acc, tern_acc, sparsity):
    return {"dataset": dataset, "arms": {"float": {"test_acc": float_acc, "sparsity": 0.0},
                                         "ternary 0.5": {"test_acc": tern_acc, "sparsity": sparsity,
                                                         "levels_per_layer": [3, 3]}}}


def test_the_worse_data_set_decides_with_its_own_floor():
    digits = _arms("digits", 0.96, 0.95, 0.5)
    assert t.judge(digits).status == Status.PASS
    assert t.judge({**digits, "mnist5k": _arms("mnist5k", 0.88, 0.87, 0.5)}).status == Status.PASS   # floor 85%
    v = t.judge({**digits, "mnist5k": _arms("mnist5k", 0.88, 0.80, 0.5)})
    assert v.status == Status.FAIL and "mnist5k: " in v.reason
    assert t.judge({**digits, "mnist5k": _arms("mnist5k", 0.92, 0.90, 0.2)}).status == Status.PARTIAL
