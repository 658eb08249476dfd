"""``python -m sim`` (``make sim``): the default design co-simulated on the digits test split and on
random and corner-case vectors, against the golden model.

1. Train a float `EqPropNet` of the default HwConfig's size on digits (on the fly, about 20 s: nothing
   is shipped) and quantise it to the default INT8 configuration.
2. Export its Verilog and build it under Verilator (or ``SIM=icarus``; `sim.runner`, cached per
   configuration and simulator).
3. Run INFER on the RTL for every test image, then for ``--random`` vectors of `sim.vectors` (saturating
   and clamping weights, checkerboards, ternary-style zeros, tiny weights; corner and random inputs),
   through the AXI4-Lite bus (`sim.tb_accel.run_infer`): every state of every layer, RESULT, CYCLES and
   STEPS are compared with the golden model bit for bit; the first mismatch stops the run with its set,
   case, layer, index, expected and actual values and dumps the golden model's trace of that case. The
   digits parameters are read back through the bus after loading; the random sets' straight from the
   memories (`sim.tb_accel.TB.peek_params`), which costs no simulated cycles.
4. Print vectors compared, mismatches, cycles per inference, simulated cycles per second, and RTL
   accuracy next to golden and float accuracy; write ``results/rtl_vs_float.md`` and ``.json``; with
   ``--waves`` (``make sim WAVES=1``) an FST waveform. The JSON's ``design`` names what was simulated
   (`design_record`): the digest of the quantised design, and the settings that decide it, which
   track 26 recomputes to tell current results from stale ones.
5. With ``--netlist ecp5`` or ``ice40`` (``make sim NETLIST=ecp5``), steps 2-4 run on the netlist Yosys
   synthesises for that family with ``make fpga``'s script, under Verilator with the vendor cell models
   and the harness of `sim.fast` (`sim.netlist`): the same vectors, every parameter read back through the
   bus (a netlist has no memories to peek); ``results/netlist_<family>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import time

import numpy as np
import torch

from eqprop.atomic import write_json_atomic, write_text_atomic
from eqprop.cli_support import UsageError, check_output_folder, guard, non_negative_int, parser, positive_int
from eqprop.data import Split, load_digits_split
from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.quantise import config_digest, config_from_net, design_digest, quantise, quantise_input
from eqprop.train import DEFAULT_LR, TrainConfig, build, fit
from rtl.command import longest_commands
from rtl.schedule import inference_cycles
from sim import runner
from sim.cases import case_set, write_cases
from sim.netlist import FAMILIES as NETLIST_FAMILIES
from sim.vectors import corner_sets

MAX_RANDOM = 100_000   # random vectors: each is a few KiB of cases and a few ms of simulation
EPOCHS = 30            # float training epochs of the default design (--epochs)


HELP = """The default design co-simulated against the golden model (make sim): train a float EqPropNet on digits
and quantise it, export its Verilog and build it under Verilator (or SIM=icarus), run INFER for every test
image and for random and corner-case vectors through the AXI4-Lite bus, and compare every state, RESULT,
CYCLES and STEPS with the golden model bit for bit. Prints vectors compared, mismatches, cycles per
inference and the RTL's accuracy next to golden and float; writes results/rtl_vs_float.md and .json where
it runs. The simulator builds are cached in ~/.cache/eqprop-hw/sim/ ($XDG_CACHE_HOME, or $EQPROP_CACHE
to put them elsewhere)."""

EXAMPLES = """examples:
  python -m sim                      # the whole test split and 1,000 random vectors (about 2 minutes)
  python -m sim --vectors 50 --random 100
  python -m sim --sim icarus --waves # under Icarus Verilog, with an FST waveform"""


def per_layer_error(cfg: HwConfig, params: golden.IntParams, net, x_codes: np.ndarray) -> list[float]:
    """Mean |s_int - s_float| per state layer after the free phase; both see the same quantised inputs."""
    ints = golden.relax(cfg, params, x_codes, steps=cfg.free_steps)
    with torch.no_grad():
        floats = net.free_phase(torch.from_numpy(x_codes / 2.0 ** cfg.state_bits).float())
    return [float(np.abs(i / 2.0 ** cfg.state_bits - f.numpy()).mean()) for i, f in zip(ints, floats, strict=True)]


def train_config(epochs: int = EPOCHS) -> TrainConfig:
    """How `train_default` trains the float model: an `EqPropNet` of the default HwConfig's sizes."""
    return TrainConfig(model="eqprop", hidden=list(HwConfig().sizes[1:-1]), epochs=epochs)


def design_record(tc: TrainConfig, data: Split) -> dict:
    """What decides the design `train_default` quantises and can be recomputed without training it: the
    digest of the configuration the quantiser starts from (`config_from_net` of the model `tc` builds; the
    weight scales are then chosen from the trained weights), the training settings with the learning rate
    they resolve to, and a digest of the data. The design's own digest (`design_digest`) needs the training."""
    model = build(tc, data.n_in, data.n_classes).model   # untrained: only its configuration is read
    h = hashlib.sha256()
    for a in (data.x_train, data.y_train, data.x_test, data.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return {"config_digest": config_digest(config_from_net(model)), "train_config": dataclasses.asdict(tc),
            "lr": tc.lr if tc.lr is not None else DEFAULT_LR[tc.model], "dataset": data.name,
            "data_digest": h.hexdigest()}


def train_default(epochs: int):
    """The float digits model at the default configuration's sizes, and its INT8 quantisation."""
    data = load_digits_split()
    tc = train_config(epochs)
    print(f"training float EqPropNet {[data.n_in, *tc.hidden, data.n_classes]} on digits ({epochs} epochs) ...")
    learner, metrics = fit(tc, data, log=None)
    return data, learner.model, metrics, quantise(learner.model, config_from_net(learner.model))


def write_report(out: str, name: str, report: dict, lines: list[str]) -> str:
    """``out/name.md`` (the table) and ``out/name.json`` (every figure), each written whole or not at all."""
    text = "\n".join(lines) + "\n"
    write_text_atomic(os.path.join(out, f"{name}.md"), text)
    write_json_atomic(os.path.join(out, f"{name}.json"), report)
    return text


def check_simulator(sim: str | None, waves: bool = False) -> str:
    """The simulator to run (``--sim``, else ``$SIM``, else Verilator), checked to be installed before any
    training or export starts; `runner.ToolMissing` says how to install it."""
    if sim is None:
        try:
            sim = runner.default_simulator()
        except runner.SimError as e:       # a bad $SIM is bad input, not a failed simulation
            raise UsageError(str(e)) from None
    runner._find_tool(sim, waves)
    return sim


def check_count(name: str, value: int | None, most: int, what: str) -> None:
    """Refuse a count larger than what there is, rather than silently using fewer."""
    if value is not None and value > most:
        raise UsageError(f"{name} must be at most {most} ({what}), not {value!r}")


@guard("the co-simulation", errors=(runner.ToolMissing,), failures=(runner.SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sim", HELP, epilog=EXAMPLES)
    ap.add_argument("--vectors", type=positive_int, default=None,
                    help="test images to co-simulate (default: all 360; 10 with --waves)")
    ap.add_argument("--random", type=non_negative_int, default=None,
                    help="random and corner-case vectors (default 1000; 0 with --waves)")
    ap.add_argument("--epochs", type=positive_int, default=EPOCHS, help="float training epochs")
    ap.add_argument("--sim", choices=runner.SIMULATORS, default=None, help="simulator (default: $SIM or verilator)")
    ap.add_argument("--out", default="results")
    ap.add_argument("--waves", action="store_true", help="write an FST waveform (make sim WAVES=1)")
    ap.add_argument("--tile", type=tile_shape, default=None, metavar="PExSIMD",
                    help="co-simulate the tiled core instead (rtl.tiled_core behind the same bus), with this weight "
                         "tile, e.g. 8x10 (make sim TILE=8x10); results/rtl_vs_float_tiled.md")
    ap.add_argument("--samples", type=positive_int, default=None,
                    help="with --tile: the samples an INFER command relaxes (default 1)")
    ap.add_argument("--slots", type=positive_int, default=None,
                    help="with --tile: the samples in flight at once (default: all of them)")
    ap.add_argument("--netlist", choices=NETLIST_FAMILIES, default=None,
                    help="co-simulate the design as Yosys synthesises it for this FPGA family (make sim NETLIST=ecp5), "
                         "under Verilator with the vendor cell models (sim.netlist); results/netlist_<family>.md")
    args = ap.parse_args(argv)
    if (args.samples or args.slots) and not args.tile:
        raise UsageError("--samples and --slots set the tiled core's samples: add --tile PExSIMD")
    if args.netlist and args.tile:
        raise UsageError("--netlist co-simulates the default P-lane design's netlist: leave out --tile")
    if args.netlist and (args.waves or args.sim == "icarus"):
        raise UsageError("--netlist runs the Verilator harness of sim.fast: leave out --waves and --sim icarus")
    check_count("--vectors", args.vectors, 360, "the images of the digits test split")
    check_count("--random", args.random, MAX_RANDOM, "a bound that keeps the case file in memory")
    report_name = f"netlist_{args.netlist}" if args.netlist else "rtl_vs_float_tiled" if args.tile else "rtl_vs_float"
    check_output_folder(args.out, files=(f"{report_name}.md", f"{report_name}.json"))
    sim = check_simulator("verilator" if args.netlist else args.sim, args.waves)
    if args.netlist:
        from sim.netlist import yosys_share

        yosys_share()            # Yosys and its cell models, before the training starts
    if args.waves and args.vectors is None and args.random is None:   # a waveform of the full run is gigabytes
        args.vectors, args.random = 10, 0
        print("waves: tracing the first 10 test images only (--vectors and --random choose more)")
    args.random = 1000 if args.random is None else args.random
    t0 = time.perf_counter()
    data, net, metrics, q = train_default(args.epochs)
    cfg, params = q.cfg, q.params
    if args.tile:    # the same quantised design on the tiled core (no zero-skipping there)
        samples = args.samples or 1
        try:
            cfg = cfg.replace(pe=args.tile[0], simd=args.tile[1], samples=samples, slots=args.slots,
                              zero_skip=False)
        except ValueError as e:
            raise UsageError(f"--tile {args.tile[0]}x{args.tile[1]}: {e}") from None
    train_s = time.perf_counter() - t0
    x_test = data.x_test[:args.vectors] if args.vectors else data.x_test
    y_test = data.y_test[:len(x_test)]
    xq = quantise_input(cfg, x_test)
    sets = [case_set(params, xq, golden.encode_targets(cfg, y_test), name="digits", check="bus")]
    sets += corner_sets(cfg, args.random, seed=0)
    n = sum(len(s["x"]) for s in sets)
    if args.netlist:
        from sim import netlist

        report, lines = netlist.make_sim_report(cfg, params, sets, args.netlist, x=xq, y=y_test, t0=t0)
        print(write_report(args.out, report_name, report, lines))
        return 0
    datapath = f"tile {cfg.pe} x {cfg.simd}, {cfg.samples} samples on {cfg.slots or cfg.samples} slots" if cfg.tiled \
        else f"P = {cfg.mac_lanes}"
    print(f"building the Verilog of {cfg.sizes}, {datapath}, under {sim} ...")
    build = runner.build(cfg, waves=args.waves, sim=sim)
    print(f"co-simulating {len(xq)} test images and {n - len(xq)} random and corner-case vectors (INFER, every "
          f"state compared with the golden model) ...")
    run = runner.run(build, write_cases(cfg, sets, check="peek"), testcase="test_infer/stalls=False",
                     progress="co-simulation")
    stats = next(s for s in run.stats if s["test"] == "infer")
    rtl_pred = np.array(stats["results"][:len(xq)])
    golden_pred = golden.predict(cfg, params, xq)
    with torch.no_grad():
        # the float network sees the same quantised inputs as the RTL, so the gap is the datapath's alone
        float_pred = net.predict(torch.from_numpy(xq / 2.0 ** cfg.state_bits).float()).numpy()
    # the CYCLES of every digits INFER command, each checked equal to the RTL's register by run_infer, per image
    digits_cycles = inference_cycles(cfg, params, xq)
    B = cfg.samples
    cycles = float(digits_cycles.sum() / len(xq))
    fixed_t = longest_commands(cfg)["infer"] / B     # every phase to its limit, a command's cycles over its B images
    no_cache = cfg.replace(early_exit=False, cache_drive=False)
    report = {
        "vectors": n, "digits_vectors": len(xq), "random_vectors": n - len(xq),
        "random_families": [s["name"] for s in sets[1:]],
        "mismatches": 0, "bit_exact": True,  # run_infer stops at the first mismatch, and run() raises
        "rtl_accuracy": float((rtl_pred == y_test).mean()), "golden_accuracy": float((golden_pred == y_test).mean()),
        "float_accuracy": float((float_pred == y_test).mean()),
        "float_accuracy_float_inputs": metrics["final_test_acc"],
        "rtl_equals_golden_predictions": bool((rtl_pred == golden_pred).all()),
        "per_layer_mean_abs_error_vs_float": per_layer_error(cfg, params, net, xq),
        "cycles_per_inference": cycles, "cycles_per_inference_max": int(digits_cycles.max()),
        "cycles_per_inference_fixed_t": fixed_t,
        "cycles_per_inference_no_cache_fixed_t": longest_commands(no_cache)["infer"] / B,
        "steps_mean": float(golden.settle(cfg, params, xq, steps=cfg.free_steps).steps.mean()),
        "simulated_cycles": stats["sim_cycles"], "sim_wall_s": stats["wall_s"],
        "simulated_cycles_per_s": stats["sim_cycles"] / stats["wall_s"],
        "free_running_cycles_per_s": stats["wait_cycles"] / stats["wait_s"],
        "simulator": build.tool,
        "design": {**design_record(train_config(args.epochs), data), "train_epochs": args.epochs,
                   "design_digest": design_digest(cfg, params)},
        "hwconfig": {"sizes": list(cfg.sizes), "state_bits": cfg.state_bits, "weight_format": cfg.weight_format,
                     "weight_bits": cfg.weight_bits, "mac_lanes": cfg.mac_lanes, "free_steps": cfg.free_steps,
                     **({"pe": cfg.pe, "simd": cfg.simd, "samples": B, "slots": cfg.slots or B} if cfg.tiled else {})},
        "train_s": train_s, "build_s": build.build_s, "cosim_wall_s": run.wall_s,
        "waves": str(run.waves) if run.waves else None,
        "wall_s": time.perf_counter() - t0,
    }
    title = (f"the default design on the tiled core ({datapath})" if cfg.tiled else "the default design")
    lines = [f"# RTL against float: {title} co-simulated against the golden model", "",
             "| figure | value |", "|---|---|",
             "| vectors compared (every state, RESULT, CYCLES, STEPS, PHASE_STEPS, STATUS.UNSETTLED) | "
             f"{n} ({len(xq)} digits test images, "
             f"{n - len(xq)} random and corner-case) |",
             f"| mismatches | {report['mismatches']} |",
             f"| cycles per inference on the digits images ({datapath}, early exit and cached drive; RTL CYCLES = "
             f"cycle model for each command{', a command of B images: its cycles / B' if B > 1 else ''}): mean, "
             f"max a command | {cycles:,.0f}, {report['cycles_per_inference_max']:,} "
             f"({report['steps_mean']:.1f} free steps on average) |",
             f"| cycles per inference at fixed T = {cfg.free_steps}: cached drive, neither | {fixed_t:,.0f}, "
             f"{report['cycles_per_inference_no_cache_fixed_t']:,.0f} |",
             f"| simulated cycles per second, whole run (bus traffic included) | "
             f"{report['simulated_cycles_per_s']:,.0f} |",
             f"| simulated cycles per second while the hardware runs on its own | "
             f"{report['free_running_cycles_per_s']:,.0f} |",
             f"| RTL accuracy (digits test split) | {report['rtl_accuracy']:.2%} |",
             f"| golden model accuracy | {report['golden_accuracy']:.2%} |",
             f"| float accuracy (same quantised inputs) | {report['float_accuracy']:.2%} |",
             "| mean abs state error vs float, per layer | "
             + ", ".join(f"{e:.4f}" for e in report["per_layer_mean_abs_error_vs_float"]) + " |",
             f"| simulator | {build.tool} |",
             f"| wall time: float training, simulator build, co-simulation, all | {train_s:.0f} s, "
             f"{build.build_s:.0f} s (0 when cached), {run.wall_s:.0f} s, {report['wall_s']:.0f} s |"]
    if run.waves:
        lines.append(f"| waveform | {run.waves} |")
    print(write_report(args.out, report_name, report, lines))
    return 0


def tile_shape(text: str) -> tuple[int, int]:
    """``PExSIMD`` (e.g. ``8x10``) as (pe, simd)."""
    pe, sep, simd = text.lower().partition("x")
    if not sep or not pe.isdigit() or not simd.isdigit() or int(pe) < 1 or int(simd) < 1:
        raise argparse.ArgumentTypeError(f"a tile is PExSIMD, two positive numbers such as 8x10, not {text!r}")
    return int(pe), int(simd)


if __name__ == "__main__":
    sys.exit(main())
