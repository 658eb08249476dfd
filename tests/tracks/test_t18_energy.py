from eqprop.eqpropnet import EqPropConfig, EqPropNet
from tests.tracks.conftest import check_outcome
from tracks import t18_energy as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["phases"]) == {"free", "nudged +beta", "nudged -beta"}


def test_undamped_relaxation_on_large_weights_fails_and_damped_passes():
    def net(eps):
        return EqPropNet(EqPropConfig(sizes=[64, 32, 10], init_gain=2.0, step_size=eps))
    assert t.judge(t.experiment(net(1.0), batch=16, contrast_step_size=None)).status == Status.FAIL
    assert t.judge(t.experiment(net(0.5), batch=16, contrast_step_size=None)).status == Status.PASS
