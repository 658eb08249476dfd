import pytest
import torch

from eqprop.zoo.neural_cube import NeuralCube, lattice_mask


def test_lattice_mask_counts():
    m = lattice_mask(3)
    assert m.shape == (27, 27) and torch.equal(m, m.T) and m.diagonal().sum() == 0
    assert m[13].sum() == 26  # the centre of a 3x3x3 cube touches every other site
    assert m[0].sum() == 7  # a corner has 7 neighbours
    assert lattice_mask(6).sum() == 3880  # (16^3 - 216) directed pairs


def test_recurrent_weights_stay_symmetric_and_local():
    net = NeuralCube(3, 8, 3, generator=torch.Generator().manual_seed(0))
    x = torch.rand(5, 8, generator=torch.Generator().manual_seed(1))
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(3):
        net.eqprop_step(x, y, opt)
    assert torch.allclose(net.R, net.R.T)
    assert (net.R[net.mask == 0] == 0).all()
    assert net.connections() == {"recurrent": int(lattice_mask(3).sum()), "input": 27 * 8, "output": 3 * 27}


def test_bad_arguments():
    with pytest.raises(ValueError, match="mask must be one of local, dense, none, not 'sparse'"):
        NeuralCube(3, 4, 2, mask="sparse")
    with pytest.raises(ValueError, match="cube_size must be an integer >= 2, not 1"):
        NeuralCube(1, 4, 2)
