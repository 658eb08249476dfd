"""LoopedMLP: the seed package's tanh recurrence with spectral normalisation, trainable two ways.

    h_{t+1} = tanh(W_in x + b_in + W_rec h_t),   output = W_out h_T + b_out

Spectral normalisation (Miyato et al. 2018) divides every weight by its largest singular value, so
sigma(W_rec) = 1 and, tanh being 1-Lipschitz, the recurrence cannot expand distances: the fixed
point is stable. As in the seed, ``forward(x, steps)`` iterates to equilibrium and
``bptt_step`` trains by autograd through the loop.

``eqprop_step`` trains the same network by Equilibrium Propagation. With W_rec symmetric
(``symmetric=True``, the default, parametrised as (A + A^T) / 2), the fixed points are exactly the
stationary points of the Hopfield (1984) energy

    E(h) = sum_i integral atanh(h_i) - 1/2 h^T W_rec h - h^T (W_in x + b_in)

so the EqProp theorem applies: the nudged phase adds -beta * dL/dh (L the cross-entropy of the
read-out W_out h + b_out), and the contrastive update estimates dL/dW_in and dL/dW_rec. The
read-out is not part of the energy; its gradient is the local dL/dW_out at the free fixed point.
The chain rule from the effective (normalised) weights to the stored parameters goes through the
normalisation map alone (one small autograd call, no graph through time).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from eqprop._checks import check_batch
from eqprop.cli_support import check_int

__all__ = ["LoopedMLP"]


class _Symmetric(nn.Module):
    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return 0.5 * (a + a.T)


class LoopedMLP(nn.Module):
    """Seed-compatible ``LoopedMLP(input_dim, hidden_dim, output_dim, use_spectral_norm=True)``.

    Parameters
    ----------
    max_steps : int
        Relaxation steps of the free phase (the seed's default, 30).
    beta : float
        Nudge strength for EqProp training (the seed's default, 0.22).
    nudge_steps : int
        Relaxation steps of each nudged phase.
    symmetric : bool
        Parametrise W_rec as symmetric; EqProp training requires it.
    """

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, *, use_spectral_norm: bool = True,
                 symmetric: bool = True, max_steps: int = 30, beta: float = 0.22, nudge_steps: int = 15,
                 generator: torch.Generator | None = None):
        super().__init__()
        for name, v in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("output_dim", output_dim),
                        ("max_steps", max_steps), ("nudge_steps", nudge_steps)):
            check_int(name, v, lo=1)
        if not beta > 0:
            raise ValueError(f"beta must be positive, not {beta!r}")
        self.input_dim, self.hidden_dim, self.output_dim = input_dim, hidden_dim, output_dim
        self.max_steps, self.beta, self.nudge_steps = max_steps, beta, nudge_steps
        self.symmetric, self.use_spectral_norm = symmetric, use_spectral_norm
        self.W_in = nn.Linear(input_dim, hidden_dim)
        self.W_rec = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.W_out = nn.Linear(hidden_dim, output_dim)
        if generator is not None:
            with torch.no_grad():
                for p in self.parameters():
                    fan_in = p.shape[1] if p.ndim == 2 else p.shape[0]
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) / fan_in**0.5)
        if symmetric:
            parametrize.register_parametrization(self.W_rec, "weight", _Symmetric())
        if use_spectral_norm:
            for lin in (self.W_in, self.W_rec, self.W_out):
                spectral_norm(lin)

    def effective_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W_in, W_rec, W_out) after symmetrisation and normalisation; one power iteration in training."""
        return self.W_in.weight, self.W_rec.weight, self.W_out.weight

    def lipschitz(self) -> float:
        """Upper bound on the recurrence's Lipschitz constant: sigma_max(W_rec), tanh being 1-Lipschitz."""
        with torch.no_grad():
            return torch.linalg.matrix_norm(self.W_rec.weight, ord=2).item()

    def _relax(self, x, h, weights, steps, *, beta=0.0, labels=None):
        w_in, w_rec, w_out = weights
        drive_x = x @ w_in.T + self.W_in.bias  # (B, H), constant over the relaxation
        for _ in range(steps):
            drive = drive_x + h @ w_rec.T
            if beta != 0.0:
                # -beta * dL/dh for L = cross-entropy of the read-out, per sample
                p = torch.softmax(h @ w_out.T + self.W_out.bias, dim=1)
                p[torch.arange(len(labels)), labels] -= 1.0
                drive = drive - beta * (p @ w_out)
            h = torch.tanh(drive)
        return h

    def forward(self, x: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Logits after `steps` (default `max_steps`) steps from h = 0, (B, output_dim)."""
        check_batch(x, self.input_dim, "LoopedMLP input")
        weights = self.effective_weights()
        h = x.new_zeros(x.shape[0], self.hidden_dim)
        h = self._relax(x, h, weights, steps or self.max_steps)
        return h @ weights[2].T + self.W_out.bias

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(dim=1)

    def bptt_step(self, x: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(self.forward(x), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    @torch.no_grad()
    def eqprop_gradients(self, x: torch.Tensor, labels: torch.Tensor, *, beta: float | None = None,
                         free_steps: int | None = None, nudge_steps: int | None = None) -> dict:
        """EqProp estimates of dL/d(effective weights and biases), symmetric nudge (Laborieux et al. 2021).

        Returns ``{"W_in", "b_in", "W_rec", "W_out", "b_out", "loss"}``; W_* are gradients with
        respect to the effective (symmetrised, normalised) weights.
        """
        if not self.symmetric:
            raise ValueError("EqProp training needs a symmetric W_rec: build LoopedMLP(..., symmetric=True)")
        check_batch(x, self.input_dim, "LoopedMLP input")
        w = self.effective_weights()
        b, beta = x.shape[0], beta or self.beta
        k = nudge_steps or self.nudge_steps
        h0 = self._relax(x, x.new_zeros(b, self.hidden_dim), w, free_steps or self.max_steps)
        hp = self._relax(x, h0, w, k, beta=beta, labels=labels)
        hm = self._relax(x, h0, w, k, beta=-beta, labels=labels)
        s = 1.0 / (2 * beta * b)
        # -(dPhi/dtheta(h+) - dPhi/dtheta(h-)) / (2 beta), batch-averaged
        logits = h0 @ w[2].T + self.W_out.bias
        err = torch.softmax(logits, dim=1)
        err[torch.arange(b), labels] -= 1.0                       # dL/dlogits, (B, n_out)
        return {
            "W_in": -s * (hp - hm).T @ x,                          # (H, n_in), dPhi/dW_in = h x^T
            "b_in": -s * (hp - hm).sum(0),                         # (H,)
            "W_rec": -0.5 * s * (hp.T @ hp - hm.T @ hm),           # (H, H), dPhi/dW_rec = h h^T / 2
            "W_out": err.T @ h0 / b,                               # read-out: local gradient at h0
            "b_out": err.mean(0),
            "loss": nn.functional.cross_entropy(logits, labels),
        }

    def eqprop_step(self, x: torch.Tensor, labels: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        """One EqProp training step; the gradients reach the stored parameters through the
        normalisation map only."""
        g = self.eqprop_gradients(x, labels)
        optimizer.zero_grad()
        weights = self.effective_weights()  # with a graph back to the stored parameters
        params = [self._param(lin) for lin in (self.W_in, self.W_rec, self.W_out)]
        grads = torch.autograd.grad(weights, params, grad_outputs=(g["W_in"], g["W_rec"], g["W_out"]))
        with torch.no_grad():
            for p, d in zip(params, grads, strict=True):
                p.grad = d
            self.W_in.bias.grad = g["b_in"]
            self.W_out.bias.grad = g["b_out"]
        optimizer.step()
        return g["loss"].item()

    @staticmethod
    def _param(lin: nn.Linear) -> torch.Tensor:
        return lin.parametrizations.weight.original if parametrize.is_parametrized(lin, "weight") else lin.weight
