"""Track 16: bit precision. Accuracy of the integer golden model as state and weight widths shrink.

A float `EqPropNet` of the chip's default size (HwConfig().sizes, 64 -> 64 -> 10) is trained on
digits, quantised by `eqprop.hw.quantise.quantise` at each width (states and weights together, shadow
and bias wide enough not to matter) and evaluated by `eqprop.hw.golden.predict`: the arithmetic the
chip will do, not a float simulation of it.
"""

from __future__ import annotations

import numpy as np

from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.onchip import accuracy, precision_overrides
from eqprop.hw.quantise import config_from_net, quantise
from eqprop.train import TrainConfig, fit
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import CHANCE, digits, figure

FLOOR = 0.90  # a float model below this is not worth quantising


def experiment(*, seeds: list[int], epochs: int, bits: list[int], lr: float | None = None) -> dict:
    """Float and per-width integer test accuracy, per seed."""
    data = digits()
    hidden = list(HwConfig().sizes[1:-1])
    floats, ints = [], {b: [] for b in bits}
    for seed in seeds:
        learner, m = fit(TrainConfig(model="eqprop", hidden=hidden, epochs=epochs, seed=seed, lr=lr), data,
                         progress=False, log=None)
        floats.append(m["final_test_acc"])
        base = config_from_net(learner.model)
        for b in bits:
            q = quantise(learner.model, base, **precision_overrides(base, b, b))
            ints[b].append(accuracy(q.cfg, q.params, data.x_test, data.y_test))
    return {"seeds": seeds, "epochs": epochs, "bits": bits, "float": floats,
            "int": {str(b): v for b, v in ints.items()}, "float_mean": float(np.mean(floats)),
            "int_mean": {str(b): float(np.mean(v)) for b, v in ints.items()}}


def judge(m: dict) -> Verdict:
    f = m["float_mean"]
    if f < FLOOR:
        return Verdict(Status.FAIL, f"the float model reaches only {f:.1%} (< {FLOOR:.0%}); nothing to quantise")
    if "8" not in m["int_mean"]:
        return Verdict(Status.FAIL, "no 8-bit point was measured")
    drop = f - m["int_mean"]["8"]
    ok = [int(b) for b, a in m["int_mean"].items() if f - a <= 0.01]
    smallest = f"; smallest width within 1 point of float: {min(ok)} bits" if ok else ""
    if drop <= 0.005:
        return Verdict(Status.PASS, f"INT8 {m['int_mean']['8']:.1%} vs float {f:.1%}: {drop * 100:.2f} points "
                                    f"below (<= 0.5){smallest}")
    if drop <= 0.02:
        return Verdict(Status.PARTIAL, f"INT8 is {drop * 100:.2f} points below float (<= 2, > 0.5){smallest}")
    return Verdict(Status.FAIL, f"INT8 is {drop * 100:.2f} points below float (> 2){smallest}")


def run(ctx: Context) -> Outcome:
    bits = ctx.pick([2, 8], [2, 3, 4, 5, 6, 8, 10, 12, 16], list(range(2, 17)))
    m = experiment(seeds=ctx.seeds, epochs=ctx.pick(1, 30, 60), bits=bits)
    fig, ax = figure()
    ax.plot(bits, [100 * m["int_mean"][str(b)] for b in bits], marker="o", label="integer golden model")
    ax.axhline(100 * m["float_mean"], color="C1", ls="--", label="float EqPropNet")
    ax.axhline(100 * CHANCE, color="grey", ls=":", label="chance")
    ax.set(xlabel="state and weight width (bits)", ylabel="digits test accuracy (%)",
           title="Bit precision, 64-64-10, golden model")
    ax.legend(fontsize=8)
    rows = [[f"{b}", ", ".join(f"{a:.1%}" for a in m["int"][str(b)]), f"{m['int_mean'][str(b)]:.1%}"] for b in bits]
    rows.append(["float", ", ".join(f"{a:.1%}" for a in m["float"]), f"{m['float_mean']:.1%}"])
    v = judge(m)
    return Outcome(m, v, f"INT8 {m['int_mean'].get('8', float('nan')):.1%} vs float {m['float_mean']:.1%}",
                   [md_table(["bits (states = weights)", "test accuracy per seed", "mean"], rows)],
                   [ctx.save_figure(fig, "t16_bit_precision")],
                   "Weights are quantised after float training (no quantisation-aware training); below 4 bits the "
                   "accuracy falls fast. `python -m bench.golden` sweeps states and weights separately.")


TRACK = Track(
    number=16, title="Bit precision (golden model)", run=run, budget_s=40,
    claim="EqProp is robust to INT8 quantisation, so an FPGA datapath of 8-bit states and weights is viable.",
    experiment="Train EqPropNet 64-64-10 on digits (30 epochs quick), quantise states and weights together to 2..16 "
               "bits with per-layer power-of-two scales, and measure the integer golden model's test accuracy.",
    criterion="Float model >= 90%, else FAIL. PASS if INT8 is at most 0.5 points below float (mean over seeds), "
              "PARTIAL within 2 points, FAIL beyond.",
)
