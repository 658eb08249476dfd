from eqprop.hw.hwconfig import HwConfig
from tests.tracks.conftest import check_outcome
from tracks import t25_onchip_learning as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert len(out.metrics["curves"][0]) == 1


def test_a_chip_that_does_not_learn_fails():
    # learning-rate shifts so large that every update rounds to zero: the weights never move
    m = t.experiment(seeds=[0], epochs=1, cfg=HwConfig(lr_shifts=(30, 30)))
    assert m["mean"] < 0.5
    assert t.judge(m).status == Status.FAIL


def test_judge_thresholds():
    assert t.judge({"mean": 0.96}).status == Status.PASS
    assert t.judge({"mean": 0.92}).status == Status.PARTIAL
    assert t.judge({"mean": 0.125}).status == Status.FAIL
