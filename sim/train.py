"""``python -m sim.train`` (``make sim-train``): on-chip learning on the real Verilog.

``--engine fast`` (the default) runs the commands on the Verilator C++ harness of `sim.fast` (no Python
in the clock loop; every shadow, weight and bias peeked after every step, straight from the Verilated
memories); ``--engine cocotb`` on the cocotb testbench (`sim.runner`, parameters peeked likewise,
``--sim`` Verilator or Icarus).

The default design (64-64-10, INT8, P = 8) starts from `eqprop.hw.golden.init_params` and trains itself
on the digits training split, one TRAIN command per sample, for ``--epochs`` epochs (default 3), while
the host rewrites LR_SHIFT on the schedule of `eqprop.hw.onchip.DIGITS_SCHEDULE`. After every step, every
shadow, weight and bias in the RTL's memories is compared with the golden model's, and the free-phase
states, RESULT, CYCLES and STEPS through the bus. Then the trained hardware runs INFER on the 360 test
images with the weights it learnt (nothing is loaded), every state checked again, and its RESULTs
give the test accuracy. Writes ``results/onchip_training.md`` and ``.json``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from eqprop.cli_support import (
    check_memory,
    check_output_folder,
    guard,
    parser,
    positive_int,
    seed_int,
)
from eqprop.data import load_digits_split
from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.onchip import DIGITS_SCHEDULE, accuracy, sample_schedule
from eqprop.hw.quantise import quantise_input
from rtl.command import longest_commands
from sim import fast, runner
from sim.__main__ import check_count, check_simulator, tile_shape, write_report
from sim.cases import case_set, eval_set, write_cases

TARGET = 0.95   # the bar for the RTL-trained network
STEP_BYTES = 4096   # memory per TRAIN step: its input, target and shifts, in numpy and in the JSON case file


HELP = """On-chip learning on the real Verilog (make sim-train): the default design trains itself on the digits
training split, one TRAIN command per sample, every shadow, weight and bias compared with the golden model's
after every step; then the trained hardware classifies the test split. Writes results/onchip_training.md
and .json."""

EXAMPLES = """examples:
  python -m sim.train                              # 3 epochs on the Verilator C++ harness
  python -m sim.train --epochs 1 --limit 200 --test 50
  python -m sim.train --engine cocotb --sim icarus"""


@guard("on-chip training", errors=(runner.ToolMissing,), failures=(runner.SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sim.train", HELP, epilog=EXAMPLES)
    ap.add_argument("--epochs", type=positive_int, default=3)
    ap.add_argument("--seed", type=seed_int, default=0, help="initial weights and sample order")
    ap.add_argument("--limit", type=positive_int, default=None, help="training samples per epoch (default: all 1437)")
    ap.add_argument("--test", type=positive_int, default=None, help="test images to evaluate (default: all 360)")
    ap.add_argument("--engine", choices=("fast", "cocotb"), default="fast",
                    help="fast: the Verilator C++ harness (sim.fast); cocotb: the cocotb testbench (default fast)")
    ap.add_argument("--sim", choices=runner.SIMULATORS, default=None, help="the cocotb engine's simulator")
    ap.add_argument("--tile", type=tile_shape, default=None, metavar="PExSIMD",
                    help="train the tiled core instead (make sim-train TILE=8x10), its parameters read back through "
                         "the bus after every step; results/onchip_training_tiled.md")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    report_name = "onchip_training_tiled" if args.tile else "onchip_training"
    check_count("--limit", args.limit, 1437, "the images of the digits training split")
    check_count("--test", args.test, 360, "the images of the digits test split")
    check_output_folder(args.out, files=(f"{report_name}.md", f"{report_name}.json"))
    t0 = time.perf_counter()
    cfg = HwConfig() if args.tile is None else HwConfig(pe=args.tile[0], simd=args.tile[1])
    data = load_digits_split()
    n = args.limit or len(data.x_train)
    check_memory(args.epochs * n * STEP_BYTES, f"{args.epochs} epochs of {n} TRAIN commands",
                 "use fewer --epochs or a smaller --limit")
    if args.engine == "fast" and args.sim not in (None, "verilator"):
        ap.error(f"--sim {args.sim} needs --engine cocotb (the fast engine is Verilator's)")
    if args.engine == "cocotb":
        sim = check_simulator(args.sim)
    else:
        fast._find_tool()      # Verilator and a C++ compiler, before anything is built
        sim = "verilator"
    rng = np.random.default_rng(args.seed)
    order = np.concatenate([rng.permutation(len(data.x_train))[:n] for _ in range(args.epochs)])
    x = quantise_input(cfg, data.x_train)[order]
    t = golden.encode_targets(cfg, data.y_train)[order]
    shifts = sample_schedule(DIGITS_SCHEDULE, args.epochs, n)
    x_test, y_test = data.x_test[:args.test], data.y_test[:args.test]
    init = golden.init_params(cfg, seed=args.seed)
    datapath = f"tile {cfg.pe} x {cfg.simd}" if cfg.tiled else f"P = {cfg.mac_lanes}"
    print(f"building the Verilog of {cfg.sizes}, {datapath}, under {sim} ({args.engine} engine) ...")
    steps = len(x)
    print(f"on-chip training: {args.epochs} epochs x {n} samples = {steps} TRAIN commands on the RTL, every "
          f"weight compared with the golden model after every step, then INFER on {len(x_test)} test images ...")
    sets = [case_set(init, x, t, name="digits-train", lr_shifts=shifts),
            eval_set(quantise_input(cfg, x_test), name="digits-test")]
    stats, build = (_run_fast if args.engine == "fast" else _run_cocotb)(cfg, sets, sim, steps)
    rtl_acc = float((np.array(stats["results"]) == y_test).mean())
    final = stats["final"]
    golden_acc = accuracy(cfg, final, x_test, y_test)
    init_acc = accuracy(cfg, init, x_test, y_test)
    model = longest_commands(cfg)
    n_params = sum(a.size for a in init.shadow) * 2 + sum(b.size for b in init.biases)   # shadow, weight, bias
    report = {
        "epochs": args.epochs, "samples_per_epoch": n, "train_steps": steps, "seed": args.seed,
        "schedule": [[list(seg) for seg in epoch] for epoch in DIGITS_SCHEDULE[:args.epochs]],
        "rtl_test_accuracy": rtl_acc, "golden_test_accuracy_of_rtl_weights": golden_acc,
        "initial_test_accuracy": init_acc, "target": TARGET, "meets_target": rtl_acc >= TARGET,
        "test_images": len(y_test), "mismatches": 0, "parameter_codes_checked": steps * n_params,
        # CYCLES of the commands run (each equal to the golden model's steps through the cycle model)
        "cycles_per_train_step": stats["train_cycles"] / steps,
        "cycles_per_inference": (stats["command_cycles"] - stats["train_cycles"]) / max(1, len(y_test)),
        "cycles_per_train_step_fixed_k": model["train"], "cycles_per_inference_fixed_t": model["infer"],
        "simulated_cycles": stats["sim_cycles"], "cosim_wall_s": stats["cosim_wall_s"],
        "simulated_cycles_per_s": stats["sim_cycles"] / stats["wall_s"],
        "free_running_cycles_per_s": stats["free_running_cycles_per_s"], "engine": args.engine,
        "parameters_checked": stats["checked"],
        "simulator": build.tool, "build_s": build.build_s, "wall_s": time.perf_counter() - t0,
    }
    verdict = "meets" if report["meets_target"] else "MISSES"
    lines = [f"# On-chip learning on the RTL{' (the tiled core, ' + datapath + ')' if cfg.tiled else ''}: digits, "
             "from initial weights", "",
             "| figure | value |", "|---|---|",
             f"| training | {args.epochs} epochs x {n} samples = {steps:,} TRAIN commands (seed {args.seed}) |",
             f"| parameter codes compared with the golden model (every shadow, weight, bias after every step, "
             f"{stats['checked']}) | {report['parameter_codes_checked']:,} |",
             "| mismatches | 0 |",
             f"| RTL test accuracy, INFER with the weights the RTL learnt | {rtl_acc:.2%} ({verdict} the "
             f"{TARGET:.0%} target) |",
             f"| golden model accuracy with those weights | {golden_acc:.2%} |",
             f"| accuracy of the initial weights | {init_acc:.2%} |",
             f"| cycles per TRAIN step / per INFER ({datapath}), mean with early exit | "
             f"{report['cycles_per_train_step']:,.0f} / {report['cycles_per_inference']:,.0f} (every phase to its "
             f"limit: {model['train']:,} / {model['infer']:,}) |",
             f"| simulated cycles | {stats['sim_cycles']:,} |",
             "| simulated cycles per second, whole run"
             + (f" / while the hardware runs on its own | {report['simulated_cycles_per_s']:,.0f} / "
                f"{report['free_running_cycles_per_s']:,.0f} |" if report["free_running_cycles_per_s"] else
                f" (the harness alone) | {report['simulated_cycles_per_s']:,.0f} |"),
             f"| simulator, engine | {build.tool}, {args.engine} (`--engine`) |",
             f"| wall time: co-simulation, all | {stats['cosim_wall_s']:.0f} s, {report['wall_s']:.0f} s |"]
    print(write_report(args.out, report_name, report, lines))
    return 0


def _run_cocotb(cfg: HwConfig, sets: list[dict], sim: str, steps: int) -> tuple[dict, object]:
    """The cocotb testbench: parameters peeked from the memories after every step."""
    build = runner.build(cfg, sim=sim)
    run = runner.run(build, write_cases(cfg, sets, check="peek"), testcase="test_train/stalls=False",
                     progress="on-chip training")
    stats = next(s for s in run.stats if s["test"] == "train")
    final = golden.IntParams.from_shadow(cfg, [np.array(a) for a in stats["final"]["shadow"]],
                                         [np.array(b) for b in stats["final"]["biases"]])
    return {"results": stats["results"], "final": final, "train_cycles": stats["train_cycles"],
            "command_cycles": stats["command_cycles"], "sim_cycles": stats["sim_cycles"], "wall_s": stats["wall_s"],
            "cosim_wall_s": run.wall_s, "free_running_cycles_per_s": stats["wait_cycles"] / stats["wait_s"],
            "checked": "read through the bus" if cfg.tiled else "peeked from the memories"}, build


def _run_fast(cfg: HwConfig, sets: list[dict], sim: str, steps: int) -> tuple[dict, object]:
    """The Verilator C++ harness: parameters peeked from the memories after every step."""
    build = fast.build(cfg)
    t0 = time.perf_counter()
    run = fast.run(build, write_cases(cfg, sets, check="peek"), infer=False, train_params="each", name="sim-train",
                   progress="golden model's steps (then the harness runs them all)")
    return {"results": run.results, "final": run.final, "train_cycles": sum(run.command_cycles[:steps]),
            "command_cycles": sum(run.command_cycles), "sim_cycles": run.cycles, "wall_s": run.wall_s,
            "cosim_wall_s": time.perf_counter() - t0, "free_running_cycles_per_s": None,
            "checked": "read through the bus" if cfg.tiled else "peeked from the memories"}, build


if __name__ == "__main__":
    sys.exit(main())
