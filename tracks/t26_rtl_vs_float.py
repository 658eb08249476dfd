"""Track 26 (hardware): RTL against float, from the co-simulation results of ``make sim``.

`make sim` (``python -m sim``) co-simulates the exported Verilog of the default design under cocotb +
Verilator on the digits test split, comparing every state with the integer golden model bit for bit,
and writes ``results/rtl_vs_float.json``. This track reads that file from the output folder; it does
not run the simulator itself (a Verilator build and a few minutes of simulation). Without the file
the track is an ERROR that names the command to run.
"""

from __future__ import annotations

import json

from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import figure

FULL_SPLIT = 360   # digits test images
PASS_GAP = 0.005   # RTL at most 0.5 points below float: the INT8 tolerance of the golden model
PARTIAL_GAP = 0.02


def load(ctx: Context) -> dict:
    path = ctx.out_dir / "rtl_vs_float.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no co-simulation results; run `make sim` (python -m sim --out "
                                f"{ctx.out_dir}) first, then this track")
    return json.loads(path.read_text())


def judge(m: dict) -> Verdict:
    gap = m["float_accuracy"] - m["rtl_accuracy"]
    digits = m.get("digits_vectors", m["vectors"])   # test images; make sim also runs random vectors
    facts = (f"{m['vectors']} vectors ({digits} digits test images), {m['mismatches']} mismatches; "
             f"RTL {m['rtl_accuracy']:.2%}, golden {m['golden_accuracy']:.2%}, float {m['float_accuracy']:.2%} "
             f"({gap * 100:+.2f} points below float)")
    if m["mismatches"] or not m["bit_exact"] or not m["rtl_equals_golden_predictions"]:
        return Verdict(Status.FAIL, "the RTL does not equal the golden model: " + facts)
    if digits >= FULL_SPLIT and gap <= PASS_GAP:
        return Verdict(Status.PASS, facts)
    if gap <= PARTIAL_GAP:
        return Verdict(Status.PARTIAL, facts + ("" if digits >= FULL_SPLIT else " (not the whole test split)"))
    return Verdict(Status.FAIL, facts)


def run(ctx: Context) -> Outcome:
    m = load(ctx)
    fig, (ax1, ax2) = figure(2)
    names = ["RTL (Verilator)", "golden (integer)", "float"]
    accs = [100 * m["rtl_accuracy"], 100 * m["golden_accuracy"], 100 * m["float_accuracy"]]
    ax1.bar(names, accs, color=["C0", "C2", "C1"])
    ax1.set(ylim=(min(accs) - 5, 100), ylabel="digits test accuracy (%)", title=f"{m['vectors']} test images")
    errs = m["per_layer_mean_abs_error_vs_float"]
    ax2.bar([f"layer {k + 1}" for k in range(len(errs))], errs)
    ax2.set(ylabel="mean |s_RTL - s_float|", title="state error against float, per layer")
    rows = [["vectors compared (every state)", m["vectors"]], ["mismatches", m["mismatches"]],
            ["RTL / golden / float accuracy", f"{m['rtl_accuracy']:.2%} / {m['golden_accuracy']:.2%} / "
                                              f"{m['float_accuracy']:.2%}"],
            ["cycles per inference", m["cycles_per_inference"]],
            ["simulated cycles per second", f"{m['simulated_cycles_per_s']:,.0f}"]]
    return Outcome(m, judge(m), f"RTL {m['rtl_accuracy']:.1%} = golden, float {m['float_accuracy']:.1%}, "
                                f"{m['mismatches']} mismatches in {m['vectors']}",
                   [md_table(["figure", "value"], rows)], [ctx.save_figure(fig, "t26_rtl_vs_float")],
                   "Produced by `make sim`; the float model sees the same quantised inputs as the RTL.")


TRACK = Track(
    number=26, title="RTL against float (co-simulation)", run=run, budget_s=1,
    claim="The accelerator's Verilog computes what the model says: bit for bit equal to the golden model, "
          "and as accurate as the float network it was quantised from.",
    experiment="Read the results of `make sim`: the default 64-64-10 INT8 design co-simulated under cocotb + "
               "Verilator on the digits test split, every state compared with the golden model.",
    criterion=f"FAIL on any mismatch with the golden model. PASS if all {FULL_SPLIT} test images were compared and "
              f"the RTL is at most {PASS_GAP * 100:g} points below float; PARTIAL within {PARTIAL_GAP * 100:g} "
              "points; else FAIL.",
)
