"""Layered Equilibrium Propagation network with symmetric weights (the float reference model).

Implements Scellier & Bengio (2017), "Equilibrium Propagation: Bridging the Gap between Energy-Based
Models and Backpropagation", in the discrete-time form of Ernoult et al. (2019), with the three
gradient estimators compared by Laborieux et al. (2021), "Scaling Equilibrium Propagation to Deep
ConvNets by Drastically Reducing its Gradient Estimator Bias".

Network x = s_0 -> s_1 -> ... -> s_L with states in [0, 1]. Its energy is

    E(s) = 1/2 sum_l |s_l|^2 - sum_l s_l^T W_l s_{l-1} - sum_l b_l^T s_l ,   s_l in [0, 1]^{n_l}

and a step of relaxation (all layers at once, from the previous states) is

    s_l <- (1 - eps) s_l + eps * rho(W_l s_{l-1} + W_{l+1}^T s_{l+1} + b_l)

with rho the hard sigmoid clip(., 0, 1): the fixed points are the stationary points of E on the
box. W_l is used bottom-up and its transpose top-down, so the weights are symmetric by
construction. The nudged phase adds beta * (y - s_L) to the output layer's drive (the gradient of
the cost C = 1/2 |y - s_L|^2), and the contrastive update is

    dW_l = 1/beta * (s_l^beta s_{l-1}^beta^T - s_l^0 s_{l-1}^0^T),   db_l = 1/beta * (s_l^beta - s_l^0)

which tends to -dC/dW_l at the free fixed point as beta -> 0. No autograd graph is built for it.
The same network trained by backprop through the free phase (`bptt_step`) is the baseline.

Quantisation-aware training (``qat="int8" | "int4" | "ternary"``): every relaxation (free, nudged,
inference) runs on the weights and biases the chip would hold, computed from the float parameters by
`eqprop.hw.quantise.forward_values` (the same rounding, ternary threshold and saturation as `quantise`;
the per-layer scales are searched as `quantise` does at the first quantisation, then kept, as the chip
keeps them while it learns; ``quantise(net, net.hw_config(), keep_frac=True)`` is the design), while
the EqProp update goes to the float parameters, which act as full-precision shadow weights
(straight-through, as the chip's shadow memory does). With ``qat_states=True`` the inputs and states are
also rounded to the chip's state grid at every step (rho and the mixing step each rounded by the chip's
rounding rule, as the golden model does).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from eqprop._checks import check_batch
from eqprop.cli_support import check_int

__all__ = ["ESTIMATORS", "QAT", "EqPropConfig", "EqPropNet", "hard_sigmoid"]

ESTIMATORS = ("one-sided", "random-sign", "symmetric")
QAT = ("int8", "int4", "ternary")  # weight formats of quantisation-aware training (eqprop.hw.quantise.QAT_FORMATS)


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """rho(x) = clip(x, 0, 1)."""
    return x.clamp(0.0, 1.0)


@dataclass
class EqPropConfig:
    sizes: list[int] = field(default_factory=lambda: [64, 256, 10])  # [n_in, hidden..., n_out]
    free_steps: int = 30          # T: relaxation steps of the free phase
    nudge_steps: int = 10         # K: relaxation steps of each nudged phase
    beta: float = 0.5             # nudge strength
    step_size: float = 0.5        # eps: mixing of the old state with rho(drive); 1.0 = plain iteration
    estimator: str = "symmetric"  # one of ESTIMATORS
    init_gain: float = 1.0        # weights ~ U(-g/sqrt(fan_in), g/sqrt(fan_in))
    qat: str | None = None        # quantisation-aware training: relax on weights in this chip format (QAT)
    qat_states: bool = False      # with qat: inputs and states on the chip's state grid too

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(not isinstance(n, int) or n < 1 for n in self.sizes):
            raise ValueError(f"sizes must be at least two positive integers [n_in, ..., n_out], not {self.sizes!r}")
        for name in ("free_steps", "nudge_steps"):
            check_int(name, getattr(self, name), lo=1)
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a positive number, not {self.beta!r}")
        if not 0.0 < self.step_size <= 1.0:
            raise ValueError(f"step_size must be in (0, 1], not {self.step_size!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {self.estimator!r}")
        if self.qat is not None and self.qat not in QAT:
            raise ValueError(f"qat must be None or one of {', '.join(QAT)}, not {self.qat!r}")
        if self.qat_states and self.qat is None:
            raise ValueError("qat_states needs qat (a weight format): states are rounded to the chip's grid only "
                             "in quantisation-aware training")


class EqPropNet(nn.Module):
    """Layered EqProp network. ``weights[l]`` has shape (n_{l+1}, n_l); ``biases[l]`` (n_{l+1},).

    Parameters
    ----------
    config : EqPropConfig
    generator : torch.Generator, optional
        Source of the initial weights and of the random-sign estimator's signs.
    """

    def __init__(self, config: EqPropConfig | None = None, *, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, **overrides):
        super().__init__()
        config = config or EqPropConfig()
        if overrides:
            config = EqPropConfig(**{**asdict(config), **overrides})
        self.config = config
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for n_in, n_out in zip(config.sizes[:-1], config.sizes[1:], strict=True):
            bound = config.init_gain / math.sqrt(n_in)
            w = (torch.rand(n_out, n_in, generator=self.generator, dtype=dtype) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(n_out, dtype=dtype)))
        if config.qat is not None:  # per-layer weight scales of QAT, fixed at the first quantisation (-1: not yet)
            self.register_buffer("qat_weight_frac", torch.full((len(config.sizes) - 1,), -1, dtype=torch.int64))
        self._hw = None  # the HwConfig of quantisation-aware training, built on first use
        self._swapped = False  # True while the parameters hold their quantised values

    @property
    def sizes(self) -> list[int]:
        return self.config.sizes

    # -----------------------------------------------------------------------------------------
    # relaxation

    def init_states(self, batch: int) -> list[torch.Tensor]:
        """Zero states for s_1..s_L, each (B, n_l)."""
        p = self.weights[0]
        return [torch.zeros(batch, n, dtype=p.dtype, device=p.device) for n in self.sizes[1:]]

    def top_down(self, l: int) -> torch.Tensor:
        """The matrix that carries s_{l+1} down to s_l: W_l itself (used as W_l^T), so the weights are
        symmetric. Feedback-alignment variants return a separate matrix B_l here."""
        return self.weights[l]

    # -----------------------------------------------------------------------------------------
    # quantisation-aware training

    def hw_config(self):
        """The `HwConfig` whose formats quantisation-aware training relaxes in, with the weight scales fixed at
        the first quantisation (``quantise(net, net.hw_config(), keep_frac=True)`` gives the chip's design);
        None without ``qat``. Needs beta and the step size to be powers of two, as the chip shifts."""
        if self.config.qat is None:
            return None
        if self._hw is None:
            from eqprop.hw.quantise import QAT_FORMATS, config_from_net

            self._hw = config_from_net(self, **QAT_FORMATS[self.config.qat])
        frac = self.qat_weight_frac.tolist()
        return self._hw if min(frac) < 0 else self._hw.replace(weight_frac=tuple(frac))

    @torch.no_grad()
    def forward_params(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The weights and biases the relaxation uses: the float parameters, or under ``qat`` their values in
        the chip's format (`eqprop.hw.quantise.forward_values`, the grid `quantise` gives)."""
        if self.config.qat is None or self._swapped:
            return [w.detach().clone() for w in self.weights], [b.detach().clone() for b in self.biases]
        from eqprop.hw.quantise import forward_values

        # the chip keeps its weight scales while it learns: chosen once (least error, as quantise), then fixed
        keep = min(self.qat_weight_frac.tolist()) >= 0
        cfg, ws, bs = forward_values(self.hw_config(), [w.detach().double().cpu().numpy() for w in self.weights],
                                     [b.detach().double().cpu().numpy() for b in self.biases], keep_frac=keep)
        if not keep:
            self.qat_weight_frac.copy_(torch.tensor(cfg.weight_frac, dtype=torch.int64))
        p = self.weights[0]
        return ([torch.from_numpy(w).to(dtype=p.dtype, device=p.device) for w in ws],
                [torch.from_numpy(b).to(dtype=p.dtype, device=p.device) for b in bs])

    @contextlib.contextmanager
    def quantised(self):
        """Within the block the parameters hold their quantised values (under ``qat``) and the float shadows
        come back after; re-entrant, so a whole EqProp step quantises once. A no-op without ``qat``."""
        if self.config.qat is None or self._swapped:
            yield
            return
        ws, bs = self.forward_params()
        params = [*self.weights, *self.biases]
        shadows = [p.data for p in params]
        for p, q in zip(params, [*ws, *bs], strict=True):
            p.data = q
        self._swapped = True
        try:
            yield
        finally:
            for p, s in zip(params, shadows, strict=True):
                p.data = s
            self._swapped = False

    def _on_grid(self, t: torch.Tensor, *, clip: bool = False) -> torch.Tensor:
        """`t` rounded to the state grid 2**-state_bits by the chip's rounding rule; with `clip`, then clipped to
        the state codes [0, state_max] (the chip's rho: round, then saturate)."""
        from eqprop.hw.quantise import round_float

        cfg = self.hw_config()
        scale = 2.0 ** cfg.state_bits
        codes = round_float(t.detach().double().cpu().numpy() * scale, cfg.rounding)
        if clip:
            codes = codes.clip(0, cfg.state_max)
        return torch.from_numpy(codes / scale).to(dtype=t.dtype, device=t.device)

    def quantise_input(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs as the chip sees them under ``qat_states`` (`eqprop.hw.quantise.quantise_input`), else `x`."""
        if not self.config.qat_states:
            return x
        from eqprop.hw.quantise import quantise_input

        cfg = self.hw_config()
        codes = quantise_input(cfg, x.detach().double().cpu().numpy())
        return torch.from_numpy(codes * 2.0 ** -cfg.state_bits).to(dtype=x.dtype, device=x.device)

    # -----------------------------------------------------------------------------------------
    # relaxation (continued)

    def step(self, x: torch.Tensor, states: list[torch.Tensor], *, beta: float = 0.0,
             target: torch.Tensor | None = None) -> list[torch.Tensor]:
        """One synchronous relaxation step; every layer reads the states of the previous step."""
        eps = self.config.step_size
        n_layers = len(states)
        new = []
        for l in range(n_layers):
            below = x if l == 0 else states[l - 1]
            drive = below @ self.weights[l].T + self.biases[l]  # (B, n_{l+1})
            if l + 1 < n_layers:
                drive = drive + states[l + 1] @ self.top_down(l + 1)  # top-down through W^T
            elif beta != 0.0:
                drive = drive + beta * (target - states[l])  # nudge: -beta * dC/ds_L
            if self.config.qat_states:  # rho on the state grid (clipped to its codes), the mixing step rounded too
                rho = self._on_grid(drive, clip=True)
                new.append(states[l] + self._on_grid(eps * (rho - states[l])))
                continue
            target_state = hard_sigmoid(drive)
            new.append(target_state if eps == 1.0 else states[l] + eps * (target_state - states[l]))
        return new

    def relax(self, x: torch.Tensor, states: list[torch.Tensor] | None = None, *, steps: int,
              beta: float = 0.0, target: torch.Tensor | None = None,
              trace: list | None = None) -> list[torch.Tensor]:
        """Run `steps` relaxation steps from `states` (zeros if None); optionally record every step."""
        if states is None:
            states = self.init_states(x.shape[0])
        x = self.quantise_input(x)
        with self.quantised():
            for _ in range(steps):
                states = self.step(x, states, beta=beta, target=target)
                if trace is not None:
                    trace.append([s.detach().clone() for s in states])
        return states

    def free_phase(self, x: torch.Tensor, steps: int | None = None) -> list[torch.Tensor]:
        return self.relax(x, steps=steps or self.config.free_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output states s_L at the end of the free phase, (B, n_out)."""
        check_batch(x, self.sizes[0], "EqPropNet input")
        return self.free_phase(x)[-1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).argmax(dim=1)

    def energy(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        """E(s) per sample, (B,); under ``qat`` with the quantised weights."""
        with self.quantised():
            return self._energy(x, states)

    def _energy(self, x: torch.Tensor, states: list[torch.Tensor]) -> torch.Tensor:
        e = sum(0.5 * (s * s).sum(1) for s in states)
        for l, s in enumerate(states):
            below = x if l == 0 else states[l - 1]
            e = e - ((below @ self.weights[l].T) * s).sum(1) - s @ self.biases[l]
        return e

    @staticmethod
    def cost(states: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """C = 1/2 |y - s_L|^2 averaged over the batch."""
        return 0.5 * ((target - states[-1]) ** 2).sum(1).mean()

    # -----------------------------------------------------------------------------------------
    # Equilibrium Propagation

    def _contrast(self, x: torch.Tensor, pos: list[torch.Tensor], neg: list[torch.Tensor],
                  scale: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """scale * (dPhi/dtheta(pos) - dPhi/dtheta(neg)), batch-averaged; dPhi/dW_l = s_l s_{l-1}^T."""
        b = x.shape[0]
        dws, dbs = [], []
        for l in range(len(pos)):
            below_p = x if l == 0 else pos[l - 1]
            below_n = x if l == 0 else neg[l - 1]
            dws.append(scale * (pos[l].T @ below_p - neg[l].T @ below_n) / b)  # (n_{l+1}, n_l)
            dbs.append(scale * (pos[l] - neg[l]).mean(0))
        return dws, dbs

    @torch.no_grad()
    def eqprop_update(self, x: torch.Tensor, target: torch.Tensor, *, beta: float | None = None,
                      estimator: str | None = None, free_steps: int | None = None,
                      nudge_steps: int | None = None) -> dict:
        """Free phase, nudged phase(s) and the contrastive update, all without autograd.

        Returns a dict with ``dW`` and ``db`` (lists, the descent direction, i.e. the estimate of
        -dC/dtheta), the free states ``free`` and the free-phase cost ``cost``.
        """
        cfg = self.config
        beta = cfg.beta if beta is None else beta
        estimator = estimator or cfg.estimator
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
        k = nudge_steps or cfg.nudge_steps
        with self.quantised():  # one quantisation for the free and nudged phases (under qat)
            return self._eqprop_update(x, target, beta, estimator, k, free_steps or cfg.free_steps)

    def _eqprop_update(self, x, target, beta, estimator, k, free_steps) -> dict:
        if self.config.qat_states:  # the chip's one-hot target is the top state code, state_max
            cfg = self.hw_config()
            target = target * (cfg.state_max * 2.0 ** -cfg.state_bits)
        free = self.relax(x, steps=free_steps)
        if estimator == "symmetric":
            plus = self.relax(x, free, steps=k, beta=beta, target=target)
            minus = self.relax(x, free, steps=k, beta=-beta, target=target)
            x = self.quantise_input(x)  # the contrast sees the inputs the relaxation saw
            dws, dbs = self._contrast(x, plus, minus, 1.0 / (2 * beta))
        else:
            sign = 1.0
            if estimator == "random-sign":
                sign = 1.0 if torch.rand((), generator=self.generator).item() < 0.5 else -1.0
            nudged = self.relax(x, free, steps=k, beta=sign * beta, target=target)
            x = self.quantise_input(x)
            dws, dbs = self._contrast(x, nudged, free, 1.0 / (sign * beta))
        return {"dW": dws, "db": dbs, "free": free, "cost": self.cost(free, target)}

    def eqprop_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        """One EqProp training step: the update is written to ``.grad`` (as -dtheta) and applied."""
        check_batch(x, self.sizes[0], "EqPropNet input")
        out = self.eqprop_update(x, target)
        optimizer.zero_grad(set_to_none=False)
        with torch.no_grad():
            for p, d in zip(self.weights, out["dW"], strict=True):
                p.grad = -d
            for p, d in zip(self.biases, out["db"], strict=True):
                p.grad = -d
        optimizer.step()
        return float(out["cost"])

    # -----------------------------------------------------------------------------------------
    # backprop through time (the baseline)

    def bptt_gradients(self, x: torch.Tensor, target: torch.Tensor, *, steps: int | None = None,
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """dC/dW_l and dC/db_l by autograd through `steps` free-phase steps from zero states."""
        if self.config.qat is not None:
            raise NotImplementedError("quantisation-aware training is EqProp only (qat with BPTT is not implemented)")
        params = [*self.weights, *self.biases]
        with torch.enable_grad():
            states = self.relax(x, steps=steps or self.config.free_steps)
            loss = self.cost(states, target)
            # with fewer steps than layers the bottom weights cannot reach the output yet: gradient 0
            grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        n = len(self.weights)
        return list(grads[:n]), list(grads[n:]), loss.detach()

    def bptt_step(self, x: torch.Tensor, target: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        check_batch(x, self.sizes[0], "EqPropNet input")
        gw, gb, loss = self.bptt_gradients(x, target)
        optimizer.zero_grad(set_to_none=False)
        for p, g in zip([*self.weights, *self.biases], [*gw, *gb], strict=True):
            p.grad = g
        optimizer.step()
        return loss.item()
