"""Equilibrium attention: token states that relax to a fixed point under self-attention.

A transformer-style layer iterated to equilibrium (as in deep equilibrium models, Bai, Kolter &
Koltun 2019, "Deep Equilibrium Models"): for a sequence of tokens x_1..x_L,

    h_i <- (1 - eps) h_i + eps * tanh(E[x_i] + P_i + sum_j softmax_j(q_i . k_j / sqrt(d)) v_j)

with q, k, v linear maps of the current states, read out per position by a linear layer. It is
trained by backprop through the relaxation (`bptt_step`), not by EqProp: EqProp needs an energy
whose gradient is these dynamics, which softmax attention with separate Q, K, V does not have (an
energy-based attention such as Hoover et al. 2023's "Energy Transformer" would be the route).
``attention=False`` removes the mixing between positions (the control).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from eqprop.cli_support import check_int

__all__ = ["EquilibriumAttention"]


class EquilibriumAttention(nn.Module):
    def __init__(self, vocab: int, length: int, dim: int = 32, *, steps: int = 10, step_size: float = 0.5,
                 attention: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        for name, v in (("vocab", vocab), ("length", length), ("dim", dim), ("steps", steps)):
            check_int(name, v, lo=1)
        self.vocab, self.length, self.dim, self.steps, self.step_size = vocab, length, dim, steps, step_size
        self.attention = attention
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(length, dim))
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.out = nn.Linear(dim, vocab)
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(p.shape[-1]))

    def forward(self, tokens: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Logits (B, L, vocab) for integer tokens (B, L), after `steps` relaxation steps from h = 0."""
        if tokens.ndim != 2 or tokens.shape[1] != self.length:
            raise ValueError(f"tokens must have shape (batch, {self.length}), not {tuple(tokens.shape)}")
        u = self.embed(tokens) + self.pos  # (B, L, d), constant over the relaxation
        h = torch.zeros_like(u)
        for _ in range(steps or self.steps):
            drive = u
            if self.attention:
                att = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2) / math.sqrt(self.dim), dim=-1)  # (B, L, L)
                drive = drive + att @ self.v(h)
            h = h + self.step_size * (torch.tanh(drive) - h)
        return self.out(h)

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward(tokens).argmax(-1)

    def bptt_step(self, tokens: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(self.forward(tokens).flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        return loss.item()
