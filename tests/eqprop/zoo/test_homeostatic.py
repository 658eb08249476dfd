import pytest
import torch

from eqprop.zoo.homeostatic import HomeostaticEqProp


def test_regulate_moves_l_a_fraction_of_the_way_to_the_set_point():
    net = HomeostaticEqProp(8, 16, 3, target_lipschitz=0.9, gain=0.5, generator=torch.Generator().manual_seed(0))
    net.scale_recurrent(2.0 / net.lipschitz())
    assert net.lipschitz() == pytest.approx(2.0)
    assert net.regulate() == pytest.approx(2.0)
    assert net.lipschitz() == pytest.approx(2.0 - 0.5 * (2.0 - 0.9))
    for _ in range(40):
        net.regulate()
    assert net.lipschitz() == pytest.approx(0.9, abs=1e-6)
    off = HomeostaticEqProp(8, 16, 3, gain=0.0)
    off.scale_recurrent(3.0)
    before = off.lipschitz()
    off.regulate()
    assert off.lipschitz() == pytest.approx(before)


def test_training_step_regulates():
    net = HomeostaticEqProp(8, 16, 3, gain=1.0, generator=torch.Generator().manual_seed(0))
    net.scale_recurrent(3.0 / net.lipschitz())
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1))
    net.eqprop_step(x, torch.tensor([0, 1, 2, 0]), torch.optim.SGD(net.parameters(), lr=0.0))
    assert net.lipschitz() == pytest.approx(0.95, rel=1e-5)


@pytest.mark.parametrize(("kw", "msg"), [({"target_lipschitz": 1.5}, "target_lipschitz must be in"),
                                         ({"gain": -0.1}, "gain must be in")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        HomeostaticEqProp(4, 4, 2, **kw)
