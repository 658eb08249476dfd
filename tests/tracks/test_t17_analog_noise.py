from eqprop.eqpropnet import EqPropConfig, EqPropNet
from tests.tracks.conftest import check_outcome
from tracks import t17_analog_noise as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["sigma"] for r in out.metrics["rows"]] == list(t.SIGMAS)


def test_untrained_model_fails():
    m = t.experiment(EqPropNet(EqPropConfig(sizes=[64, 32, 10])), sigmas=(0.0, 0.05), repeats=1)
    assert t.judge(m).status == Status.FAIL


def test_noise_lowers_accuracy_and_judge_thresholds():
    net = t.trained_net(hidden=32, epochs=2)
    m = t.experiment(net, sigmas=(0.0, 0.5), repeats=1)
    assert m["rows"][1]["acc_mean"] < m["rows"][0]["acc_mean"] - 0.1

    def rows(clean, noisy):
        return {"rows": [{"sigma": 0.0, "acc_mean": clean}, {"sigma": 0.05, "acc_mean": noisy}]}
    assert t.judge(rows(0.96, 0.95)).status == Status.PASS
    assert t.judge(rows(0.96, 0.92)).status == Status.PARTIAL
    assert t.judge(rows(0.96, 0.80)).status == Status.FAIL
