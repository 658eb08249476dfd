"""Neural cube: an EqProp network whose hidden neurons sit on a 3-D lattice with local connections.

The hidden layer is an n x n x n cube; each neuron connects recurrently only to its (up to) 26
neighbours at Chebyshev distance 1, with symmetric weights R = R^T masked to that neighbourhood
(the seed's 3-D topology). Input and output connect densely. The energy is

    E = 1/2 |h|^2 + 1/2 |y|^2 - h^T W_in x - 1/2 h^T R h - y^T W_out h - b_h^T h - b_y^T y

and it is trained by Equilibrium Propagation with the symmetric estimator, as `EqPropNet`:
relaxation h <- mix(h, rho(W_in x + R h + W_out^T y + b_h)), y <- mix(y, rho(W_out h + b_y)),
nudge beta (target - y) on y, update (dPhi(+beta) - dPhi(-beta)) / 2 beta with dPhi/dR = h h^T on
the mask. ``mask="dense"`` (all pairs) and ``mask="none"`` (no recurrence) give the controls.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from eqprop._checks import check_batch
from eqprop.eqpropnet import hard_sigmoid

__all__ = ["MASKS", "NeuralCube", "lattice_mask"]

MASKS = ("local", "dense", "none")


def lattice_mask(n: int) -> torch.Tensor:
    """(n^3, n^3) 0/1 matrix: 1 where two lattice sites are distinct and at Chebyshev distance 1."""
    coords = torch.tensor(list(itertools.product(range(n), repeat=3)))  # (n^3, 3), index = (i*n + j)*n + k
    cheb = (coords[:, None, :] - coords[None, :, :]).abs().amax(-1)
    return (cheb == 1).float()


class NeuralCube(nn.Module):
    """Seed-compatible ``NeuralCube(cube_size=6, input_dim=64, output_dim=10)``.

    Parameters
    ----------
    mask : str
        ``local`` (26-neighbour lattice), ``dense`` (every pair) or ``none`` (no recurrence).
    """

    def __init__(self, cube_size: int = 6, input_dim: int = 64, output_dim: int = 10, *, mask: str = "local",
                 free_steps: int = 30, nudge_steps: int = 10, beta: float = 0.5, step_size: float = 0.5,
                 generator: torch.Generator | None = None):
        super().__init__()
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {', '.join(MASKS)}, not {mask!r}")
        if not isinstance(cube_size, int) or cube_size < 2:
            raise ValueError(f"cube_size must be an integer >= 2, not {cube_size!r}")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        n = cube_size**3
        self.cube_size, self.n_hidden, self.input_dim, self.output_dim = cube_size, n, input_dim, output_dim
        self.free_steps, self.nudge_steps, self.beta, self.step_size, self.mask_kind = (
            free_steps, nudge_steps, beta, step_size, mask)
        m = {"local": lattice_mask(cube_size), "dense": 1 - torch.eye(n), "none": torch.zeros(n, n)}[mask]
        self.register_buffer("mask", m)

        def uniform(shape, fan):
            return (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(max(fan, 1))

        fan_rec = max(int(m.sum(1).max()), 1)
        r = uniform((n, n), fan_rec) * m
        self.W_in = nn.Parameter(uniform((n, input_dim), input_dim))
        self.R = nn.Parameter(0.5 * (r + r.T))
        self.W_out = nn.Parameter(uniform((output_dim, n), n))
        self.b_h = nn.Parameter(torch.zeros(n))
        self.b_y = nn.Parameter(torch.zeros(output_dim))

    def connections(self) -> dict[str, int]:
        """Directed connection counts: recurrent (the mask), input and output projections."""
        return {"recurrent": int(self.mask.sum()), "input": self.W_in.numel(), "output": self.W_out.numel()}

    def relax(self, x, h=None, y=None, *, steps, beta=0.0, target=None):
        b = x.shape[0]
        h = x.new_zeros(b, self.n_hidden) if h is None else h
        y = x.new_zeros(b, self.output_dim) if y is None else y
        drive_x = x @ self.W_in.T + self.b_h  # (B, n), constant over the phase
        eps = self.step_size
        for _ in range(steps):
            dh = drive_x + h @ self.R + y @ self.W_out  # R symmetric: h @ R == (R h)^T
            dy = h @ self.W_out.T + self.b_y
            if beta:
                dy = dy + beta * (target - y)
            h, y = h + eps * (hard_sigmoid(dh) - h), y + eps * (hard_sigmoid(dy) - y)
        return h, y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, self.input_dim, "NeuralCube input")
        return self.relax(x, steps=self.free_steps)[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(1)

    @torch.no_grad()
    def eqprop_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        check_batch(x, self.input_dim, "NeuralCube input")
        h0, y0 = self.relax(x, steps=self.free_steps)
        hp, yp = self.relax(x, h0, y0, steps=self.nudge_steps, beta=self.beta, target=target)
        hm, ym = self.relax(x, h0, y0, steps=self.nudge_steps, beta=-self.beta, target=target)
        s = 1.0 / (2 * self.beta * x.shape[0])
        grads = {  # minus the EqProp estimate of dC/dtheta (the descent direction, negated for .grad)
            "W_in": -s * (hp - hm).T @ x,
            "R": -s * 0.5 * (hp.T @ hp - hm.T @ hm) * self.mask,  # dPhi/dR = 1/2 h h^T for a symmetric R
            "W_out": -s * (yp.T @ hp - ym.T @ hm),
            "b_h": -s * (hp - hm).sum(0),
            "b_y": -s * (yp - ym).sum(0),
        }
        optimizer.zero_grad(set_to_none=False)
        for name, g in grads.items():
            getattr(self, name).grad = g
        optimizer.step()
        return float(0.5 * ((target - y0) ** 2).sum(1).mean())
