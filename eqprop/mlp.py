"""Feed-forward multilayer perceptron trained by backprop: the conventional baseline of the same size."""

from __future__ import annotations

import torch
from torch import nn

from eqprop._checks import check_batch

__all__ = ["BackpropMLP"]

ACTIVATIONS = {"relu": nn.ReLU, "hardsigmoid": lambda: nn.Hardtanh(0.0, 1.0), "tanh": nn.Tanh}


class BackpropMLP(nn.Module):
    """x -> Linear -> act -> ... -> Linear -> logits, trained with cross-entropy by autograd.

    Parameters
    ----------
    sizes : list of int
        [n_in, hidden..., n_out], the same list an `EqPropNet` of the same size takes.
    activation : str
        ``relu`` (default), ``hardsigmoid`` (clip to [0, 1], EqPropNet's rho) or ``tanh``.
    """

    def __init__(self, sizes: list[int], *, activation: str = "relu", generator: torch.Generator | None = None):
        super().__init__()
        if len(sizes) < 2 or any(not isinstance(n, int) or n < 1 for n in sizes):
            raise ValueError(f"sizes must be at least two positive integers [n_in, ..., n_out], not {sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")
        self.sizes = list(sizes)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():  # same U(-1/sqrt(fan_in), ...) law as nn.Linear, seeded
                    fan_in = p.shape[1] if p.ndim == 2 else p.shape[0]
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / fan_in**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, self.sizes[0], "BackpropMLP input")
        return self.net(x)  # (B, n_out) logits

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(dim=1)

    def backprop_step(self, x: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(self.forward(x), labels)
        loss.backward()
        optimizer.step()
        return loss.item()
