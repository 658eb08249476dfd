import numpy as np
import pytest
import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.zoo import NumpyEqProp


@pytest.mark.parametrize("estimator", ["one-sided", "symmetric"])
def test_kernel_update_equals_pytorch(estimator):
    net = EqPropNet(EqPropConfig(sizes=[6, 5, 4, 3], init_gain=1.5), dtype=torch.float64)
    kernel = NumpyEqProp.from_torch(net)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (7, 6)), np.eye(3)[rng.integers(0, 3, 7)]
    ref = net.eqprop_update(torch.from_numpy(x), torch.from_numpy(y), estimator=estimator)
    dws, dbs = kernel.update(x, y, estimator=estimator)
    for a, b in zip(dws + dbs, ref["dW"] + ref["db"], strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-14)


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty lists of equal length"):
        NumpyEqProp([np.zeros((2, 2))], [])
    with pytest.raises(ValueError, match="estimator must be 'symmetric' or 'one-sided', not 'random-sign'"):
        NumpyEqProp([np.zeros((2, 2))], [np.zeros(2)]).update(np.zeros((1, 2)), np.zeros((1, 2)),
                                                               estimator="random-sign")
