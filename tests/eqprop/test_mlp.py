import pytest
import torch

from eqprop.data import synthetic_blobs
from eqprop.mlp import BackpropMLP
from eqprop.train import TrainConfig, fit


def test_shape_and_layers():
    m = BackpropMLP([6, 5, 4, 3])
    assert m(torch.rand(2, 6)).shape == (2, 3)
    assert sum(isinstance(layer, torch.nn.Linear) for layer in m.net) == 3


def test_learns_synthetic_task():
    _, metrics = fit(TrainConfig(model="mlp", hidden=[32], epochs=10, lr=3e-3), synthetic_blobs(), progress=False,
                     log=None)
    assert metrics["final_test_acc"] >= 0.95


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of relu, hardsigmoid, tanh, not 'gelu'"):
        BackpropMLP([4, 2], activation="gelu")
    with pytest.raises(ValueError, match="NaN"):
        BackpropMLP([2, 2])(torch.tensor([[0.0, float("nan")]]))
