import pytest
import torch

from eqprop.zoo.ternary import TernaryEqProp, ternarise


def test_ternarise_has_three_levels_and_respects_threshold():
    w = torch.randn(50, 40, generator=torch.Generator().manual_seed(0))
    t = ternarise(w, 0.7)
    assert torch.unique(t).numel() == 3
    assert ((t == 0) == (w.abs() <= 0.7 * w.abs().mean())).all()
    assert (torch.sign(t[t != 0]) == torch.sign(w[t != 0])).all()
    assert (ternarise(w, 1e9) == 0).all()


def test_relaxation_uses_ternary_weights_and_update_reaches_the_shadows():
    net = TernaryEqProp(8, 6, 3, threshold=0.5, generator=torch.Generator().manual_seed(0))
    shadow = [w.detach().clone() for w in net.weights]
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1))
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    states = net.relax(x, steps=5)
    for w, s in zip(net.weights, shadow, strict=True):
        assert torch.equal(w.detach(), s)  # the float shadows are back after relaxing
    # the same relaxation by hand on the ternary weights
    tw = net.ternary_weights()
    h, o = torch.zeros(4, 6), torch.zeros(4, 3)
    for _ in range(5):
        h, o = (0.5 * h + 0.5 * (x @ tw[0].T + net.biases[0] + o @ tw[1]).clamp(0, 1),
                0.5 * o + 0.5 * (h @ tw[1].T + net.biases[1]).clamp(0, 1))
    torch.testing.assert_close(states[0], h)
    torch.testing.assert_close(states[1], o)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.eqprop_step(x, y, opt)
    assert not torch.equal(net.weights[0].detach(), shadow[0])


def test_bad_threshold():
    with pytest.raises(ValueError, match="threshold must be >= 0, not -1"):
        TernaryEqProp(4, 4, 2, threshold=-1)
