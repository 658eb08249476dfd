"""Track 25 (hardware): on-chip learning. The golden integer model trains digits from scratch.

This is the arithmetic the chip runs (`eqprop.hw.golden.train`: online, one sample at a time, INT8
states and weights, 16-bit shadow weights, shifts for beta, step size and learning rates), driven
by the host loop of `eqprop.hw.onchip` with an annealed LR_SHIFT schedule. The RTL is checked against
this model bit for bit in co-simulation (`make sim` for inference, `make sim-train` for on-chip
training); this track shows what that arithmetic learns, without a simulator.
"""

from __future__ import annotations

import numpy as np

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.onchip import annealed, train_epochs
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import CHANCE, digits, figure

PASS_ACC = 0.95
PARTIAL_ACC = 0.90


def experiment(*, seeds: list[int], epochs: int, cfg: HwConfig | None = None) -> dict:
    cfg = cfg or HwConfig()
    data = digits()
    finals, curves = [], []
    for seed in seeds:
        params = golden.init_params(cfg, seed=seed)
        _, hist = train_epochs(cfg, params, data, epochs=epochs, seed=seed,
                               schedule=annealed(cfg.lr_shifts, epochs), progress=False)
        curves.append([h["test_acc"] for h in hist])
        finals.append(hist[-1]["test_acc"])
    return {"sizes": list(cfg.sizes), "state_bits": cfg.state_bits, "weight_format": cfg.weight_format,
            "weight_bits": cfg.weight_bits, "epochs": epochs, "seeds": seeds, "test_acc": finals,
            "mean": float(np.mean(finals)), "curves": curves}


def judge(m: dict) -> Verdict:
    a = m["mean"]
    if a >= PASS_ACC:
        return Verdict(Status.PASS, f"integer on-chip training reaches {a:.1%} (>= {PASS_ACC:.0%})")
    if a >= PARTIAL_ACC:
        return Verdict(Status.PARTIAL, f"integer on-chip training reaches {a:.1%} (>= {PARTIAL_ACC:.0%}, "
                                       f"< {PASS_ACC:.0%})")
    return Verdict(Status.FAIL, f"integer on-chip training reaches only {a:.1%} (chance {CHANCE:.0%})")


def run(ctx: Context) -> Outcome:
    m = experiment(seeds=ctx.seeds, epochs=ctx.pick(1, 8, 15))
    fig, ax = figure()
    for seed, c in zip(m["seeds"], m["curves"], strict=True):
        ax.plot(range(1, len(c) + 1), [100 * a for a in c], marker=".", label=f"seed {seed}")
    ax.axhline(100 * PASS_ACC, color="C3", ls="--", label="95%")
    ax.axhline(100 * CHANCE, color="grey", ls=":", label="chance")
    ax.set(xlabel="epoch (online, one sample at a time)", ylabel="digits test accuracy (%)",
           title="On-chip learning, golden integer model, 64-64-10 INT8")
    ax.legend(fontsize=8)
    rows = [[s, f"{a:.2%}"] for s, a in zip(m["seeds"], m["test_acc"], strict=True)]
    return Outcome(m, judge(m), f"INT8 on-chip training {m['mean']:.1%} after {m['epochs']} epochs",
                   [md_table(["seed", "test accuracy"], rows)], [ctx.save_figure(fig, "t25_onchip_learning")],
                   "The RTL runs this arithmetic: `make sim-train` trains the default design on chip under Verilator "
                   "(3 epochs, every shadow weight, weight and bias compared with this model after every step, then "
                   "the test split classified with the weights it learnt), and `make sim` co-simulates its inference "
                   "bit for bit (track 26). This track runs the golden model only; its figure is not the RTL's.")


TRACK = Track(
    number=25, title="On-chip learning (golden integer model)", run=run, budget_s=60,
    claim="EqProp learns on a cheap digital chip: INT8 states and weights, shifts instead of multipliers for "
          "beta and learning rates, one sample at a time.",
    experiment="Train the default HwConfig (64-64-10, INT8) from random integer weights on digits with the golden "
               "model (8 epochs quick, 15 full, annealed LR_SHIFT), test accuracy per epoch.",
    criterion=f"PASS if the mean final test accuracy >= {PASS_ACC:.0%}, PARTIAL if >= {PARTIAL_ACC:.0%}, else FAIL.",
)
