"""Float reference models of Equilibrium Propagation and the data they learn from.

`EqPropNet` (layered, symmetric weights, hard sigmoid; trained by EqProp or by BPTT), `BackpropMLP`
(the feed-forward baseline) and `LoopedMLP` (the seed's tanh recurrence with spectral norm).
"""

from eqprop.data import Split, load_dataset, load_digits_split, load_idx, load_mnist, synthetic_blobs
from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.looped import LoopedMLP
from eqprop.mlp import BackpropMLP

__all__ = ["BackpropMLP", "EqPropConfig", "EqPropNet", "LoopedMLP", "Split", "load_dataset",
           "load_digits_split", "load_idx", "load_mnist", "synthetic_blobs"]
