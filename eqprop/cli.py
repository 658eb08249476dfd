"""Command line: ``python -m eqprop train ...`` and ``python -m eqprop demo``.

Every argument is checked, and the output folder too, before the data is loaded or training starts
(errors, exit statuses and ``--debug``: docs/errors.md).
"""

from __future__ import annotations

import os
from dataclasses import fields

from eqprop.atomic import write_json_atomic
from eqprop.cli_support import (
    UsageError,
    check_memory,
    check_output_folder,
    finite_float,
    guard,
    parser,
    positive_float,
    positive_int,
    seed_int,
)
from eqprop.data import DATASETS, load_dataset
from eqprop.eqpropnet import ESTIMATORS, QAT
from eqprop.train import MODELS, TrainConfig, fit, save_checkpoint

HELP = """Train the float reference models (EqProp, BPTT, the backprop MLP, LoopedMLP) and save a checkpoint, or
compare EqProp with backprop (demo). Every argument and the output folder are checked before the data is
loaded; errors, exit statuses and --debug: docs/errors.md."""

EXAMPLES = """examples:
  python -m eqprop train --model eqprop --dataset digits --epochs 5     # runs/eqprop-digits-seed0/checkpoint.pt
  python -m eqprop train --model eqprop --qat ternary --hidden 32        # trained for the ternary chip format
  python -m eqprop train --help                                         # every option of training
  python -m eqprop demo"""


def _parser():
    import argparse

    p = parser("python -m eqprop", HELP, epilog=EXAMPLES)
    sub = p.add_subparsers(dest="command", required=True)
    d = TrainConfig()

    t = sub.add_parser("train", help="train a reference model and save a checkpoint and metrics",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--model", choices=MODELS, default=d.model, help="model and training method")
    t.add_argument("--dataset", choices=DATASETS, default="digits", help="data set")
    t.add_argument("--data-path", default=None, help="folder of the four MNIST IDX files (for --dataset mnist only)")
    t.add_argument("--hidden", type=positive_int, nargs="+", default=d.hidden, help="hidden layer sizes")
    t.add_argument("--epochs", type=positive_int, default=d.epochs)
    t.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    t.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default per model: 0.2 SGD for eqprop/bptt, halved at each layer "
                        "up; 1e-3 Adam otherwise)")
    t.add_argument("--momentum", type=finite_float, default=d.momentum, help="SGD momentum in [0, 1) (eqprop, bptt)")
    t.add_argument("--seed", type=seed_int, default=d.seed,
                   help="seed of weights, batch order and the data split")
    t.add_argument("--free-steps", type=positive_int, default=d.free_steps, help="T, free-phase steps (eqprop, bptt)")
    t.add_argument("--nudge-steps", type=positive_int, default=d.nudge_steps, help="K, nudged-phase steps (eqprop)")
    t.add_argument("--beta", type=positive_float, default=d.beta, help="nudge strength (eqprop)")
    t.add_argument("--step-size", type=positive_float, default=d.step_size, help="relaxation mixing eps in (0, 1]")
    t.add_argument("--estimator", choices=ESTIMATORS, default=d.estimator, help="EqProp gradient estimator")
    t.add_argument("--qat", choices=QAT, default=None,
                   help="quantisation-aware training (eqprop): relax on weights rounded to this chip format, "
                        "update the float shadows")
    t.add_argument("--qat-states", action="store_true",
                   help="with --qat: inputs and states rounded to the chip's state grid too")
    t.add_argument("--out", default=None, help="output folder (default runs/MODEL-DATASET-seedN)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="train EqProp and the backprop MLP on digits and compare them")
    demo.add_argument("--epochs", type=positive_int, default=d.epochs)
    return p


def _smaller(cfg: TrainConfig) -> str:
    """The fix for training that needs too much memory: the option that makes most of it named first."""
    steps = cfg.free_steps + cfg.nudge_steps + 2
    if steps > max(cfg.hidden, default=0) and steps > cfg.batch_size:
        return ("use fewer --free-steps or --nudge-steps (every relaxation step of a batch is kept), or a smaller "
                "--batch-size")
    return "use smaller --hidden or --batch-size"


def _train(args) -> int:
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    if args.data_path is not None and args.dataset != "mnist":
        raise UsageError(f"--data-path is read only with --dataset mnist, and --dataset {args.dataset} would ignore "
                         "it; drop --data-path or pass --dataset mnist")
    out = args.out or os.path.join("runs", f"{cfg.model}-{args.dataset}-seed{cfg.seed}")
    check_output_folder(out, files=("checkpoint.pt", "metrics.json"))
    data = load_dataset(args.dataset, path=args.data_path, seed=args.seed)
    if cfg.batch_size > len(data.x_train):     # refused, not cut down to one batch of the whole split
        raise UsageError(f"--batch-size must be at most {len(data.x_train)} (the training images of "
                         f"{args.dataset}), not {cfg.batch_size}")
    check_memory(cfg.memory_bytes(data.n_in, data.n_classes), f"training {cfg.model} with hidden sizes "
                 f"{cfg.hidden}, batch {cfg.batch_size} and {cfg.free_steps} + {cfg.nudge_steps} relaxation steps",
                 _smaller(cfg))
    learner, metrics = fit(cfg, data, progress=not args.no_progress)
    save_checkpoint(os.path.join(out, "checkpoint.pt"), learner, cfg, data.n_in, data.n_classes)
    write_json_atomic(os.path.join(out, "metrics.json"), metrics)
    print(f"test accuracy {metrics['final_test_acc']:.2%}; wrote {out}/checkpoint.pt and {out}/metrics.json")
    return 0


def _demo(args) -> int:
    from eqprop.hw.onchip import accuracy
    from eqprop.hw.quantise import quantise

    print("Reference-model demo (co-simulation of the RTL is not built yet): EqProp against backprop on "
          "scikit-learn digits, one hidden layer of 256, and the EqProp network quantised to the chip's INT8 "
          "arithmetic (the integer golden model).")
    data = load_dataset("digits")
    rows = []
    for model in ("eqprop", "mlp"):
        learner, m = fit(TrainConfig(model=model, epochs=args.epochs), data, log=None)
        rows.append((f"{model} (float)", m["final_test_acc"], f"{m['seconds']:.0f} s"))
        if model == "eqprop":
            q = quantise(learner.model)
            saturated = sum(r["weight_saturated"] for r in q.report)
            rows.append(("eqprop, INT8 golden", accuracy(q.cfg, q.params, data.x_test, data.y_test),
                         f"{saturated} weights saturated"))
    for name, acc, note in rows:
        print(f"{name:22s} test accuracy {acc:.2%}  ({note})")
    return 0


@guard("the run", errors=(FloatingPointError,))
def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return _train(args) if args.command == "train" else _demo(args)
