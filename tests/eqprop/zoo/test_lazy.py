import pytest
import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.zoo.lazy import LazyEqProp


def _pair(eps):
    lazy = LazyEqProp(8, [6, 5], 3, epsilon=eps, generator=torch.Generator().manual_seed(0), init_gain=2.0)
    dense = EqPropNet(EqPropConfig(sizes=[8, 6, 5, 3], init_gain=2.0))
    dense.load_state_dict(lazy.state_dict())
    return lazy, dense


def test_epsilon_zero_is_dense_relaxation():
    lazy, dense = _pair(0.0)
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1))
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    for a, b in zip(lazy.relax(x, steps=20), dense.relax(x, steps=20), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(lazy.eqprop_update(x, y)["dW"], dense.eqprop_update(x, y)["dW"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_mac_counts():
    lazy, _ = _pair(0.0)
    x = torch.rand(2, 8, generator=torch.Generator().manual_seed(1))
    lazy.relax(x, steps=3)
    per_step = 2 * (2 * 6 * 5 + 2 * 5 * 3)  # batch 2, both directions between state layers
    assert lazy.macs_dense == 3 * per_step + per_step + 2 * 8 * 6
    assert lazy.macs_event <= lazy.macs_dense
    big, _ = _pair(10.0)  # nothing ever fires: only the phase's first pass is paid
    big.relax(x, steps=3)
    assert big.macs_event == per_step + 2 * 8 * 6
    assert big.get_flop_savings() == pytest.approx(100 * 3 * per_step / big.macs_dense)


def test_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon must be >= 0, not -0.1"):
        LazyEqProp(4, 4, 2, epsilon=-0.1)
