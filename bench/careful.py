"""The CPU baseline a careful user writes for an EqProp network: what ``make bench`` measures the chip against.

`EqPropNet.forward` (the naive baseline, kept beside this one) recomputes the input drive x W_0^T + b_0
at every one of its T relaxation steps and always runs all T. A user who times a network against an
accelerator does better, and so does this module, with the same arithmetic as `EqPropNet.step`
(Scellier & Bengio 2017, discrete time as Ernoult et al. 2019):

- the input drive x W_0^T + b_0 is computed once per batch (it is the same at every step and in every
  phase of a training step, since x and W_0 do not change within one);
- the free phase stops where the chip stops: after a fixed T (`relax`'s ``steps``; the bench passes the
  chip's mean free steps on the same data, rounded up), or at the first step that changes no state of
  any row of the batch (``until_fixed=True``, a batch-wise fixed-point check, capped at ``steps``);
- batched, float32, parameters read once (no autograd, no optimiser object in training).

At equal steps every state is bit-identical to `EqPropNet.relax` (the same operations in the same order,
on the same tensors), so predictions are the naive forward's; the fixed-point stop changes nothing
either, since a step that changes no state returns the same states at every later step.

Training (`train_step`): a minibatch's drive once, free phase, nudged phase(s) from the free states at
+-beta (symmetric estimator) or +beta (one-sided), the contrastive update of `EqPropNet._contrast`
(the bottom layer's two products merged into one, since both phases see the same x) and plain SGD
with the per-layer learning rates of `eqprop.train.build` (lr / 2**l).
"""

from __future__ import annotations

import copy
import math
import os
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from eqprop.eqpropnet import EqPropNet

__all__ = ["ALL_THREADS", "TRAIN_BATCH", "TRAIN_LR", "Relaxed", "accuracy", "chip_steps", "inference_rates",
           "input_drive", "params_of", "predict", "relax", "torch_threads", "train", "train_rates", "train_step"]

TRAIN_BATCH = 32    # minibatch of torch EqProp training (eqprop.train.TrainConfig's default)
TRAIN_LR = 0.2      # eqprop.train.DEFAULT_LR["eqprop"]


class Relaxed:
    """The states at the end of a relaxation, ``states`` (one (B, n_l) tensor per layer above the input),
    and ``steps``, the steps taken (fewer than asked when the fixed-point check stopped it)."""

    __slots__ = ("states", "steps")

    def __init__(self, states: list[torch.Tensor], steps: int):
        self.states, self.steps = states, steps


def params_of(net: EqPropNet) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weights and biases of `net` as plain tensors (detached; no copy), what the careful path reads.
    Quantisation-aware networks are not supported: they relax on quantised weights (`EqPropNet.quantised`)."""
    if net.config.qat is not None:
        raise ValueError(f"the careful baseline needs a float network (qat None), not qat={net.config.qat!r}")
    return [w.detach() for w in net.weights], [b.detach() for b in net.biases]


def input_drive(weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x W_0^T + b_0, (B, n_1): the bottom layer's drive from the input, the same at every step."""
    return x @ weights[0].T + biases[0]


def relax(weights: list[torch.Tensor], biases: list[torch.Tensor], drive0: torch.Tensor, *, steps: int,
          eps: float, states: list[torch.Tensor] | None = None, until_fixed: bool = False, beta: float = 0.0,
          target: torch.Tensor | None = None) -> Relaxed:
    """Up to `steps` synchronous relaxation steps of `EqPropNet.step` from `states` (zeros if None), the
    input drive `drive0` (`input_drive`) given.

    With ``until_fixed`` it stops after the first step that changes no state of any row (every later
    step would return the same states), checked once per step over the whole batch.
    """
    n_layers = len(weights)
    if states is None:
        states = [torch.zeros(drive0.shape[0], w.shape[0], dtype=drive0.dtype) for w in weights]
    for t in range(steps):
        new = []
        for l in range(n_layers):
            # the same sums in the same order as EqPropNet.step, so the states are bit-identical to it
            drive = drive0 if l == 0 else states[l - 1] @ weights[l].T + biases[l]      # (B, n_{l+1})
            if l + 1 < n_layers:
                drive = drive + states[l + 1] @ weights[l + 1]                            # top-down, W^T
            elif beta != 0.0:
                drive = drive + beta * (target - states[l])
            rho = drive.clamp(0.0, 1.0)
            new.append(rho if eps == 1.0 else states[l] + eps * (rho - states[l]))
        if until_fixed and all(torch.equal(n, o) for n, o in zip(new, states, strict=True)):
            return Relaxed(new, t + 1)
        states = new
    return Relaxed(states, steps)


@torch.no_grad()
def predict(net: EqPropNet, x: torch.Tensor, *, steps: int, until_fixed: bool = False) -> tuple[torch.Tensor, int]:
    """argmax of the output states after the careful free phase, (B,), and the steps it took."""
    ws, bs = params_of(net)
    out = relax(ws, bs, input_drive(ws, bs, x), steps=steps, eps=net.config.step_size, until_fixed=until_fixed)
    return out.states[-1].argmax(dim=1), out.steps


@torch.no_grad()
def train_step(net: EqPropNet, x: torch.Tensor, target: torch.Tensor, *, free_steps: int,
               nudge_steps: int | tuple[int, ...], lr: float) -> list[torch.Tensor]:
    """One EqProp training step on the minibatch (x, one-hot `target`), in place on `net`'s parameters.

    `nudge_steps` is one count for every nudged phase, or one per phase ((plus, minus) for the symmetric
    estimator, (nudged,) for the one-sided one). Returns the free states. The update equals
    `EqPropNet.eqprop_update`'s at equal steps (up to float rounding of the merged bottom-layer product)
    followed by SGD at lr / 2**l on layer l.
    """
    cfg = net.config
    if cfg.estimator not in ("symmetric", "one-sided"):
        raise ValueError(f"estimator must be symmetric or one-sided for the careful trainer, not {cfg.estimator!r}")
    ws, bs = params_of(net)
    signs = (1.0, -1.0) if cfg.estimator == "symmetric" else (1.0,)
    ks = (nudge_steps,) * len(signs) if isinstance(nudge_steps, int) else tuple(nudge_steps)
    if len(ks) != len(signs):
        raise ValueError(f"nudge_steps must be one count or {len(signs)} (one per nudged phase), not {nudge_steps!r}")
    drive0 = input_drive(ws, bs, x)                      # once for the free and the nudged phases
    free = relax(ws, bs, drive0, steps=free_steps, eps=cfg.step_size).states
    nudged = [relax(ws, bs, drive0, steps=k, eps=cfg.step_size, states=free, beta=sign * cfg.beta,
                    target=target).states for sign, k in zip(signs, ks, strict=True)]
    pos, neg = (nudged[0], nudged[1]) if len(signs) == 2 else (nudged[0], free)
    scale = 1.0 / (2 * cfg.beta) if len(signs) == 2 else 1.0 / cfg.beta
    b = x.shape[0]
    for l in range(len(ws)):
        # l = 0: both phases see x, so pos_0^T x - neg_0^T x = (pos_0 - neg_0)^T x, one product
        dw = (pos[0] - neg[0]).T @ x if l == 0 else pos[l].T @ pos[l - 1] - neg[l].T @ neg[l - 1]
        rate = lr / 2**l
        ws[l].add_(dw, alpha=rate * scale / b)                                            # (n_{l+1}, n_l)
        bs[l].add_((pos[l] - neg[l]).sum(0), alpha=rate * scale / b)
    return free


# ------------------------------------------------------------------------------------------------
# the measurements of `make bench`


class torch_threads:
    """torch.set_num_threads and threadpoolctl's limit for a block (threadpoolctl does not reach torch's
    intra-op pool, nor torch numpy's)."""

    def __init__(self, n: int):
        self.n, self.saved = n, torch.get_num_threads()

    def __enter__(self):
        torch.set_num_threads(self.n)
        self.limits = threadpool_limits(self.n)
        self.limits.__enter__()

    def __exit__(self, *exc):
        self.limits.__exit__(*exc)
        torch.set_num_threads(self.saved)


ALL_THREADS = os.cpu_count() or 1


def _per_s(fn, rows: int, seconds: float) -> float:
    """Rows per second of `fn()` (which handles `rows` rows), repeated for at least `seconds` after one warm-up."""
    fn()
    done, t0 = 0, time.perf_counter()
    while True:
        fn()
        done += rows
        if time.perf_counter() - t0 >= seconds:
            return done / (time.perf_counter() - t0)


def train(sizes: list[int], free_steps: int, x: np.ndarray, y: np.ndarray, *, epochs: int,
          seed: int = 0) -> EqPropNet:
    """A float EqPropNet of `sizes` trained from scratch on (x, y) with `train_step` at its own T and K
    (eqprop.train's EqProp training: SGD at lr 0.2 / 2**l, minibatches of 32, a seeded order), the network
    whose accuracy `make bench` prints beside its speed."""
    net = EqPropNet(sizes=list(sizes), free_steps=free_steps, generator=torch.Generator().manual_seed(seed))
    xt, target = torch.from_numpy(x).float(), torch.nn.functional.one_hot(torch.from_numpy(y).long(), sizes[-1]).float()
    order = torch.Generator().manual_seed(seed + 1)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=order)
        for i in range(0, len(perm), TRAIN_BATCH):
            idx = perm[i:i + TRAIN_BATCH]
            train_step(net, xt[idx], target[idx], free_steps=free_steps, nudge_steps=net.config.nudge_steps,
                       lr=TRAIN_LR)
    return net


def accuracy(net: EqPropNet, x: np.ndarray, y: np.ndarray, chip_steps: int | None) -> dict:
    """Test images right of the naive forward (`EqPropNet.predict`, T steps), of the careful path at
    `chip_steps` and at the fixed-point stop (capped at T), and whether each careful one is within one
    test image of the naive one."""
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).long()
    t = net.config.free_steps
    naive = int((net.predict(xt) == yt).sum())
    pred, fixed_steps = predict(net, xt, steps=t, until_fixed=True)
    out = {"images": len(x), "naive_correct": naive, "naive_acc": naive / len(x),
           "fixed_point_correct": int((pred == yt).sum()), "fixed_point_steps": fixed_steps}
    if chip_steps is not None:
        out["chip_steps_correct"] = int((predict(net, xt, steps=chip_steps)[0] == yt).sum())
    for k in ("chip_steps", "fixed_point"):
        if f"{k}_correct" in out:
            out[f"{k}_acc"] = out[f"{k}_correct"] / len(x)
            out[f"{k}_within_one_image"] = abs(out[f"{k}_correct"] - naive) <= 1
    return out


def inference_rates(net: EqPropNet, x: np.ndarray, chip_steps: int | None, *, seconds: float = 2.0) -> dict:
    """Inferences per second of the careful free phase on the batch `x`: at `chip_steps` (the chip's mean
    free steps rounded up; None: not timed) and with the fixed-point stop (capped at T), on one thread and
    on all (``os.cpu_count()``); for each, the faster of the two (``one_thread``, ``all_threads``) and
    which it was (``*_method``: "chip_steps" or "fixed_point")."""
    xt, t = torch.from_numpy(x).float(), net.config.free_steps
    with torch.no_grad():
        fixed_steps = predict(net, xt, steps=t, until_fixed=True)[1]
    out = {"rows": len(x), "chip_steps": chip_steps, "fixed_point_cap": t, "fixed_point_steps": fixed_steps}
    for key, n in (("one_thread", 1), ("all_threads", ALL_THREADS)):
        with torch_threads(n):
            rates = {"fixed_point": _per_s(lambda: predict(net, xt, steps=t, until_fixed=True), len(x), seconds)}
            if chip_steps is not None:
                rates["chip_steps"] = _per_s(lambda: predict(net, xt, steps=chip_steps), len(x), seconds)
        best = max(rates, key=rates.get)
        out.update({f"{key}_{m}_per_s": r for m, r in rates.items()})
        out[key], out[f"{key}_method"] = rates[best], best
    out["threads"] = {"one_thread": 1, "all_threads": ALL_THREADS}
    return out


def train_rates(net: EqPropNet, x: np.ndarray, y: np.ndarray, steps: dict[str, int], *,
                seconds: float = 2.0) -> dict:
    """Training samples per second of `train_step` in minibatches of `TRAIN_BATCH` over (x, y), each phase
    at its `steps` (``{"free", "plus", "minus"}`` or ``{"free", "nudged"}``, the chip's mean steps rounded
    up), on a copy of `net`, on one thread (``one_thread``) and on all (``all_threads``)."""
    work = copy.deepcopy(net)
    xt = torch.from_numpy(x).float()
    target = torch.nn.functional.one_hot(torch.from_numpy(y).long(), net.sizes[-1]).float()
    nudge = (steps["plus"], steps["minus"]) if "plus" in steps else (steps["nudged"],)
    n = len(xt) - len(xt) % TRAIN_BATCH

    def epoch():
        for i in range(0, n, TRAIN_BATCH):
            train_step(work, xt[i:i + TRAIN_BATCH], target[i:i + TRAIN_BATCH], free_steps=steps["free"],
                       nudge_steps=nudge, lr=TRAIN_LR)

    out = {"batch": TRAIN_BATCH, "steps": dict(steps)}
    for key, threads in (("one_thread", 1), ("all_threads", ALL_THREADS)):
        with torch_threads(threads):
            out[key] = _per_s(epoch, n, seconds)
    return out


def chip_steps(mean: float | None) -> int | None:
    """The chip's mean steps rounded up (None stays None)."""
    return None if mean is None else max(1, math.ceil(mean - 1e-9))
