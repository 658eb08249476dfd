"""Training: one registry of models and methods, a fit loop with progress bars, atomic outputs.

Model names (the ``--model`` choices of ``python -m eqprop train``):

==================  =====================================================================
``eqprop``          `EqPropNet` trained by Equilibrium Propagation (no autograd)
``bptt``            the same `EqPropNet` trained by backprop through the free phase
``mlp``             feed-forward `BackpropMLP` of the same size, cross-entropy
``looped-eqprop``   `LoopedMLP` (tanh, spectral norm) trained by Equilibrium Propagation
``looped-bptt``     `LoopedMLP` trained by backprop through the loop (the seed's method)
==================  =====================================================================
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from eqprop.checkpoint import KEYS, read_checkpoint, write_checkpoint
from eqprop.cli_support import check_int
from eqprop.data import Split
from eqprop.eqpropnet import QAT, EqPropConfig, EqPropNet
from eqprop.looped import LoopedMLP
from eqprop.mlp import BackpropMLP

__all__ = ["CHECKPOINT_KEYS", "MODELS", "Learner", "TrainConfig", "build", "evaluate", "fit", "load_checkpoint",
           "save_checkpoint", "train_epochs"]

MODELS = ("eqprop", "bptt", "mlp", "looped-eqprop", "looped-bptt")


@dataclass
class TrainConfig:
    model: str = "eqprop"
    hidden: list[int] = field(default_factory=lambda: [256])
    epochs: int = 60
    batch_size: int = 32
    lr: float | None = None       # None: the model's default (see DEFAULT_LR)
    momentum: float = 0.0
    seed: int = 0
    # EqPropNet only
    free_steps: int = 30
    nudge_steps: int = 10
    beta: float = 0.5
    step_size: float = 0.5
    estimator: str = "symmetric"
    qat: str | None = None        # eqprop only: quantisation-aware training in this chip weight format
    qat_states: bool = False      # with qat: inputs and states on the chip's state grid too

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if not self.hidden or any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be one or more positive layer sizes, not {self.hidden!r}")
        if self.model.startswith("looped") and len(self.hidden) != 1:
            raise ValueError(f"hidden must hold one size for LoopedMLP (one recurrent hidden layer), "
                             f"not {self.hidden!r}")
        for name in ("epochs", "batch_size", "free_steps", "nudge_steps"):
            check_int(name, getattr(self, name), lo=1)
        check_int("seed", self.seed, lo=0)
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, not {self.lr!r}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), not {self.momentum!r}")
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a positive number, not {self.beta!r}")
        if not (math.isfinite(self.step_size) and 0 < self.step_size <= 1):
            raise ValueError(f"step_size must be in (0, 1], not {self.step_size!r}")
        if self.qat is not None and self.model != "eqprop":
            raise ValueError(f"qat (quantisation-aware training) is for model eqprop only, not {self.model!r}")
        if self.qat is not None and self.qat not in QAT:
            raise ValueError(f"qat must be None or one of {', '.join(QAT)}, not {self.qat!r}")
        if self.qat_states and self.qat is None:
            raise ValueError("qat_states needs qat (a weight format)")

    def memory_bytes(self, n_in: int, n_out: int) -> int:
        """A rough upper estimate of the memory training needs: float32 parameters with their gradients and
        optimiser state (4 copies), and the states of one batch over every relaxation step (BPTT keeps them)."""
        sizes = [n_in, *self.hidden, n_out]
        params = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
        states = self.batch_size * sum(sizes) * (self.free_steps + self.nudge_steps + 2)
        return 4 * (4 * params + 2 * states)


# SGD for EqPropNet (the update rule the chip will apply; lr halves at each layer up), Adam otherwise.
DEFAULT_LR = {"eqprop": 0.2, "bptt": 0.2, "mlp": 1e-3, "looped-eqprop": 1e-3, "looped-bptt": 1e-3}


@dataclass
class Learner:
    """A model with its training step: ``step(x, labels)`` returns the batch loss."""

    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    n_classes: int

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        if self.name in ("eqprop", "bptt"):
            target = torch.nn.functional.one_hot(labels, self.n_classes).to(x.dtype)
            fn = self.model.eqprop_step if self.name == "eqprop" else self.model.bptt_step
            return fn(x, target, self.optimizer)
        if self.name == "mlp":
            return self.model.backprop_step(x, labels, self.optimizer)
        fn = self.model.eqprop_step if self.name == "looped-eqprop" else self.model.bptt_step
        return fn(x, labels, self.optimizer)


def build(cfg: TrainConfig, n_in: int, n_out: int) -> Learner:
    """Build the model named by `cfg.model`, seeded by `cfg.seed`, with its optimiser."""
    gen = torch.Generator().manual_seed(cfg.seed)
    sizes = [n_in, *cfg.hidden, n_out]
    lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.model]
    if cfg.model in ("eqprop", "bptt"):
        model = EqPropNet(EqPropConfig(sizes=sizes, free_steps=cfg.free_steps, nudge_steps=cfg.nudge_steps,
                                       beta=cfg.beta, step_size=cfg.step_size, estimator=cfg.estimator,
                                       qat=cfg.qat, qat_states=cfg.qat_states),
                          generator=gen)
        groups = [{"params": [w, b], "lr": lr / 2**l}
                  for l, (w, b) in enumerate(zip(model.weights, model.biases, strict=True))]
        opt = torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)
    elif cfg.model == "mlp":
        model = BackpropMLP(sizes, generator=gen)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    else:
        model = LoopedMLP(n_in, cfg.hidden[0], n_out, generator=gen)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    return Learner(cfg.model, model, opt, n_out)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """Accuracy of `model.predict` on (x, y), in [0, 1]."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model.predict(torch.from_numpy(x[i:i + batch])) == torch.from_numpy(y[i:i + batch])).sum())
    model.train()
    return correct / len(x)


def train_epochs(learner: Learner, data: Split, *, epochs: int, batch_size: int = 32, seed: int = 0,
                 progress: bool = False, log=None, after_step=None, eval_every_epoch: bool = True,
                 desc: str | None = None) -> list[dict]:
    """The training loop: `epochs` passes over `data` in a seeded order; per-epoch loss and accuracies.

    ``after_step(learner)`` runs after every optimiser step (homeostasis, weight clamps). With
    ``eval_every_epoch=False`` only the last epoch is evaluated.
    """
    x_tr = torch.from_numpy(data.x_train)
    y_tr = torch.from_numpy(data.y_train)
    order = torch.Generator().manual_seed(seed + 1)
    history = []
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc or f"{learner.name} on {data.name}", unit="epoch", disable=not progress)
    for epoch in bar:
        perm = torch.randperm(len(x_tr), generator=order)
        losses = []
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            losses.append(learner.step(x_tr[idx], y_tr[idx]))
            if after_step is not None:
                after_step(learner)
        loss = float(np.mean(losses))
        if not np.isfinite(loss):
            raise FloatingPointError(f"{learner.name}: training diverged at epoch {epoch + 1} (loss {loss}); "
                                     "lower --lr or --beta")
        row = {"epoch": epoch + 1, "loss": loss, "seconds": time.perf_counter() - t0}
        if eval_every_epoch or epoch == epochs - 1:
            row["train_acc"] = evaluate(learner.model, data.x_train, data.y_train)
            row["test_acc"] = evaluate(learner.model, data.x_test, data.y_test)
            bar.set_postfix(loss=f"{loss:.4f}", test=f"{row['test_acc']:.2%}")
            if log is not None:
                log(f"epoch {epoch + 1:3d}  loss {loss:.4f}  train {row['train_acc']:.2%}  test {row['test_acc']:.2%}")
        history.append(row)
    return history


def fit(cfg: TrainConfig, data: Split, *, progress: bool = True, log=print) -> tuple[Learner, dict]:
    """Train on `data` and return the learner and a metrics dict (per-epoch loss and accuracies)."""
    torch.manual_seed(cfg.seed)
    learner = build(cfg, data.n_in, data.n_classes)
    t0 = time.perf_counter()
    history = train_epochs(learner, data, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                           progress=progress, log=log, desc=f"{cfg.model} on {data.name}")
    metrics = {
        "config": asdict(cfg), "dataset": data.name, "n_train": len(data.x_train), "n_test": len(data.x_test),
        "final_test_acc": history[-1]["test_acc"], "final_train_acc": history[-1]["train_acc"],
        "seconds": time.perf_counter() - t0, "history": history,
    }
    return learner, metrics


def save_checkpoint(path: str, learner: Learner, cfg: TrainConfig, n_in: int, n_out: int) -> None:
    """Save {model name, TrainConfig, sizes, state_dict} atomically (`eqprop.checkpoint.write_checkpoint`);
    `load_checkpoint` rebuilds it."""
    write_checkpoint(path, asdict(cfg), n_in, n_out, learner.model.state_dict())


CHECKPOINT_KEYS = KEYS


def load_checkpoint(path: str | os.PathLike) -> Learner:
    """Rebuild the learner saved by `save_checkpoint`: the file read and checked by
    `eqprop.checkpoint.read_checkpoint`, the model built from its `TrainConfig`, its weights loaded.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If it is not a checkpoint (a text file, another program's file), lacks one of `CHECKPOINT_KEYS`
        (the message names it and lists what a checkpoint holds), or holds weights of other sizes.
    """
    ck = read_checkpoint(path)
    try:
        cfg = TrainConfig(**ck.train_config)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{ck.path}: bad train_config in the checkpoint: {e}") from None
    learner = build(cfg, ck.n_in, ck.n_out)
    try:
        learner.model.load_state_dict(ck.state_dict)
    except (RuntimeError, TypeError, AttributeError) as e:
        # torch's first line is "Error(s) in loading state_dict for EqPropNet:"; the cause is on the next one
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("Error(s) in")]
        detail = lines[0].rstrip(".") if lines else type(e).__name__
        raise ValueError(f"{ck.path}: the weights do not fit the model the checkpoint describes (its train_config, "
                         f"n_in and n_out); train or export it again: torch: {detail}") from None
    return learner
