"""``python -m sim`` (``make sim``): the default design co-simulated on the digits test split.

1. Train a float `EqPropNet` of the default HwConfig's size on digits (on the fly, about 20 s) and
   quantise it to the default INT8 configuration.
2. Export its Verilog and build it under Verilator (`sim.runner`; cached per configuration).
3. Run INFER on the RTL for every test image through the AXI4-Lite bus (`sim.tb_accel.run_infer`):
   every state of every layer, RESULT, CYCLES and STEPS are compared with the golden model bit for
   bit; the first mismatch stops the run with its case, layer, index, expected and actual values.
4. Print vectors compared, mismatches, cycles per inference, simulated cycles per second, and RTL
   accuracy next to golden and float accuracy; write ``results/rtl_vs_float.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from eqprop import golden
from eqprop.data import load_digits_split
from eqprop.hwconfig import HwConfig
from eqprop.quantise import config_from_net, quantise, quantise_input
from eqprop.train import TrainConfig, fit, write_json_atomic
from sim import runner
from sim.tb_accel import write_cases


def per_layer_error(cfg: HwConfig, params: golden.IntParams, net, x_codes: np.ndarray) -> list[float]:
    """Mean |s_int - s_float| per state layer after the free phase; both see the same quantised inputs."""
    ints = golden.relax(cfg, params, x_codes, steps=cfg.free_steps)
    with torch.no_grad():
        floats = net.free_phase(torch.from_numpy(x_codes / 2.0 ** cfg.state_bits).float())
    return [float(np.abs(i / 2.0 ** cfg.state_bits - f.numpy()).mean()) for i, f in zip(ints, floats, strict=True)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=int, default=None, help="test images to co-simulate (default: all 360)")
    ap.add_argument("--epochs", type=int, default=30, help="float training epochs")
    ap.add_argument("--out", default="results")
    ap.add_argument("--waves", action="store_true", help="write a waveform (make sim WAVES=1)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = load_digits_split()
    hidden = list(HwConfig().sizes[1:-1])
    print(f"training float EqPropNet {[data.n_in, *hidden, data.n_classes]} on digits ({args.epochs} epochs) ...")
    learner, metrics = fit(TrainConfig(model="eqprop", hidden=hidden, epochs=args.epochs), data, log=None)
    net = learner.model
    q = quantise(net, config_from_net(net))
    cfg, params = q.cfg, q.params
    x_test = data.x_test[:args.vectors] if args.vectors else data.x_test
    y_test = data.y_test[:len(x_test)]
    xq = quantise_input(cfg, x_test)
    print(f"building the Verilog of {cfg.sizes}, P = {cfg.mac_lanes}, under Verilator ...")
    build = runner.build(cfg, waves=args.waves)
    print(f"co-simulating {len(xq)} test images (INFER, every state compared with the golden model) ...")
    run = runner.run(build, write_cases(cfg, params, xq, golden.encode_targets(cfg, y_test)),
                     testcase="test_infer/stalls=False", waves=args.waves)
    stats = next(s for s in run.stats if s["test"] == "infer")
    rtl_pred = np.array(stats["results"])
    golden_pred = golden.predict(cfg, params, xq)
    with torch.no_grad():
        # the float network sees the same quantised inputs as the RTL, so the gap is the datapath's alone
        float_pred = net.predict(torch.from_numpy(xq / 2.0 ** cfg.state_bits).float()).numpy()
    cycles = stats["command_cycles"] // len(xq)
    report = {
        "vectors": len(xq), "mismatches": 0, "bit_exact": True,  # run_infer stops at the first mismatch
        "rtl_accuracy": float((rtl_pred == y_test).mean()), "golden_accuracy": float((golden_pred == y_test).mean()),
        "float_accuracy": float((float_pred == y_test).mean()),
        "float_accuracy_float_inputs": metrics["final_test_acc"],
        "rtl_equals_golden_predictions": bool((rtl_pred == golden_pred).all()),
        "per_layer_mean_abs_error_vs_float": per_layer_error(cfg, params, net, xq),
        "cycles_per_inference": cycles, "simulated_cycles": stats["sim_cycles"], "sim_wall_s": stats["wall_s"],
        "simulated_cycles_per_s": stats["sim_cycles"] / stats["wall_s"],
        "hwconfig": {"sizes": list(cfg.sizes), "state_bits": cfg.state_bits, "weight_format": cfg.weight_format,
                     "weight_bits": cfg.weight_bits, "mac_lanes": cfg.mac_lanes, "free_steps": cfg.free_steps},
        "wall_s": time.perf_counter() - t0,
    }
    lines = ["# RTL against float: the default design co-simulated on the digits test split", "",
             "| figure | value |", "|---|---|",
             f"| vectors compared (every state, RESULT, CYCLES, STEPS) | {report['vectors']} |",
             f"| mismatches | {report['mismatches']} |",
             f"| cycles per inference (P = {cfg.mac_lanes}) | {cycles:,} |",
             f"| simulated cycles per second (cocotb + Verilator) | {report['simulated_cycles_per_s']:,.0f} |",
             f"| RTL accuracy | {report['rtl_accuracy']:.2%} |",
             f"| golden model accuracy | {report['golden_accuracy']:.2%} |",
             f"| float accuracy (same quantised inputs) | {report['float_accuracy']:.2%} |",
             "| mean abs state error vs float, per layer | "
             + ", ".join(f"{e:.4f}" for e in report["per_layer_mean_abs_error_vs_float"]) + " |",
             f"| wall time of `make sim` (build cached or not) | {report['wall_s']:.0f} s |", ""]
    text = "\n".join(lines)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "rtl_vs_float.md"), "w") as f:
        f.write(text)
    write_json_atomic(os.path.join(args.out, "rtl_vs_float.json"), report)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
