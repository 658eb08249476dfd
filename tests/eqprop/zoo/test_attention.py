import pytest
import torch

from eqprop.zoo.attention import EquilibriumAttention


def test_without_attention_positions_do_not_mix():
    m = EquilibriumAttention(5, 4, 8, attention=False, generator=torch.Generator().manual_seed(0))
    a = torch.tensor([[1, 2, 3, 4]])
    b = torch.tensor([[1, 2, 3, 0]])
    ya, yb = m(a), m(b)
    torch.testing.assert_close(ya[:, :3], yb[:, :3])
    with_att = EquilibriumAttention(5, 4, 8, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(with_att(a)[:, :3], with_att(b)[:, :3])


def test_shape_errors():
    m = EquilibriumAttention(5, 4, 8)
    with pytest.raises(ValueError, match=r"tokens must have shape \(batch, 4\), not \(1, 3\)"):
        m(torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="dim must be a positive integer, not 0"):
        EquilibriumAttention(5, 4, 0)
