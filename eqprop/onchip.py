"""The host side of on-chip learning, on the integer golden model: epochs, schedules, accuracy.

The chip trains online, one sample at a time (`eqprop.golden.train`); the host decides the sample
order and may rewrite the LR_SHIFT registers between epochs to anneal the learning rate. These
helpers do exactly that with the golden model, so the benchmark (`bench.golden`), the tracks and,
later, the co-simulation drive training the same way.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from eqprop import golden
from eqprop.data import Split
from eqprop.hwconfig import HwConfig
from eqprop.quantise import quantise_input

__all__ = ["accuracy", "annealed", "precision_overrides", "train_epochs"]


def accuracy(cfg: HwConfig, params: golden.IntParams, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of integer inference on float inputs `x` in [0, 1], quantised to the state format."""
    return float((golden.predict(cfg, params, quantise_input(cfg, x)) == y).mean())


def annealed(lr_shifts: tuple[int, ...], epochs: int):
    """The host's learning-rate schedule: lr_shifts, + 1 after 60 % and + 2 after 85 % of the epochs."""
    def schedule(epoch: int) -> tuple[int, ...]:
        extra = 0 if epoch < epochs * 0.6 else 1 if epoch < epochs * 0.85 else 2
        return tuple(s + extra for s in lr_shifts)
    return schedule


def train_epochs(cfg: HwConfig, params: golden.IntParams, data: Split, *, epochs: int, seed: int = 0,
                 schedule=None, desc: str = "golden training", progress: bool = True,
                 ) -> tuple[golden.IntParams, list[dict]]:
    """Online golden training; ``schedule(epoch)`` gives that epoch's lr_shifts (default: fixed).

    Returns the trained parameters and per-epoch {epoch, lr_shifts, test_acc}.
    """
    rng = np.random.default_rng(seed)
    x = quantise_input(cfg, data.x_train)  # (N, n_in) state codes
    t = golden.encode_targets(cfg, data.y_train)  # (N, n_out) one-hot codes
    history = []
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch", leave=False, disable=not progress):
        ecfg = cfg.replace(lr_shifts=schedule(epoch)) if schedule else cfg
        perm = rng.permutation(len(x))
        params = golden.train(ecfg, params, x[perm], t[perm])
        history.append({"epoch": epoch + 1, "lr_shifts": list(ecfg.lr_shifts),
                        "test_acc": accuracy(cfg, params, data.x_test, data.y_test)})
    return params, history


def precision_overrides(base: HwConfig, state_bits: int, weight_bits: int) -> dict:
    """HwConfig overrides for a precision-sweep point: shadow and bias wide enough that only the swept
    state and weight widths matter."""
    return {"state_bits": state_bits, "weight_bits": weight_bits, "shadow_bits": weight_bits + 8,
            "bias_bits": min(40, state_bits + weight_bits + 12), "eps_shift": min(base.eps_shift, state_bits)}
