from tests.tracks.conftest import check_outcome
from tracks import t16_bit_precision as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["int_mean"]) == {"2", "8"}
    lo, hi = out.metrics["drop_ci"]["8"]
    assert lo <= out.metrics["drop"]["8"] <= hi


def test_untrained_model_fails():
    m = t.experiment(seeds=[0], epochs=1, bits=[8], lr=1e-12)
    assert t.judge(m).status == Status.FAIL


def _metrics(f, float_only, int_only, seeds=3, n_test=360):
    n = seeds * n_test
    drop, lo, hi = t.paired_drop(float_only, int_only, n)
    return {"float_mean": f, "seeds": list(range(seeds)), "n_paired": n,
            "int_mean": {"8": f - drop, "4": f - drop - 0.05}, "float_only": {"8": float_only},
            "int_only": {"8": int_only}, "drop": {"8": drop}, "drop_ci": {"8": [lo, hi]}}


def test_paired_interval():
    drop, lo, hi = t.paired_drop(0, 0, 1080)
    assert drop == 0 and lo < 0 < hi < 0.005  # no flip: an interval, not a point
    drop, lo, hi = t.paired_drop(30, 0, 1080)
    assert lo > 0.015 and abs(drop - 30 / 1080) < 1e-12


def test_judge_thresholds():
    assert t.judge(_metrics(0.97, 2, 1)).status == Status.PASS
    # one image of one seed (the old verdict's footing) cannot show the drop is under 1 point
    assert t.judge(_metrics(0.97, 1, 0, seeds=1)).status == Status.PARTIAL
    assert t.judge(_metrics(0.97, 15, 0)).status == Status.PARTIAL
    assert t.judge(_metrics(0.97, 60, 2)).status == Status.FAIL  # a broken quantiser: 5.4 points lost
    assert t.judge(_metrics(0.50, 0, 0)).status == Status.FAIL


def test_mnist5k_row_can_fail_the_track():
    good, broken = _metrics(0.97, 2, 1), _metrics(0.92, 60, 2, seeds=1, n_test=1000)
    assert t.judge({**good, "mnist5k": good}).status == Status.PASS
    v = t.judge({**good, "mnist5k": broken})     # a quantiser broken at 784 inputs only
    assert v.status == Status.FAIL and "mnist5k: " in v.reason
    assert t.judge({**good, "mnist5k": _metrics(0.87, 0, 0)}).status == Status.PASS     # 85% floor, not 90%
    assert t.judge({**good, "mnist5k": _metrics(0.80, 0, 0)}).status == Status.FAIL
