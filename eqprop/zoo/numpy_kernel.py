"""EqProp in plain numpy: an independent second implementation of `EqPropNet`'s arithmetic.

The same network, relaxation, nudge and contrastive update as `eqprop.eqpropnet` (Scellier & Bengio
2017 in the discrete-time form of Ernoult et al. 2019; symmetric estimator of Laborieux et al. 2021),
written from the equations, not from the PyTorch code, in float64 numpy with no autograd. Track 15
checks that both give the same updates; the fixed-point golden model is the next step down.

    s_l <- (1 - eps) s_l + eps * clip(W_l s_{l-1} + W_{l+1}^T s_{l+1} + b_l, 0, 1)
    output layer, nudged: drive += beta * (y - s_L)
    dW_l = (s_l^+ s_{l-1}^+T - s_l^- s_{l-1}^-T) / (2 beta B)   (symmetric: +beta and -beta phases)
"""

from __future__ import annotations

import numpy as np

__all__ = ["NumpyEqProp"]


class NumpyEqProp:
    """Layered EqProp network; ``weights[l]`` is (n_{l+1}, n_l), ``biases[l]`` (n_{l+1},), float64.

    Parameters
    ----------
    weights, biases : lists of arrays
        Copied to float64.
    top_down : bool
        Feed W_{l+1}^T s_{l+1} back to layer l (the symmetric network). False is a deliberately
        broken kernel for tests.
    """

    def __init__(self, weights, biases, *, free_steps: int = 30, nudge_steps: int = 10, beta: float = 0.5,
                 step_size: float = 0.5, top_down: bool = True):
        if len(weights) != len(biases) or not weights:
            raise ValueError(f"weights and biases must be non-empty lists of equal length, not {len(weights)} "
                             f"and {len(biases)}")
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        self.free_steps, self.nudge_steps, self.beta, self.step_size = free_steps, nudge_steps, beta, step_size
        self.top_down = top_down

    @classmethod
    def from_torch(cls, net, **kw) -> NumpyEqProp:
        """Copy an `EqPropNet`'s weights and configuration."""
        c = net.config
        return cls([w.detach().double().numpy() for w in net.weights],
                   [b.detach().double().numpy() for b in net.biases], free_steps=c.free_steps,
                   nudge_steps=c.nudge_steps, beta=c.beta, step_size=c.step_size, **kw)

    def relax(self, x: np.ndarray, states: list[np.ndarray] | None, steps: int, beta: float = 0.0,
              target: np.ndarray | None = None) -> list[np.ndarray]:
        n = len(self.weights)
        if states is None:
            states = [np.zeros((x.shape[0], w.shape[0])) for w in self.weights]
        for _ in range(steps):
            new = []
            for l in range(n):
                below = x if l == 0 else states[l - 1]
                drive = below @ self.weights[l].T + self.biases[l]  # (B, n_{l+1})
                if l + 1 < n:
                    if self.top_down:
                        drive += states[l + 1] @ self.weights[l + 1]
                elif beta:
                    drive += beta * (target - states[l])
                new.append((1 - self.step_size) * states[l] + self.step_size * np.clip(drive, 0.0, 1.0))
            states = new
        return states

    def update(self, x: np.ndarray, target: np.ndarray, *, estimator: str = "symmetric",
               beta: float | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(dW, db): the descent direction (estimate of -dC/dtheta), batch-averaged."""
        beta = self.beta if beta is None else beta
        free = self.relax(x, None, self.free_steps)
        if estimator == "symmetric":
            pos = self.relax(x, free, self.nudge_steps, beta, target)
            neg = self.relax(x, free, self.nudge_steps, -beta, target)
            scale = 1.0 / (2 * beta)
        elif estimator == "one-sided":
            pos, neg, scale = self.relax(x, free, self.nudge_steps, beta, target), free, 1.0 / beta
        else:
            raise ValueError(f"estimator must be 'symmetric' or 'one-sided', not {estimator!r}")
        b = x.shape[0]
        dws, dbs = [], []
        for l in range(len(self.weights)):
            bp = x if l == 0 else pos[l - 1]
            bn = x if l == 0 else neg[l - 1]
            dws.append(scale * (pos[l].T @ bp - neg[l].T @ bn) / b)
            dbs.append(scale * (pos[l] - neg[l]).mean(0))
        return dws, dbs

    def train_step(self, x: np.ndarray, target: np.ndarray, lrs: list[float], **kw) -> None:
        """Plain SGD: theta += lr_l * update_l."""
        dws, dbs = self.update(x, target, **kw)
        for l, lr in enumerate(lrs):
            self.weights[l] += lr * dws[l]
            self.biases[l] += lr * dbs[l]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.relax(x, None, self.free_steps)[-1].argmax(1)
