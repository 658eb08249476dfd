import pytest
import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.zoo.lazy import LazyEqProp, dense_macs, event_macs, saved_pct, setup_macs, step_macs


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


def test_the_shared_counts():
    """The one count that LazyEqProp and tracks 12 and 24 use: fan-out per event, both directions per dense step,
    the phase's first full pass (with W_0 x) on both sides."""
    sizes = [8, 6, 5, 3]
    assert step_macs(sizes) == 2 * (6 * 5 + 5 * 3)
    assert setup_macs(sizes) == step_macs(sizes) + 8 * 6
    assert dense_macs(sizes, 3, samples=2) == 2 * (setup_macs(sizes) + 3 * step_macs(sizes))
    assert event_macs(sizes, 0, 1) == 5            # the first hidden layer: up only, the input receives nothing
    assert event_macs(sizes, 1, 2) == 2 * (3 + 6)  # up and down
    assert event_macs(sizes, 2, 1) == 5            # the output layer: down only
    assert saved_pct(25, 100) == 75.0 and saved_pct(0, 0) == 0.0
