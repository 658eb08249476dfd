"""Ternary-weight EqProp: relaxation with weights in {-alpha, 0, +alpha}, updates on float shadow weights.

The ternarisation is that of Ternary Weight Networks (Li, Zhang & Liu 2016): per layer,
delta = threshold * mean|W|, W_t = alpha * sign(W) * [|W| > delta] with alpha the mean |W| of the
kept entries. The free and nudged phases run on W_t (a lane adds or subtracts, no multiplier, then
one scale per layer); the contrastive update, which needs only the states, is applied to the float
shadow weights W (the straight-through scheme of Courbariaux et al. 2015 "BinaryConnect").
"""

from __future__ import annotations

import contextlib

import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet

__all__ = ["TernaryEqProp", "ternarise"]


def ternarise(w: torch.Tensor, threshold: float) -> torch.Tensor:
    """alpha * sign(w) * [|w| > threshold * mean|w|]; all zeros if nothing survives."""
    delta = threshold * w.abs().mean()
    keep = w.abs() > delta
    if not keep.any():
        return torch.zeros_like(w)
    alpha = w.abs()[keep].mean()
    return alpha * torch.sign(w) * keep


class TernaryEqProp(EqPropNet):
    """Seed-compatible ``TernaryEqProp(input_dim, hidden_dim, output_dim, threshold=0.5)``.

    Parameters
    ----------
    threshold : float
        delta / mean|W|: larger means sparser. Must be >= 0.
    **config
        Further `EqPropConfig` fields (free_steps, beta, ...).
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, threshold: float = 0.5, *,
                 generator: torch.Generator | None = None, **config):
        if not threshold >= 0:
            raise ValueError(f"threshold must be >= 0, not {threshold!r}")
        super().__init__(EqPropConfig(sizes=[input_dim, hidden_dim, output_dim], **config), generator=generator)
        self.threshold = threshold

    def ternary_weights(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [ternarise(w, self.threshold) for w in self.weights]

    @contextlib.contextmanager
    def _ternary(self):
        """Within the block the parameters hold their ternary values; the float shadows come back after."""
        shadows = [w.data for w in self.weights]
        for w, t in zip(self.weights, self.ternary_weights(), strict=True):
            w.data = t
        try:
            yield
        finally:
            for w, s in zip(self.weights, shadows, strict=True):
                w.data = s

    def relax(self, x, states=None, **kw):
        with self._ternary():
            return super().relax(x, states, **kw)

    def energy(self, x, states):
        with self._ternary():
            return super().energy(x, states)

    def bptt_gradients(self, *args, **kw):
        raise NotImplementedError("TernaryEqProp trains by EqProp only (the shadow weights get the EqProp update)")

    def sparsity(self) -> float:
        """Fraction of ternary weights that are zero."""
        tw = self.ternary_weights()
        return float(sum((t == 0).sum().item() for t in tw) / sum(t.numel() for t in tw))
