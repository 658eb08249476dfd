from tests.tracks.conftest import check_outcome
from tracks import t20_transfer as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert {"scratch", "transfer"} <= set(out.metrics["runs"][0])
    assert out.metrics["n_test"] > 100   # the 5-9 test images


def _m(*pairs):
    runs = [{"seed": i, "scratch": s, "transfer": tr} for i, (s, tr) in enumerate(pairs)]
    return {"scratch": sum(s for s, _ in pairs) / len(pairs), "transfer": sum(tr for _, tr in pairs) / len(pairs),
            "shots": 10, "runs": runs}


def test_judge_asks_for_a_gain_on_every_seed():
    assert t.judge(_m((0.90, 0.95), (0.90, 0.94))).status == Status.PASS
    assert t.judge(_m((0.90, 0.92), (0.90, 0.915))).status == Status.PARTIAL
    # the quick run's figures before this criterion: +3.4, -0.6, 0.0 points: a mean of +0.9 is no effect
    v = t.judge(_m((0.8944, 0.9278), (0.9167, 0.9111), (0.9389, 0.9389)))
    assert v.status == Status.FAIL and "no effect" in v.reason
    # a large mean carried by one seed is not a gain on every seed
    assert t.judge(_m((0.80, 0.95), (0.90, 0.89))).status == Status.FAIL
    assert t.judge(_m((0.90, 0.90))).status == Status.FAIL
    v = t.judge(_m((0.90, 0.85), (0.90, 0.86)))
    assert v.status == Status.FAIL and "hurts" in v.reason
    assert t.judge(_m((0.10, 0.12))).status == Status.FAIL  # chance-level "transfer" is no evidence
