"""A recurrent tanh network with a tunable antisymmetric part, for studying limit cycles.

    h_{t+1} = tanh(W_in x + gain * W h_t),   W = (S + asymmetry * A) / sigma_max(S + asymmetry * A)

with S symmetric and A antisymmetric random Gaussian matrices. With asymmetry 0 the network is a
Hopfield network updated synchronously, whose attractors are fixed points or cycles of period 2
(Goles-Chacc, Fogelman-Soulie & Pellegrin 1985, for the analogous discrete case); an antisymmetric
part adds rotation and with gain > 1 can give longer cycles or aperiodic motion. The seed's
"temporal resonance" model claimed limit cycles; this one exposes the two knobs that create them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TemporalResonance"]


class TemporalResonance(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, *, gain: float = 1.5, asymmetry: float = 0.0,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64):
        super().__init__()
        if not gain >= 0:
            raise ValueError(f"gain must be >= 0, not {gain!r}")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        m = torch.randn(hidden_dim, hidden_dim, generator=g, dtype=dtype)
        a = torch.randn(hidden_dim, hidden_dim, generator=g, dtype=dtype)
        w = 0.5 * (m + m.T) + asymmetry * 0.5 * (a - a.T)
        self.register_buffer("W", w / torch.linalg.matrix_norm(w, ord=2))
        w_in = torch.randn(hidden_dim, input_dim, generator=g, dtype=dtype) / math.sqrt(input_dim)
        self.register_buffer("W_in", w_in)
        self.gain, self.asymmetry = gain, asymmetry

    @torch.no_grad()
    def trajectory(self, x: torch.Tensor, steps: int, h: torch.Tensor | None = None) -> torch.Tensor:
        """States for `steps` steps from h (zeros if None), (steps, B, hidden)."""
        drive = x.to(self.W.dtype) @ self.W_in.T
        h = torch.zeros_like(drive) if h is None else h
        out = []
        for _ in range(steps):
            h = torch.tanh(drive + self.gain * h @ self.W.T)
            out.append(h)
        return torch.stack(out)
