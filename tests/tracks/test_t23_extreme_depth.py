from tests.tracks.conftest import check_outcome
from tracks import t23_extreme_depth as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["depth"] for r in out.metrics["layers"]] == [3, 10]


def test_signal_decays_with_depth_and_judge_can_fail():
    shallow, deep = t.layer_signals(3), t.layer_signals(20)
    assert deep["up_ratio"] < shallow["up_ratio"]
    unstable = {"steps_list": [10, 30, 100], "acc_vs_steps": {"m": [0.9, 0.95, 0.6]}, "layers": [shallow]}
    assert t.judge(unstable).status == Status.FAIL
    stable = {"steps_list": [10, 30, 100], "acc_vs_steps": {"m": [0.9, 0.95, 0.95]}, "layers": [deep]}
    assert t.judge(stable).status in (Status.PARTIAL, Status.PASS)
