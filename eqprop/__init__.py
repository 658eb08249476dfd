"""Float reference models of Equilibrium Propagation and the data they learn from.

`EqPropNet` (layered, symmetric weights, hard sigmoid; trained by EqProp or by BPTT), `BackpropMLP`
(the feed-forward baseline) and `LoopedMLP` (the seed's tanh recurrence with spectral norm).

The hardware specification (`HwConfig`, the number formats and register map, the integer golden
model, the quantiser, the memory images and the on-chip training schedule) is the subpackage
`eqprop.hw`: it imports numpy, not torch, and the float models reach it only through its quantiser.
The names below are imported lazily, so importing `eqprop.hw` does not load torch either.
"""

import importlib

from eqprop.cli_support import interrupt_early as _interrupt_early

_interrupt_early()     # python -m eqprop...: a Ctrl-C during the imports is one line and exit 130

_EXPORTS = {
    "Split": "eqprop.data", "load_dataset": "eqprop.data", "load_digits_split": "eqprop.data",
    "load_idx": "eqprop.data", "load_mnist": "eqprop.data", "load_mnist5k_split": "eqprop.data",
    "synthetic_blobs": "eqprop.data",
    "EqPropConfig": "eqprop.eqpropnet", "EqPropNet": "eqprop.eqpropnet",
    "LoopedMLP": "eqprop.looped", "BackpropMLP": "eqprop.mlp",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'eqprop' has no attribute {name!r}")
