"""Command line: ``python -m eqprop train ...`` and ``python -m eqprop demo``."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from eqprop.data import DATASETS, IdxError, load_dataset
from eqprop.eqpropnet import ESTIMATORS
from eqprop.train import MODELS, TrainConfig, fit, save_checkpoint, write_json_atomic


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eqprop", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    d = TrainConfig()

    t = sub.add_parser("train", help="train a reference model and save a checkpoint and metrics",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--model", choices=MODELS, default=d.model, help="model and training method")
    t.add_argument("--dataset", choices=DATASETS, default="digits", help="data set")
    t.add_argument("--data-path", default=None, help="folder of the four MNIST IDX files (for --dataset mnist)")
    t.add_argument("--hidden", type=int, nargs="+", default=d.hidden, help="hidden layer sizes")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=None,
                   help="learning rate (default per model: 0.2 SGD for eqprop/bptt, halved at each layer "
                        "up; 1e-3 Adam otherwise)")
    t.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum (eqprop, bptt)")
    t.add_argument("--seed", type=int, default=d.seed, help="seed of weights, batch order and the data split")
    t.add_argument("--free-steps", type=int, default=d.free_steps, help="T, free-phase steps (eqprop, bptt)")
    t.add_argument("--nudge-steps", type=int, default=d.nudge_steps, help="K, nudged-phase steps (eqprop)")
    t.add_argument("--beta", type=float, default=d.beta, help="nudge strength (eqprop)")
    t.add_argument("--step-size", type=float, default=d.step_size, help="relaxation mixing eps in (0, 1]")
    t.add_argument("--estimator", choices=ESTIMATORS, default=d.estimator, help="EqProp gradient estimator")
    t.add_argument("--out", default=None, help="output folder (default runs/MODEL-DATASET-seedN)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="train EqProp and the backprop MLP on digits and compare them")
    demo.add_argument("--epochs", type=int, default=d.epochs)
    return p


def _train(args) -> int:
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    data = load_dataset(args.dataset, path=args.data_path, seed=args.seed)
    out = args.out or os.path.join("runs", f"{cfg.model}-{data.name}-seed{cfg.seed}")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _train(args) if args.command == "train" else _demo(args)
    except (ValueError, IdxError, FileNotFoundError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
