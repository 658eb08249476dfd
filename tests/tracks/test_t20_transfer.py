from tests.tracks.conftest import check_outcome
from tracks import t20_transfer as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert {"scratch", "transfer"} <= set(out.metrics["runs"][0])


def test_judge_can_fail():
    def m(s, tr):
        return {"scratch": s, "transfer": tr, "shots": 10, "runs": [{}]}
    assert t.judge(m(0.90, 0.95)).status == Status.PASS
    assert t.judge(m(0.90, 0.90)).status == Status.PARTIAL
    assert t.judge(m(0.90, 0.85)).status == Status.FAIL
    assert t.judge(m(0.10, 0.12)).status == Status.FAIL  # chance-level "transfer" is no evidence

