"""Benchmark of the accelerator's cost in cycles: ``python -m bench.cycles`` (``make bench-cycles``).

For the default HwConfig (64 -> 64 -> 10, T = 30, K = 10) and P = 1, 4, 8, 16 MAC lanes:

- cycles per inference from the analytical model (`rtl.schedule.cycle_model`, every phase to its limit,
  with the cached input drive) next to the MAC bound T * ceil(MACs per step / P), and the lane
  utilisation (bound / cycles);
- cycles of one on-chip training step by phase (free, nudged, update) next to each phase's bound;
- the RTL's own CYCLES counter, from simulating `rtl.core.Core` in Amaranth's simulator, for the
  points listed in SIMULATE: it must equal the model exactly (FINN checks its RTL the same way), the
  model taken at the steps the golden model's phases took (early exit, `rtl.schedule.command_cycles`).

Writes ``results/cycles.md`` and ``results/cycles.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from amaranth.sim import Simulator
from tqdm.auto import tqdm

from eqprop.atomic import write_json_atomic, write_text_atomic
from eqprop.cli_support import check_output_folder, guard, parser
from eqprop.hw import golden
from eqprop.hw.formats import Mode, memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region
from rtl.core import Core
from rtl.schedule import cycle_model, inference_cycles, training_cycles

LANES = (1, 4, 8, 16)
SIMULATE = ((4, Mode.INFER), (8, Mode.INFER), (8, Mode.TRAIN), (16, Mode.INFER))  # (P, command)


def simulate_cycles(cfg: HwConfig, mode: Mode, seed: int = 0) -> tuple[int, int, float]:
    """Run one command on the RTL core; return its CYCLES counter, the model's cycles for the steps the
    golden model's phases take on the same input, and the wall time of the simulation."""
    params = golden.init_params(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, cfg.state_max + 1, cfg.sizes[0])
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], 1))[0]
    layout = memory_layout(cfg)
    dut = Core(cfg=cfg, params=params)
    out = {}
    limit = cycle_model(cfg)["train"] + 100

    async def tb(ctx):
        for a, word in enumerate(pack_region(layout["state.0"], x)):
            ctx.set(dut.input_mem[a], word)
        for a, word in enumerate(pack_region(layout[f"state.{cfg.n_layers}"], target)):
            ctx.set(dut.target_mem[a], word)
        for l, s in enumerate(cfg.lr_shifts):
            ctx.set(dut.lr_shift[l], s)
        ctx.set(dut.mode, mode)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(limit):  # a bounded wait: a hung design fails instead of hanging
            if ctx.get(dut.done):
                break
            await ctx.tick()
        assert ctx.get(dut.done), f"{mode.name} did not finish within {limit} cycles"
        out["cycles"] = ctx.get(dut.cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    t0 = time.perf_counter()
    sim.run()
    seconds = time.perf_counter() - t0
    if mode == Mode.INFER:
        model = int(inference_cycles(cfg, params, x[None, :])[0])
    else:
        model = int(training_cycles(cfg, params, x[None, :], target[None, :])[0][0])
    return out["cycles"], model, seconds


def model_rows(base: HwConfig) -> list[dict]:
    rows = []
    for p in LANES:
        cfg = base.replace(mac_lanes=p)
        m = cycle_model(cfg)
        bound_step = m["mac_bound_step"]
        n_nudged = 2 if cfg.estimator == "symmetric" else 1
        update_bound = -(-sum(cfg.sizes[l] * cfg.sizes[l + 1] for l in range(cfg.n_layers)) // p)
        rows.append({
            "P": p, "infer": m["infer"], "infer_bound": cfg.free_steps * bound_step,
            "utilisation": cfg.free_steps * bound_step / m["infer"],
            "free": m["infer"], "free_bound": cfg.free_steps * bound_step,
            "nudged": m["train"] - m["infer"] - m["update"], "nudged_bound": n_nudged * cfg.nudge_steps * bound_step,
            "update": m["update"], "update_bound": update_bound, "train": m["train"],
        })
    return rows


def report(cfg: HwConfig, rows: list[dict], sims: list[dict]) -> str:
    lines = ["# Accelerator cycles: analytical model, MAC bound and RTL simulation", "",
             f"Default HwConfig: sizes {cfg.sizes}, T = {cfg.free_steps}, K = {cfg.nudge_steps}, "
             f"{cfg.estimator} estimator, {cfg.macs_per_step()} MACs per relaxation step.", "",
             "## Cycles per inference", "",
             "| P | cycles (model) | MAC bound T*ceil(MACs/P) | lane utilisation |", "|---|---|---|---|"]
    lines += [f"| {r['P']} | {r['infer']:,} | {r['infer_bound']:,} | {r['utilisation']:.1%} |" for r in rows]
    lines += ["", "## One on-chip training step, by phase (model cycles / bound)", "",
              "| P | free phase | nudged phases | update | total |", "|---|---|---|---|---|"]
    lines += [f"| {r['P']} | {r['free']:,} / {r['free_bound']:,} | {r['nudged']:,} / {r['nudged_bound']:,} | "
              f"{r['update']:,} / {r['update_bound']:,} | {r['train']:,} |" for r in rows]
    lines += ["", "The update bound is one weight word per cycle (all weights / P).", "",
              "## RTL simulation against the model", "",
              "| P | command | CYCLES register | model | equal | simulated cycles/s (Amaranth pysim) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {s['P']} | {s['command']} | {s['rtl']:,} | {s['model']:,} | "
              f"{'yes' if s['rtl'] == s['model'] else 'NO'} | {s['rtl'] / s['seconds']:,.0f} |" for s in sims]
    return "\n".join(lines) + "\n"


@guard("the cycle benchmark")
def main(argv: list[str]) -> int:
    ap = parser("python -m bench.cycles", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results")
    ap.add_argument("--no-sim", action="store_true", help="the model only, no RTL simulation")
    args = ap.parse_args(argv)
    check_output_folder(args.out, files=("cycles.md", "cycles.json"))
    cfg = HwConfig()
    rows = model_rows(cfg)
    sims = []
    for p, mode in tqdm([] if args.no_sim else SIMULATE, desc="RTL simulation"):
        c = cfg.replace(mac_lanes=p)
        rtl, model, seconds = simulate_cycles(c, mode)
        sims.append({"P": p, "command": mode.name, "rtl": rtl, "model": model, "seconds": seconds})
    text = report(cfg, rows, sims)
    write_text_atomic(os.path.join(args.out, "cycles.md"), text)
    write_json_atomic(os.path.join(args.out, "cycles.json"), {"model": rows, "simulation": sims})
    print(text)
    return 1 if any(s["rtl"] != s["model"] for s in sims) else 0


if __name__ == "__main__":
    sys.exit(main())
