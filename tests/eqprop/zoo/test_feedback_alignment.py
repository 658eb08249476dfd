import pytest
import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.zoo.feedback_alignment import FeedbackAlignmentEqProp


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(5, 8, generator=g), torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()


def test_symmetric_mode_is_plain_eqprop():
    fa = FeedbackAlignmentEqProp(8, [6, 5], 3, "symmetric", generator=torch.Generator().manual_seed(0))
    ref = EqPropNet(EqPropConfig(sizes=[8, 6, 5, 3]))
    ref.load_state_dict({k: v for k, v in fa.state_dict().items() if not k.startswith("feedback")})
    x, y = _data()
    a, b = fa.eqprop_update(x, y), ref.eqprop_update(x, y)
    for u, v in zip(a["dW"], b["dW"], strict=True):
        torch.testing.assert_close(u, v)


def test_random_feedback_is_fixed_and_used():
    fa = FeedbackAlignmentEqProp(8, 6, 3, "random", generator=torch.Generator().manual_seed(0))
    b0 = fa.feedback(1).clone()
    x, y = _data()
    fa.eqprop_step(x, y, torch.optim.SGD(fa.parameters(), lr=0.5))
    assert torch.equal(fa.feedback(1), b0)  # not a parameter, never updated
    assert abs(fa.alignment()[0]) < 0.5
    s = fa.relax(x, steps=3)
    zero = FeedbackAlignmentEqProp(8, 6, 3, "zero", generator=torch.Generator().manual_seed(0))
    zero.load_state_dict({k: v for k, v in fa.state_dict().items() if not k.startswith("feedback")}, strict=False)
    assert not torch.allclose(s[0], zero.relax(x, steps=3)[0])


def test_zero_feedback_leaves_hidden_layer_unchanged_by_the_nudge():
    fa = FeedbackAlignmentEqProp(8, 6, 3, "zero", generator=torch.Generator().manual_seed(0))
    x, y = _data()
    out = fa.eqprop_update(x, y)
    assert torch.count_nonzero(out["dW"][0]) == 0 and torch.count_nonzero(out["dW"][1]) > 0


def test_bad_mode():
    with pytest.raises(ValueError, match="feedback_mode must be one of symmetric, random, zero, not 'rand'"):
        FeedbackAlignmentEqProp(4, 4, 2, "rand")
