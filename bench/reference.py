"""Benchmark of the float reference models: accuracy, gradient check, measured training memory.

    python -m bench.reference            # all three parts, ~5 minutes on two cores
    python -m bench.reference --quick    # one seed, fewer epochs, for a smoke run

Writes ``results/reference.md``, ``results/reference.json`` and ``results/reference_memory.png``.

1. Digits test accuracy of a one-hidden-layer EqPropNet (mean of 3 seeds) next to the backprop MLP
   of the same size, trained in the same run.
2. Gradient check (Ernoult et al. 2019; Laborieux et al. 2021): EqProp update against the BPTT
   gradient per layer, one-sided and symmetric estimators, beta in {0.5, 0.1, 0.05, 0.01}, at a
   converged free phase, on the untrained and on the trained network.
3. Peak memory of one training step, EqProp against BPTT, at T = 10, 30, 100, 300: each point runs
   in a fresh process (`eqprop.memprobe`) that resets its resident-set high-water mark (VmHWM) just
   before the step (after a warm-up step) and reports the growth of the mark across the step, so the
   figure is measured, not computed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from eqprop.atomic import atomic_path, write_json_atomic, write_text_atomic
from eqprop.cli_support import check_output_folder, guard, parser
from eqprop.data import load_digits_split
from eqprop.eqpropnet import EqPropNet
from eqprop.gradcheck import gradient_check
from eqprop.memprobe import run_probes
from eqprop.train import TrainConfig, fit

MEMORY_T = (10, 30, 100, 300)
MEMORY_SIZES = [64, 256, 256, 10]  # two hidden layers so the per-step state is not trivially small
MEMORY_BATCH = 256
BETAS = (0.5, 0.1, 0.05, 0.01)


def measure_memory() -> list[dict]:
    jobs = [{"method": m, "steps": t, "depth": len(MEMORY_SIZES) - 2, "hidden": MEMORY_SIZES[1],
             "batch": MEMORY_BATCH} for t in MEMORY_T for m in ("eqprop", "bptt")]
    rows = []
    for job in tqdm(jobs, desc="memory (a fresh process per point)"):
        r = run_probes([job])[0]
        rows.append({"method": r["method"], "T": r["steps"], "step_bytes": r["peak_growth_bytes"],
                     "measured_by": r["measured_by"]})
    return rows


def measure_accuracy(seeds, epochs) -> dict:
    data = load_digits_split()
    out = {"eqprop": [], "mlp": []}
    for seed in tqdm(seeds, desc="accuracy (3 seeds x 2 models)"):
        for model in out:
            _, m = fit(TrainConfig(model=model, hidden=[256], epochs=epochs, seed=seed), data, progress=False,
                       log=None)
            out[model].append(m["final_test_acc"])
    return out


def measure_gradients(trained_net: EqPropNet | None) -> list[dict]:
    data = load_digits_split()
    x = torch.from_numpy(data.x_train[:64])
    y = torch.eye(10)[torch.from_numpy(data.y_train[:64])]
    nets = {"untrained": EqPropNet(sizes=[64, 256, 10], generator=torch.Generator().manual_seed(0)),
            "untrained, 2 hidden": EqPropNet(sizes=[64, 128, 64, 10], generator=torch.Generator().manual_seed(0))}
    if trained_net is not None:
        nets["trained"] = trained_net
    rows = []
    for name, net in tqdm(nets.items(), desc="gradient check"):
        for r in gradient_check(net, x, y, betas=BETAS, steps=1000):
            rows.append({"network": name, **r})
    return rows


def _plot_memory(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method in ("eqprop", "bptt"):
        pts = [(r["T"], r["step_bytes"] / 2**20) for r in rows if r["method"] == method]
        ax.plot(*zip(*pts, strict=True), marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("free-phase steps T")
    ax.set_ylabel("peak memory of one step (MiB)")
    ax.set_title(f"Training memory, sizes {MEMORY_SIZES}, batch {MEMORY_BATCH}")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def report(acc, grads, mem, out_dir) -> str:
    lines = ["# Reference models: accuracy, gradient check, training memory", ""]
    if acc:
        e, m = np.array(acc["eqprop"]), np.array(acc["mlp"])
        lines += ["## Digits test accuracy (one hidden layer of 256)", "",
                  "| model | per seed | mean |", "|---|---|---|",
                  f"| EqPropNet, EqProp (symmetric, beta 0.5) | {', '.join(f'{a:.2%}' for a in e)} | {e.mean():.2%} |",
                  f"| backprop MLP, same size | {', '.join(f'{a:.2%}' for a in m)} | {m.mean():.2%} |", "",
                  f"Gap (MLP - EqProp): {100 * (m.mean() - e.mean()):+.2f} points. Target: EqProp >= 97.0% and "
                  f"within 1 point: **{'met' if e.mean() >= 0.97 and m.mean() - e.mean() <= 0.01 else 'NOT met'}**.",
                  ""]
    if grads:
        lines += ["## Gradient check: EqProp update against the BPTT gradient", "",
                  "1000 free steps (free-phase residual in the last column), float64, 64 digits samples.", "",
                  "| network | estimator | beta | layer | cosine | rel. RMSE | sign agreement | residual |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in grads:
            lines.append(f"| {r['network']} | {r['estimator']} | {r['beta']} | {r['layer']} | {r['cosine']:.4f} | "
                         f"{r['rel_rmse']:.3f} | {r['sign_agreement']:.3f} | {r['residual']:.1e} |")
        sym = [r for r in grads if r["estimator"] == "symmetric" and r["beta"] <= 0.05
               and r["network"] in ("untrained", "trained")]
        worst = min(r["cosine"] for r in sym)
        lines += ["", f"Symmetric estimator, beta <= 0.05, one hidden layer: worst cosine {worst:.4f}; target "
                  f">= 0.99: **{'met' if worst >= 0.99 else 'NOT met'}**.", ""]
    if mem:
        lines += ["## Peak memory of one training step (measured)", "",
                  f"Sizes {MEMORY_SIZES}, batch {MEMORY_BATCH}; resident-set high-water mark (VmHWM, reset before "
                  "the step) minus the resident set before the step, in a fresh process per point.", "",
                  "| T | EqProp (MiB) | BPTT (MiB) | BPTT / EqProp |", "|---|---|---|---|"]
        for t in MEMORY_T:
            e = next(r["step_bytes"] for r in mem if r["T"] == t and r["method"] == "eqprop")
            b = next(r["step_bytes"] for r in mem if r["T"] == t and r["method"] == "bptt")
            floor = 2**20  # ratios against less than 1 MiB would be noise
            lines.append(f"| {t} | {e / 2**20:.1f} | {b / 2**20:.1f} | {b / max(e, floor):.0f}x |")
        lines += ["", "![memory](reference_memory.png)", ""]
    return "\n".join(lines)


@guard("the reference-model study", errors=(FloatingPointError,))
def main(argv: list[str]) -> int:
    p = parser("python -m bench.reference", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one seed and 10 epochs")
    p.add_argument("--only", choices=("accuracy", "gradients", "memory"), nargs="+", default=None)
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    check_output_folder(args.out, files=("reference.md", "reference.json", "reference_memory.png"))
    parts = args.only or ["accuracy", "gradients", "memory"]
    t0 = time.perf_counter()
    acc = grads = mem = None
    trained = None
    if "accuracy" in parts:
        acc = measure_accuracy([0] if args.quick else [0, 1, 2], 10 if args.quick else 60)
    if "gradients" in parts:
        if not args.quick:
            learner, _ = fit(TrainConfig(model="eqprop", hidden=[256], epochs=20, seed=0), load_digits_split(),
                             progress=False, log=None)
            trained = learner.model
        grads = measure_gradients(trained)
    if "memory" in parts:
        mem = measure_memory()
    os.makedirs(args.out, exist_ok=True)
    if mem:
        _plot_memory(mem, os.path.join(args.out, "reference_memory.png"))
    text = report(acc, grads, mem, args.out)
    write_text_atomic(os.path.join(args.out, "reference.md"),
                      text + f"\nWall time: {time.perf_counter() - t0:.0f} s (`python -m bench.reference`).\n")
    write_json_atomic(os.path.join(args.out, "reference.json"),
                      {"accuracy": acc, "gradient_check": grads, "memory": mem})
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
