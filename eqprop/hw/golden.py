"""Integer golden model of the accelerator: the executable specification, bit for bit.

Implements the discrete-time Equilibrium Propagation of `eqprop.eqpropnet.EqPropNet` (Scellier &
Bengio 2017; Ernoult et al. 2019; the symmetric estimator of Laborieux et al. 2021) in integers
only, with the widths, shifts and rounding of a `HwConfig`. All arrays are numpy int64 codes in the
formats of `eqprop.hw.formats.number_formats`; no float value enters a computation.

One relaxation step (all layers at once, from the previous step's states), for weight layer l:

    acc_l   = (W_l s_l << (A_l - fw_l)) + (W_{l+1}^T s_{l+2} << (A_l - fw_{l+1})) + b_l   # exact, acc_bits
    acc_L  += sign * R(t - s_L, beta_shift - A_{L-1})                                   # nudge, output only
    rho_l   = clip(R(acc_l, A_l), 0, 2**state_bits - 1)                                  # hard sigmoid
    s_l    <- s_l + R(rho_l - s_l, eps_shift)                                             # mixing, eps = 2**-eps_shift

with R(v, k) the right shift by k under ``cfg.rounding`` (a left shift when k < 0), A_l =
`HwConfig.acc_align`. The symmetric estimator relaxes from the free state at +beta and at -beta
(sign = +1, -1) and contrasts the two; one-sided contrasts +beta against the free state.

Training is online, one sample at a time, as the chip will do it: free phase, nudged phase(s), then

    shadow_l <- sat(shadow_l + R(s+_{l+1} s+_l^T - s-_{l+1} s-_l^T, weight_update_shift(l)))
    b_l      <- sat(b_l + R(s+_{l+1} - s-_{l+1}, bias_update_shift(l)))
    W_l       = derive_weights(shadow_l)      # round + saturate (int), threshold (ternary)

before the next sample. `train` on a batch is by definition the samples one after another.
Relaxation and inference are vectorised: a batch is bit-identical to its samples one by one,
because every operation is elementwise or an exact integer sum.

Early exit (``cfg.early_exit``, `settle`): a phase stops at the first step whose new states equal the
old ones, or after its T (K) steps. `step` is a function of the states (the input, parameters, nudge and
target being fixed within a phase), so every later step would return the same states: stopping there
changes no state, no result and no trained weight, only the steps taken (and so the cycles). A core that
relaxes B samples per command (``cfg.samples``) runs each phase until all of them have stopped, so a
command's steps are the most of its samples' (`grouped`); each sample's states are its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eqprop.hw.hwconfig import HwConfig

__all__ = ["IntParams", "Settled", "Trace", "contrast_update", "contrasted", "derive_weights", "encode_targets",
           "grouped", "infer", "init_params", "matmul_exact", "predict", "relax", "run_phases", "saturate", "settle",
           "shadow_of_weights", "shift_round", "step", "train", "train_sample", "zero_params"]


# ----------------------------------------------------------------------------------------------
# primitives

def shift_round(x: np.ndarray, k: int, mode: str) -> np.ndarray:
    """x / 2**k rounded to an integer (int64), exact for k <= 0 (left shift).

    ``floor``: arithmetic shift right. ``half_up``: (x + 2**(k-1)) >> k, ties towards +inf.
    ``half_away``: sign(x) * ((|x| + 2**(k-1)) >> k), ties away from zero, so R(-x) = -R(x).
    """
    x = np.asarray(x, dtype=np.int64)
    if k <= 0:
        return x << -k
    if mode == "floor":
        return x >> k
    half = np.int64(1) << (k - 1)
    if mode == "half_up":
        return (x + half) >> k
    if mode == "half_away":
        return np.sign(x) * ((np.abs(x) + half) >> k)
    raise ValueError(f"rounding must be one of floor, half_up, half_away, not {mode!r}")


def saturate(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Clip to [lo, hi] (int64)."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def matmul_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer a @ b, computed in float64 BLAS and returned as int64.

    Exact because every operand, product and partial sum is an integer below 2**52 in magnitude
    (`HwConfig` caps the worst-case accumulator at 52 bits), so no float rounding can occur in any
    summation order.
    """
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# parameters

@dataclass
class IntParams:
    """Integer parameters: ``shadow[l]`` (n_{l+1}, n_l) in shadow format, ``weights[l]`` derived from
    it (forward format), ``biases[l]`` (n_{l+1},) in bias format. All int64."""

    shadow: list[np.ndarray]
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def copy(self) -> IntParams:
        return IntParams([a.copy() for a in self.shadow], [a.copy() for a in self.weights],
                         [a.copy() for a in self.biases])

    @classmethod
    def from_shadow(cls, cfg: HwConfig, shadow: list[np.ndarray], biases: list[np.ndarray]) -> IntParams:
        """Check shapes and ranges and derive the forward weights."""
        shadow = [np.asarray(s, dtype=np.int64) for s in shadow]
        biases = [np.asarray(b, dtype=np.int64) for b in biases]
        if len(shadow) != cfg.n_layers or len(biases) != cfg.n_layers:
            raise ValueError(f"the parameters must have {cfg.n_layers} layers, not {len(shadow)} shadow, "
                             f"{len(biases)} bias")
        for l in range(cfg.n_layers):
            shape = (cfg.sizes[l + 1], cfg.sizes[l])
            if shadow[l].shape != shape or biases[l].shape != shape[:1]:
                raise ValueError(f"layer {l}: shadow must have shape {shape} and bias {shape[:1]}, not "
                                 f"{shadow[l].shape} and {biases[l].shape}")
            if np.abs(shadow[l]).max(initial=0) > cfg.shadow_max or np.abs(biases[l]).max(initial=0) > cfg.bias_max:
                raise ValueError(f"layer {l}: shadow codes must be within +-{cfg.shadow_max} and bias codes "
                                 f"within +-{cfg.bias_max}")
        return cls(shadow, [derive_weights(cfg, s) for s in shadow], biases)


def derive_weights(cfg: HwConfig, shadow: np.ndarray) -> np.ndarray:
    """Forward weight codes from shadow codes.

    int: saturate(R(shadow, shadow_extra), +-weight_max), rounding ``cfg.rounding``.
    ternary: sign(shadow) where |shadow| >= ternary_threshold_code, else 0 (symmetric).
    """
    if cfg.weight_format == "ternary":
        return np.where(np.abs(shadow) >= cfg.ternary_threshold_code, np.sign(shadow), 0).astype(np.int64)
    return saturate(shift_round(shadow, cfg.shadow_extra, cfg.rounding), -cfg.weight_max, cfg.weight_max)


def shadow_of_weights(cfg: HwConfig, weights: np.ndarray) -> np.ndarray:
    """Shadow codes from which `derive_weights` gives back exactly `weights` (an inference-only core holds
    weights only): int ``weights << shadow_extra``; ternary ``weights * ternary_threshold_code`` (at least 1)."""
    weights = np.asarray(weights, dtype=np.int64)
    if cfg.weight_format == "ternary":
        return weights * max(cfg.ternary_threshold_code, 1)
    return weights << cfg.shadow_extra


def zero_params(cfg: HwConfig) -> IntParams:
    """All-zero shadows, weights and biases: a core before its parameters are loaded (an export for on-chip
    training from scratch)."""
    n = cfg.sizes
    return IntParams.from_shadow(cfg, [np.zeros((n[l + 1], n[l]), dtype=np.int64) for l in range(cfg.n_layers)],
                                 [np.zeros(n[l + 1], dtype=np.int64) for l in range(cfg.n_layers)])


def init_params(cfg: HwConfig, seed: int = 0, gain: float = 1.0) -> IntParams:
    """Random initial parameters for training from scratch: shadow ~ uniform integers in
    +-gain/sqrt(n_in) (the float model's init, in shadow LSBs), zero biases. numpy's PCG64 draws them."""
    rng = np.random.default_rng(seed)
    shadow, biases = [], []
    for l in range(cfg.n_layers):
        bound = min(int(gain / np.sqrt(cfg.sizes[l]) * 2.0 ** (cfg.weight_frac[l] + cfg.shadow_extra)),
                    cfg.shadow_max)
        shadow.append(rng.integers(-bound, bound + 1, size=(cfg.sizes[l + 1], cfg.sizes[l]), dtype=np.int64))
        biases.append(np.zeros(cfg.sizes[l + 1], dtype=np.int64))
    return IntParams.from_shadow(cfg, shadow, biases)


def encode_targets(cfg: HwConfig, labels: np.ndarray) -> np.ndarray:
    """One-hot target codes (B, n_out): state_max at the label, 0 elsewhere."""
    labels = np.asarray(labels)
    t = np.zeros((labels.shape[0], cfg.sizes[-1]), dtype=np.int64)
    t[np.arange(labels.shape[0]), labels] = cfg.state_max
    return t


def _check_codes(cfg: HwConfig, x: np.ndarray, n: int, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != n:
        raise ValueError(f"{what} must have shape (batch, {n}), not {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{what} must be integer codes (quantise floats with eqprop.hw.quantise.quantise_input), "
                        f"not {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > cfg.state_max):
        raise ValueError(f"{what} codes must be in 0 .. {cfg.state_max}, not {x.min()} .. {x.max()}")
    return x.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# relaxation

@dataclass
class Trace:
    """Every intermediate tensor, for locating a hardware mismatch.

    ``states[phase][t][l]`` is s_{l+1} after step t+1 of ``phase`` ("free", "plus", "minus" or
    "nudged"), (B, n_{l+1}); ``acc[phase][t][l]`` the accumulator of that step, before rho.
    ``updates`` holds, per trained sample, the dicts returned by `contrast_update`; ``steps`` the steps
    each row took in each phase (`Settled.steps`; the last sample's when several are trained).
    """

    states: dict[str, list[list[np.ndarray]]] = field(default_factory=dict)
    acc: dict[str, list[list[np.ndarray]]] = field(default_factory=dict)
    updates: list[dict] = field(default_factory=list)
    steps: dict[str, np.ndarray] = field(default_factory=dict)


def step(cfg: HwConfig, params: IntParams, x: np.ndarray, states: list[np.ndarray], *, sign: int = 0,
         target: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One synchronous relaxation step; returns (new states, accumulators), each a list over layers.

    Widths: products and sums exact in ``acc_bits`` (worst case, cannot overflow); rho rounds by
    ``cfg.rounding`` and clips to the state range; mixing rounds by ``cfg.rounding`` and cannot
    leave the state range (it moves s towards rho by at most |rho - s|).
    """
    n = cfg.n_layers
    new, accs = [], []
    for l in range(n):
        below = x if l == 0 else states[l - 1]  # (B, n_l)
        a = cfg.acc_align(l)
        acc = matmul_exact(below, params.weights[l].T) << (a - cfg.weight_frac[l])  # (B, n_{l+1})
        if l + 1 < n:
            acc = acc + (matmul_exact(states[l + 1], params.weights[l + 1]) << (a - cfg.weight_frac[l + 1]))
        elif sign != 0:
            acc = acc + sign * shift_round(target - states[l], cfg.nudge_shift(), cfg.rounding)
        acc = acc + params.biases[l]  # (B, n_{l+1}), fraction state_bits + A_l
        rho = saturate(shift_round(acc, a, cfg.rounding), 0, cfg.state_max)  # state format, clipped
        new.append(states[l] + shift_round(rho - states[l], cfg.eps_shift, cfg.rounding))
        accs.append(acc)
    return new, accs


def relax(cfg: HwConfig, params: IntParams, x: np.ndarray, states: list[np.ndarray] | None = None, *,
          steps: int, sign: int = 0, target: np.ndarray | None = None, trace: Trace | None = None,
          phase: str = "free") -> list[np.ndarray]:
    """Run `steps` relaxation steps from `states` (zeros if None); nudged when sign is +1 or -1.

    With a `trace`, every step's states and accumulators are appended under ``phase``.
    """
    x = _check_codes(cfg, x, cfg.sizes[0], "input")
    if sign not in (-1, 0, 1):
        raise ValueError(f"sign must be -1, 0 or +1, not {sign!r}")
    if sign != 0:
        target = _check_codes(cfg, target, cfg.sizes[-1], "target")
    if states is None:
        states = [np.zeros((x.shape[0], m), dtype=np.int64) for m in cfg.sizes[1:]]
    if trace is not None:
        trace.states.setdefault(phase, [])
        trace.acc.setdefault(phase, [])
    for _ in range(steps):
        states, accs = step(cfg, params, x, states, sign=sign, target=target)
        if trace is not None:
            trace.states[phase].append(states)
            trace.acc[phase].append(accs)
    return states


@dataclass
class Settled:
    """The end of a phase, per row of the batch: ``states`` (as `relax` returns them), ``steps`` (B,) the
    steps taken, and ``settled`` (B,) whether the last step changed no state (the phase ended at a fixed
    point; False: it ran to its limit still moving, a limit cycle or a slow approach)."""

    states: list[np.ndarray]
    steps: np.ndarray
    settled: np.ndarray


def settle(cfg: HwConfig, params: IntParams, x: np.ndarray, states: list[np.ndarray] | None = None, *,
           steps: int, sign: int = 0, target: np.ndarray | None = None, trace: Trace | None = None,
           phase: str = "free", early_exit: bool | None = None) -> Settled:
    """`relax` with the early exit of ``cfg.early_exit`` (or `early_exit`, if given): each row stops at
    the first step whose new states equal the old ones, or after `steps` steps.

    The states returned are those of `relax` with the same `steps` (a row at a fixed point stays there),
    so early exit changes only ``Settled.steps``. Without early exit every row takes `steps` steps.
    A `trace` records the steps until every row has stopped, and ``trace.steps[phase]``.
    """
    x = _check_codes(cfg, x, cfg.sizes[0], "input")
    if early_exit is None:
        early_exit = cfg.early_exit
    if states is None:
        states = [np.zeros((x.shape[0], m), dtype=np.int64) for m in cfg.sizes[1:]]
    b = x.shape[0]
    taken = np.zeros(b, dtype=np.int64)
    moving = np.ones(b, dtype=bool)        # the rows still relaxing
    settled = np.zeros(b, dtype=bool)      # the last step changed nothing
    for _ in range(steps):
        new = relax(cfg, params, x, states, steps=1, sign=sign, target=target, trace=trace, phase=phase)
        same = np.all([np.all(n == o, axis=1) for n, o in zip(new, states, strict=True)], axis=0)
        taken += moving
        settled = np.where(moving, same, settled)
        if early_exit:
            moving &= ~same
        states = new
        if not moving.any():
            break
    if trace is not None:
        trace.steps[phase] = taken
    return Settled(states, taken, settled)


def grouped(settled: Settled, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """The steps and the settled flag of each command that relaxes `samples` rows of `settled` side by side
    (``HwConfig.samples``; the rows in order, `samples` per command, the last command the rest): its phase
    runs until every one of its rows has stopped, so it takes the most steps of its rows, and it is settled
    when they all are. Each row's states are those of a command of its own (a row at a fixed point stays
    there), so grouping changes no state, only the steps taken."""
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, not {samples!r}")
    starts = np.arange(0, len(settled.steps), samples)
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    return np.maximum.reduceat(settled.steps, starts), np.logical_and.reduceat(settled.settled, starts)


def infer(cfg: HwConfig, params: IntParams, x: np.ndarray, *, trace: Trace | None = None) -> np.ndarray:
    """Output state codes (B, n_out) after the free phase of ``cfg.free_steps`` steps from zero states
    (identical with early exit, which only stops at the fixed point)."""
    return settle(cfg, params, x, steps=cfg.free_steps, trace=trace).states[-1]


def predict(cfg: HwConfig, params: IntParams, x: np.ndarray, *, batch: int = 4096) -> np.ndarray:
    """argmax of the output states (B,); ties go to the lowest index, as a sequential comparator does."""
    x = np.asarray(x)
    return np.concatenate([infer(cfg, params, x[i:i + batch]).argmax(axis=1) for i in range(0, len(x), batch)]
                          or [np.zeros(0, dtype=np.int64)])


# ----------------------------------------------------------------------------------------------
# learning

def contrast_update(cfg: HwConfig, params: IntParams, x: np.ndarray, pos: list[np.ndarray],
                    neg: list[np.ndarray]) -> tuple[IntParams, dict]:
    """Apply the contrastive update of one sample (x: (1, n_0)) and return (new params, details).

    Contrast c_l = s+_{l+1} s+_l^T - s-_{l+1} s-_l^T (fraction 2 state_bits, exact); shadow and bias
    steps are R(c, shift) with ``weight_update_shift`` / ``bias_update_shift`` and ``cfg.rounding``;
    shadows and biases saturate symmetrically; forward weights are re-derived. Equal `pos` and
    `neg` give c = 0 and change nothing.
    """
    if not cfg.learning:
        raise ValueError("an inference-only configuration (learning=False) cannot train; build with learning=True")
    if x.shape[0] != 1:
        raise ValueError(f"the chip trains one sample at a time; x must have shape (1, n_0), not {x.shape}")
    shadow, biases, dws, dbs = [], [], [], []
    for l in range(cfg.n_layers):
        below_p = x if l == 0 else pos[l - 1]  # (1, n_l)
        below_n = x if l == 0 else neg[l - 1]
        c = pos[l].T * below_p - neg[l].T * below_n  # (n_{l+1}, n_l), exact outer products
        dw = shift_round(c, cfg.weight_update_shift(l), cfg.rounding)
        db = shift_round(pos[l][0] - neg[l][0], cfg.bias_update_shift(l), cfg.rounding)  # (n_{l+1},)
        shadow.append(saturate(params.shadow[l] + dw, -cfg.shadow_max, cfg.shadow_max))
        biases.append(saturate(params.biases[l] + db, -cfg.bias_max, cfg.bias_max))
        dws.append(dw)
        dbs.append(db)
    new = IntParams(shadow, [derive_weights(cfg, s) for s in shadow], biases)
    return new, {"dshadow": dws, "dbias": dbs}


def run_phases(cfg: HwConfig, params: IntParams, x: np.ndarray, target: np.ndarray, *,
               trace: Trace | None = None) -> dict[str, Settled]:
    """The relaxation phases of one training step, in order: "free" (T steps from zero states), then
    from the free states "plus" and "minus" (symmetric) or "nudged" (one-sided), K steps each, every
    phase with ``cfg.early_exit``."""
    free = settle(cfg, params, x, steps=cfg.free_steps, trace=trace, phase="free")
    nudged = ("plus", "minus") if cfg.estimator == "symmetric" else ("nudged",)
    out = {"free": free}
    for name, sign in zip(nudged, (1, -1)[:len(nudged)], strict=True):
        out[name] = settle(cfg, params, x, free.states, steps=cfg.nudge_steps, sign=sign, target=target,
                           trace=trace, phase=name)
    return out


def contrasted(cfg: HwConfig, phases: dict[str, Settled]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The states the update contrasts, from `run_phases`: (plus, minus) for the symmetric estimator,
    (nudged, free) for the one-sided one."""
    if cfg.estimator == "symmetric":
        return phases["plus"].states, phases["minus"].states
    return phases["nudged"].states, phases["free"].states


def train_sample(cfg: HwConfig, params: IntParams, x: np.ndarray, target: np.ndarray, *,
                 trace: Trace | None = None) -> IntParams:
    """One on-chip training step on one sample: x (1, n_0), target (1, n_out) codes."""
    pos, neg = contrasted(cfg, run_phases(cfg, params, x, target, trace=trace))
    new, details = contrast_update(cfg, params, np.asarray(x, dtype=np.int64), pos, neg)
    if trace is not None:
        trace.updates.append(details)
    return new


def train(cfg: HwConfig, params: IntParams, x: np.ndarray, target: np.ndarray, *,
          trace: Trace | None = None) -> IntParams:
    """Online training over a batch: `train_sample` on each row in order (the chip's semantics).

    `params` is not modified; the updated parameters are returned.
    """
    x = _check_codes(cfg, x, cfg.sizes[0], "input")
    target = _check_codes(cfg, target, cfg.sizes[-1], "target")
    for i in range(x.shape[0]):
        params = train_sample(cfg, params, x[i:i + 1], target[i:i + 1], trace=trace)
    return params
