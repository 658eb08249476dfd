"""Convolutional Equilibrium Propagation on 8x8 images.

The energy-based formulation of Laborieux et al. (2021), "Scaling Equilibrium Propagation to Deep
ConvNets by Drastically Reducing its Gradient Estimator Bias": with the primitive function

    Phi(x, s; theta) = s_1 . conv_1(x) + s_2 . conv_2(s_1) + y . fc(s_2)

(biases inside the layers) and E = 1/2 sum |s|^2 - Phi, a relaxation step is
s <- mix(s, rho(dPhi/ds)), where dPhi/ds_1 = conv_1(x) + conv_2^T(s_2) carries the transposed
convolution top-down (the symmetric weights of a convolution), and the EqProp update is
(dPhi/dtheta(s^+beta) - dPhi/dtheta(s^-beta)) / (2 beta). Both derivatives are taken by autograd
of Phi at fixed states: one small graph per step, none through time.

Shapes: x (B, 1, 8, 8) -> s_1 (B, c1, 8, 8) -> s_2 (B, c2, 4, 4) (stride 2) -> y (B, n_out).
"""

from __future__ import annotations

import torch
from torch import nn

from eqprop._checks import check_batch
from eqprop.eqpropnet import hard_sigmoid

__all__ = ["ConvEqProp"]


class ConvEqProp(nn.Module):
    """``ConvEqProp(channels=(8, 16), output_dim=10)`` for 8x8 single-channel images given flat, (B, 64)."""

    def __init__(self, channels: tuple[int, int] = (8, 16), output_dim: int = 10, *, image: int = 8,
                 free_steps: int = 30, nudge_steps: int = 10, beta: float = 0.5, step_size: float = 0.5,
                 generator: torch.Generator | None = None):
        super().__init__()
        if image % 2:
            raise ValueError(f"image must be even (stride-2 second layer), not {image!r}")
        c1, c2 = channels
        self.image, self.channels, self.output_dim = image, (c1, c2), output_dim
        self.free_steps, self.nudge_steps, self.beta, self.step_size = free_steps, nudge_steps, beta, step_size
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.fc = nn.Linear(c2 * (image // 2) ** 2, output_dim)
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():
                    fan_in = p[0].numel() if p.ndim > 1 else p.shape[0]
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / fan_in**0.5)

    @property
    def input_dim(self) -> int:
        return self.image**2

    def _shapes(self, b: int):
        c1, c2 = self.channels
        return [(b, c1, self.image, self.image), (b, c2, self.image // 2, self.image // 2), (b, self.output_dim)]

    def phi(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """Primitive function summed over the batch (a scalar)."""
        s1, s2, y = states
        return (s1 * self.conv1(x)).sum() + (s2 * self.conv2(s1)).sum() + (y * self.fc(s2.flatten(1))).sum()

    def energy(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        return 0.5 * sum((s * s).sum() for s in states) - self.phi(x, states)

    def relax(self, x, states=None, *, steps, beta=0.0, target=None):
        x = x.reshape(-1, 1, self.image, self.image)
        if states is None:
            states = [x.new_zeros(s) for s in self._shapes(x.shape[0])]
        eps = self.step_size
        for _ in range(steps):
            with torch.enable_grad():
                req = [s.detach().requires_grad_() for s in states]
                drives = torch.autograd.grad(self.phi(x, req), req)  # dPhi/ds_l, each the shape of s_l
            drives = list(drives)
            if beta:
                drives[-1] = drives[-1] + beta * (target - states[-1])
            states = [s + eps * (hard_sigmoid(d) - s) for s, d in zip(states, drives, strict=True)]
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, self.input_dim, "ConvEqProp input")
        with torch.no_grad():
            return self.relax(x, steps=self.free_steps)[-1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(1)

    def eqprop_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        check_batch(x, self.input_dim, "ConvEqProp input")
        with torch.no_grad():
            free = self.relax(x, steps=self.free_steps)
            pos = self.relax(x, free, steps=self.nudge_steps, beta=self.beta, target=target)
            neg = self.relax(x, free, steps=self.nudge_steps, beta=-self.beta, target=target)
        xi = x.reshape(-1, 1, self.image, self.image)
        params = list(self.parameters())
        scale = 1.0 / (2 * self.beta * x.shape[0])
        g_pos = torch.autograd.grad(self.phi(xi, pos), params)
        g_neg = torch.autograd.grad(self.phi(xi, neg), params)
        optimizer.zero_grad(set_to_none=False)
        with torch.no_grad():
            for p, a, b in zip(params, g_pos, g_neg, strict=True):
                p.grad = -scale * (a - b)  # .grad is minus the descent direction
        optimizer.step()
        return float(0.5 * ((target - free[-1]) ** 2).sum(1).mean())
