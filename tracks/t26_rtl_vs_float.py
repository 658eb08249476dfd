"""Track 26 (hardware): RTL against float, from the co-simulation results of ``make sim``.

`make sim` (``python -m sim``) co-simulates the exported Verilog of the default design under cocotb +
Verilator on the digits test split, comparing every state with the integer golden model bit for bit,
and writes ``results/rtl_vs_float.json``. This track reads that file; it does not run the simulator
itself (a Verilator build and a few minutes of simulation). It looks in the output folder, then in
the project's ``results/`` whatever ``--out`` is (``$EQPROP_SIM_RESULTS`` names another folder).
Without the file the track is an ERROR that names the command to run.

Results of another design are STALE (a FAIL that says so): the file records what it simulated
(`sim.__main__.design_record`), and this track recomputes that record for the current code and
compares: the digest of the hardware configuration the quantiser starts from, the training settings
(epochs included) with their learning rate, and a digest of the digits split. The design's own
digest (configuration and every quantised weight, `eqprop.hw.quantise.design_digest`) is recorded but
not recomputed: that needs the float training (30 epochs). Changes to the RTL's source are not seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import accuracy_axis, digits, figure

FULL_SPLIT = 360   # digits test images
PASS_GAP = 0.005   # RTL at most 0.5 points below float: the INT8 tolerance of the golden model
PARTIAL_GAP = 0.02
RESULTS = "rtl_vs_float.json"
RESULTS_ENV = "EQPROP_SIM_RESULTS"   # a folder to read RESULTS from instead of the project's results/
PROJECT_RESULTS = Path(__file__).resolve().parents[1] / "results"


def folders(ctx: Context) -> list[Path]:
    """Where to look for RESULTS, in order: the output folder, then $EQPROP_SIM_RESULTS if set, else
    ./results and the project's results/ (the same folder when run from the project root)."""
    env = os.environ.get(RESULTS_ENV)
    out, seen = [], set()
    for f in [ctx.out_dir, *([Path(env)] if env else [Path.cwd() / "results", PROJECT_RESULTS])]:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


def load(ctx: Context) -> tuple[dict, Path]:
    """The co-simulation results and the file they came from."""
    for folder in folders(ctx):
        path = folder / RESULTS
        if path.exists():
            return json.loads(path.read_text()), path
    raise FileNotFoundError(f"no co-simulation results ({RESULTS} in {', '.join(map(str, folders(ctx)))}); run "
                            f"`make sim` (python -m sim, which writes results/{RESULTS}) first, then this track")


def expected_design() -> dict:
    """The record `make sim` would write for the current code (`sim.__main__.design_record`), without training."""
    from sim.__main__ import EPOCHS, design_record, train_config

    return design_record(train_config(EPOCHS), digits())


def stale_reasons(m: dict, expected: dict) -> list[str]:
    """Why the results `m` are not those of the `expected` design; empty when they are."""
    got = m.get("design")
    if not isinstance(got, dict):
        return ["the file records no design (written before make sim recorded one)"]
    why = []
    if got.get("config_digest") != expected["config_digest"]:
        why.append("the hardware configuration differs (HwConfig or the float model's steps, beta, step size)")
    tc, want = got.get("train_config") or {}, expected["train_config"]
    changed = [f"{k} {tc.get(k)!r}, now {v!r}" for k, v in want.items() if tc.get(k) != v]
    if changed:
        why.append("the float training differs: " + ", ".join(changed))
    if got.get("lr") != expected["lr"]:
        why.append(f"the learning rate was {got.get('lr')!r}, now {expected['lr']!r}")
    if got.get("data_digest") != expected["data_digest"] or got.get("dataset") != expected["dataset"]:
        why.append("the digits split differs")
    return why


def judge(m: dict) -> Verdict:
    if m.get("stale"):
        return Verdict(Status.FAIL, "STALE: the co-simulation results are not of the current design (" +
                                    "; ".join(m["stale"]) + "); run `make sim` again")
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
    m, path = load(ctx)
    m = {**m, "source": str(path), "stale": stale_reasons(m, expected_design())}
    fig, (ax1, ax2) = figure(2)
    fig.set_layout_engine("constrained")   # keeps each panel's labels clear of the other panel
    names = ["RTL (Verilator)", "golden (integer)", "float"]
    accs = [100 * m["rtl_accuracy"], 100 * m["golden_accuracy"], 100 * m["float_accuracy"]]
    ax1.bar(names, accs, color=["C0", "C2", "C1"])
    ax1.set(ylabel="digits test accuracy (%)",
            title=("STALE: " if m["stale"] else "") + f"{m.get('digits_vectors', m['vectors'])} test images")
    accuracy_axis(ax1, accs, n_test=m.get("digits_vectors", m["vectors"]))
    errs = m["per_layer_mean_abs_error_vs_float"]
    ax2.bar([f"layer {k + 1}" for k in range(len(errs))], errs)
    ax2.set(xlabel="state layer", ylabel="mean |s_RTL - s_float|", title="state error against float, per layer")
    design = m.get("design") or {}
    rows = [["vectors compared (every state)", m["vectors"]], ["mismatches", m["mismatches"]],
            ["RTL / golden / float accuracy", f"{m['rtl_accuracy']:.2%} / {m['golden_accuracy']:.2%} / "
                                              f"{m['float_accuracy']:.2%}"],
            ["cycles per inference", m["cycles_per_inference"]],
            ["simulated cycles per second", f"{m['simulated_cycles_per_s']:,.0f}"],
            ["design digest (config and weights)", design.get("design_digest", "not recorded")[:16]],
            ["float training epochs", design.get("train_epochs", "not recorded")],
            ["current design", ("STALE: " + "; ".join(m["stale"])) if m["stale"] else "yes (settings compared)"]]
    verdict = judge(m)
    evidence = ("STALE results of another design: run make sim" if m["stale"] else
                f"RTL {m['rtl_accuracy']:.1%} = golden, float {m['float_accuracy']:.1%}, "
                f"{m['mismatches']} mismatches in {m['vectors']}")
    return Outcome(m, verdict, evidence, [md_table(["figure", "value"], rows)],
                   [ctx.save_figure(fig, "t26_rtl_vs_float")],
                   f"Produced by `make sim`, read from {path}; the float model sees the same quantised inputs as "
                   "the RTL. Checked against the current code: the hardware configuration's digest, the float "
                   "training settings and the data; the weights' digest is recorded, not recomputed (that needs "
                   "the training), and changes to the RTL's source are not detected: run `make sim` after them.")


TRACK = Track(
    number=26, title="RTL against float (co-simulation)", run=run, budget_s=5,
    claim="The accelerator's Verilog computes what the model says: bit for bit equal to the golden model, "
          "and as accurate as the float network it was quantised from.",
    experiment="Read the results of `make sim` (results/, whatever --out is): the default 64-64-10 INT8 design "
               "co-simulated under cocotb + Verilator on the digits test split, every state compared with the golden "
               "model; check that they are of the current design.",
    criterion=f"FAIL (STALE) if the results are of another design (configuration, training or data differ). FAIL on "
              f"any mismatch with the golden model. PASS if all {FULL_SPLIT} test images were compared and "
              f"the RTL is at most {PASS_GAP * 100:g} points below float; PARTIAL within {PARTIAL_GAP * 100:g} "
              "points; else FAIL.",
)
