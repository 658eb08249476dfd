from eqprop.eqpropnet import EqPropNet
from tests.tracks.conftest import check_outcome
from tracks import t09_gradient_alignment as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert {r["estimator"] for r in out.metrics["rows"]} == {"one-sided", "symmetric"}


class WrongSignHidden(EqPropNet):
    """A broken EqProp: the first layer's update has the wrong sign."""

    def eqprop_update(self, *args, **kw):
        out = super().eqprop_update(*args, **kw)
        out["dW"][0] = -out["dW"][0]
        return out


def test_broken_update_fails():
    net = t.trained_net(hidden=[32], epochs=1)
    broken = WrongSignHidden(net.config)
    broken.load_state_dict(net.state_dict())
    m = t.experiment(broken, batch=16, steps=100, betas=(0.05, 0.01))
    v = t.judge(m)
    assert v.status == Status.FAIL and "W1 -" in v.reason
    assert t.judge(t.experiment(net, batch=16, steps=100, betas=(0.05, 0.01))).status != Status.FAIL
