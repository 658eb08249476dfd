"""Homeostatic regulation of a recurrent network's Lipschitz constant.

A `LoopedMLP` without spectral normalisation whose recurrent weights are scaled down by a
proportional controller after every training step: with L = sigma_max(W_rec) (the recurrence's
Lipschitz bound, tanh being 1-Lipschitz) and a set point L* < 1,

    if L > L*:   W_rec <- W_rec * (1 - gain * (L - L*) / L)

so L moves a fraction `gain` of the way back to L* per step, like synaptic scaling (Turrigiano 2008)
acting on a stability measure. Unlike spectral normalisation it lets the weights move freely below
the set point and acts only on excursions above it.
"""

from __future__ import annotations

import torch

from eqprop.looped import LoopedMLP

__all__ = ["HomeostaticEqProp"]


class HomeostaticEqProp(LoopedMLP):
    """``HomeostaticEqProp(input_dim, hidden_dim, output_dim, target_lipschitz=0.95, gain=0.5)``.

    Parameters
    ----------
    target_lipschitz : float
        Set point L*, in (0, 1].
    gain : float
        Controller gain in [0, 1]: 1 restores L* in one step, 0 switches regulation off.
    **kw
        Further `LoopedMLP` arguments (spectral norm is always off: the controller replaces it).
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, *, target_lipschitz: float = 0.95,
                 gain: float = 0.5, **kw):
        if not 0.0 < target_lipschitz <= 1.0:
            raise ValueError(f"target_lipschitz must be in (0, 1], not {target_lipschitz!r}")
        if not 0.0 <= gain <= 1.0:
            raise ValueError(f"gain must be in [0, 1], not {gain!r}")
        super().__init__(input_dim, hidden_dim, output_dim, use_spectral_norm=False, **kw)
        self.target_lipschitz, self.gain = target_lipschitz, gain

    def _rec_param(self) -> torch.Tensor:
        return self._param(self.W_rec)

    @torch.no_grad()
    def scale_recurrent(self, factor: float) -> None:
        """Multiply W_rec by `factor` (used to push the network out of its stable regime)."""
        self._rec_param().mul_(factor)

    @torch.no_grad()
    def regulate(self) -> float:
        """One controller step; returns L measured before it."""
        lip = self.lipschitz()
        if lip > self.target_lipschitz and self.gain > 0:
            self._rec_param().mul_(1.0 - self.gain * (lip - self.target_lipschitz) / lip)
        return lip

    def eqprop_step(self, x, labels, optimizer):
        loss = super().eqprop_step(x, labels, optimizer)
        self.regulate()
        return loss

    def bptt_step(self, x, labels, optimizer):
        loss = super().bptt_step(x, labels, optimizer)
        self.regulate()
        return loss
