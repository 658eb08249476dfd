import pytest
import torch

from eqprop.zoo.temporal_resonance import TemporalResonance


def test_weights_are_normalised_and_symmetric_without_asymmetry():
    m = TemporalResonance(5, 12, gain=1.0, asymmetry=0.0)
    assert torch.allclose(m.W, m.W.T)
    assert torch.linalg.matrix_norm(m.W, ord=2).item() == pytest.approx(1.0)
    a = TemporalResonance(5, 12, asymmetry=1.0)
    assert not torch.allclose(a.W, a.W.T)


def test_trajectory_shape_and_contraction_at_low_gain():
    m = TemporalResonance(5, 12, gain=0.5)
    x = torch.rand(3, 5, generator=torch.Generator().manual_seed(0))
    traj = m.trajectory(x, 200)
    assert traj.shape == (200, 3, 12)
    assert (traj[-1] - traj[-2]).abs().max() < 1e-12


def test_bad_gain():
    with pytest.raises(ValueError, match="gain must be >= 0, not -1"):
        TemporalResonance(2, 2, gain=-1)
