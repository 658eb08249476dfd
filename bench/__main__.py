"""``python -m bench`` (``make bench``): every performance figure of the project, each as a ratio to a
baseline measured in the same run, in ``results/bench.md`` and ``results/bench.json``.

1. Golden integer inference against torch float inference of the same 64-64-10 network (T = 30), on
   one thread each, batched.
2. Co-simulation speed (cocotb + Verilator, default design, INFER on digits images): simulated cycles
   per second with the testbench's Verilog clock while the hardware runs on its own, against cocotb's
   own clock throughout (the usual cocotb set-up) in the same run; and the same cases through the C++
   harness of `sim.fast` (no Python in the clock loop) against the cocotb run with the Verilog clock.
3. Cycles per inference against the MAC bound (T x the MAC cycles of one step) per lane count, from the
   cycle model, which the RTL's CYCLES register equals (checked by `make sim` and tests/rtl).
4. Peak training-step memory of EqProp against BPTT as T grows (a fresh process per point).
5. FPGA inferences per second of every design of ``make fpga`` that fits (Fmax from nextpnr's timing
   report / mean cycles per inference on the digits test split, with early exit and the weights `make
   fpga` trained), the default (INT8, P = 8, ECP5 25k) first, against torch float inference of the same
   network (T steps) on one CPU core of this machine, per sample (batch 1) and batched; and on-chip
   training samples per second (Fmax / mean TRAIN cycles) against torch EqProp training of the same
   network on one core, per sample and in minibatches of 32. Fmax and the cycles come from
   ``results/fpga.json`` when `make fpga` wrote it, else the default design is placed and routed here
   (and its cycles are the model's, every phase to its limit).

The deeper studies (accuracy, gradient checks, the precision sweep) are ``make bench-reference``,
``make bench-golden`` and ``make bench-cycles``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bench.cycles import LANES, model_rows
from bench.golden import _throughput
from eqprop.atomic import write_json_atomic, write_text_atomic
from eqprop.cli_support import UsageError, check_output_folder, guard, parser, positive_int
from eqprop.data import load_digits_split
from eqprop.eqpropnet import EqPropNet
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.quantise import config_from_net, quantise, quantise_input
from sim.__main__ import check_count, check_simulator
from sim.runner import SimError, ToolMissing

FPGA_RESULTS = Path("results") / "fpga.json"


def default_net(seed: int = 0) -> tuple[EqPropNet, HwConfig, object]:
    """An (untrained) EqPropNet of the default sizes and its INT8 quantisation: speed does not depend on
    the weights' values."""
    cfg = HwConfig()
    net = EqPropNet(sizes=list(cfg.sizes), free_steps=cfg.free_steps, generator=torch.Generator().manual_seed(seed))
    q = quantise(net, config_from_net(net))
    return net, q.cfg, q.params


def torch_rate(net: EqPropNet, x: np.ndarray, batch: int, seconds: float = 2.0) -> float:
    """Inferences per second of torch float inference (the free phase) at `batch` on one thread."""
    xt = torch.from_numpy(x).float()
    done, t0 = 0, time.perf_counter()
    with torch.no_grad():
        while time.perf_counter() - t0 < seconds:
            for i in range(0, len(xt), batch):
                net(xt[i:i + batch])
                done += len(xt[i:i + batch])
                if batch == 1 and done % 50 == 0 and time.perf_counter() - t0 >= seconds:
                    break
    return done / (time.perf_counter() - t0)


TRAIN_BATCH = 32    # torch EqProp training's minibatch (eqprop.train.TrainConfig's default)


def torch_train_rate(net: EqPropNet, x: np.ndarray, y: np.ndarray, batch: int, seconds: float = 2.0) -> float:
    """Training samples per second of torch EqProp training (free phase, nudged phases, the contrastive
    update and an SGD step, `EqPropNet.eqprop_step`) at `batch` on one thread."""
    xt = torch.from_numpy(x).float()
    target = torch.nn.functional.one_hot(torch.from_numpy(y).long(), net.sizes[-1]).float()
    opt = torch.optim.SGD([*net.weights, *net.biases], lr=0.01)
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for i in range(0, len(xt) - batch + 1, batch):
            net.eqprop_step(xt[i:i + batch], target[i:i + batch], opt)
            done += batch
            if time.perf_counter() - t0 >= seconds:
                break
    return done / (time.perf_counter() - t0)


def golden_vs_torch(net, cfg, params, x) -> dict:
    rate_int, rate_float = _throughput(cfg, params, net, x, repeats=5)
    return {"golden_per_s": rate_int, "torch_per_s": rate_float, "ratio": rate_int / rate_float}


def cosim_speed(cfg, params, x, n: int) -> dict:
    """INFER on `n` images with the Verilog clock while commands run, then with cocotb's clock throughout."""
    from eqprop.hw import golden
    from sim import runner
    from sim.cases import write_cases

    build = runner.build(cfg, sim="verilator")
    xq = quantise_input(cfg, x[:n])
    out = {"simulator": build.tool, "vectors": n}
    for key, free in (("verilog_clock", True), ("cocotb_clock", False)):
        cases = write_cases(cfg, params, xq, golden.encode_targets(cfg, np.zeros(n, dtype=int)), check="peek",
                            free_run=free)
        stats = next(s for s in runner.run(build, cases, testcase="test_infer/stalls=False").stats)
        out[key] = {"command_cycles_per_s": stats["wait_cycles"] / stats["wait_s"],
                    "whole_run_cycles_per_s": stats["sim_cycles"] / stats["wall_s"]}
    # the same cases through the C++ harness of sim.fast (no Python in the clock loop; the read-back after
    # loading is left out, as the cocotb runs peek), against the cocotb path with the Verilog clock
    from sim import fast as fastsim

    cases = write_cases(cfg, params, xq, golden.encode_targets(cfg, np.zeros(n, dtype=int)), check="peek")
    run = fastsim.run(fastsim.build(cfg), cases, train=False, name=f"bench-{n}")
    out["fast"] = {"whole_run_cycles_per_s": run.cycles / run.wall_s, "sim_cycles": run.cycles, "wall_s": run.wall_s}
    out["ratio_fast"] = out["fast"]["whole_run_cycles_per_s"] / out["verilog_clock"]["whole_run_cycles_per_s"]
    out["ratio"] = out["verilog_clock"]["command_cycles_per_s"] / out["cocotb_clock"]["command_cycles_per_s"]
    out["ratio_whole_run"] = (out["verilog_clock"]["whole_run_cycles_per_s"]
                              / out["cocotb_clock"]["whole_run_cycles_per_s"])
    return out


def cycles_vs_bound() -> list[dict]:
    return [{"P": r["P"], "cycles": r["infer"], "mac_bound": r["infer_bound"], "ratio": r["infer"] / r["infer_bound"]}
            for r in model_rows(HwConfig())]


def memory_vs_t() -> list[dict]:
    from bench.reference import measure_memory

    rows = measure_memory()
    by = {(r["method"], r["T"]): r["step_bytes"] for r in rows}
    return [{"T": t, "eqprop_bytes": by[("eqprop", t)], "bptt_bytes": by[("bptt", t)],
             "ratio": by[("bptt", t)] / by[("eqprop", t)]} for t in sorted({r["T"] for r in rows})]


DEFAULT_DESIGN = ("int8-p8", "ecp5")
FAMILY_NAMES = {"ecp5": "ECP5 25k", "ecp5-85k": "ECP5 85k", "ice40": "iCE40 UP5K"}


def fpga_designs(fpga_results: Path) -> list[dict]:
    """Every configuration and device that fits and has an Fmax in `fpga_results` (``make fpga``), the
    default design (INT8, P = 8, ECP5) first; when the file lacks the default design, it is placed and
    routed now."""
    designs = []
    if fpga_results.exists():
        data = json.loads(fpga_results.read_text())
        designs = [{**r, "source": str(fpga_results)} for r in data.get("results", [])
                   if r.get("fmax_mhz") and r.get("fits", True)]
    if not any((d.get("config"), d.get("family")) == DEFAULT_DESIGN for d in designs):
        from export.fpga import implement

        designs.append({**implement(*DEFAULT_DESIGN), "source": "place and route in this run"})
    return sorted(designs, key=lambda d: ((d["config"], d["family"]) != DEFAULT_DESIGN, d["config"], d["family"]))


def network_inputs(n_in: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs for torch's timing of a network of `n_in` inputs, as many as `x` (the digits images): `x`
    itself for 64 inputs, mnist5k test images (repeated) for 784, else uniform pixels. Torch computes
    every step whatever the input, so only the shape matters for the time; the images keep it honest."""
    if n_in == x.shape[1]:
        return x, y
    if n_in == 784:
        from eqprop.data import load_mnist5k_split

        d = load_mnist5k_split()
        idx = np.arange(len(x)) % len(d.x_test)
        return d.x_test[idx], d.y_test[idx]
    return np.random.default_rng(0).random((len(x), n_in), dtype=np.float32), y


def network_of(design: dict) -> tuple[tuple[int, ...], int]:
    """The sizes and free steps T of a design's network (the default's when the results do not say)."""
    hw = design.get("hwconfig", {})
    return tuple(hw.get("sizes", HwConfig().sizes)), hw.get("free_steps", HwConfig().free_steps)


def fpga_vs_torch(fpga: dict, torch1: float, torch_batch: float, train1: float | None = None,
                  train_batch: float | None = None) -> dict:
    """Inferences per second of one design (Fmax / cycles per inference) against torch float inference of
    the same network on one core, measured in this run; for a design that learns, training samples per
    second (Fmax / TRAIN cycles) against torch EqProp training likewise."""
    per_s = fpga["fmax_mhz"] * 1e6 / fpga["cycles_per_inference"]
    sizes, t = network_of(fpga)
    out = {"config": fpga.get("config", DEFAULT_DESIGN[0]), "family": fpga.get("family", DEFAULT_DESIGN[1]),
           "network": "-".join(map(str, sizes)) + f", T = {t}",
           "fmax_mhz": fpga["fmax_mhz"], "cycles_per_inference": fpga["cycles_per_inference"],
           "cycles_per_inference_max": fpga.get("cycles_per_inference_max"),
           "cycles_source": fpga.get("cycles_source", "cycle model, every phase to its limit"),
           "fpga_inferences_per_s": per_s, "torch_batch1_per_s": torch1, "torch_batched_per_s": torch_batch,
           "ratio_batch1": per_s / torch1, "ratio_batched": per_s / torch_batch, "source": fpga["source"]}
    learns = fpga.get("hwconfig", {}).get("learning", True)
    if learns and fpga.get("train_cycles") and train1:
        train_s = fpga["fmax_mhz"] * 1e6 / fpga["train_cycles"]
        out.update(train_cycles=fpga["train_cycles"], fpga_train_per_s=train_s, torch_train_batch1_per_s=train1,
                   torch_train_batched_per_s=train_batch, train_ratio_batch1=train_s / train1,
                   train_ratio_batched=train_s / train_batch)
    return out


def _ratio(r: float) -> str:
    """A ratio with two decimals, or two significant digits below 0.1 (so that 0.004x does not read 0.00x)."""
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def markdown(r: dict) -> str:
    g, c, f = r["golden_vs_torch"], r["cosim"], r.get("fpga")
    lines = ["# Performance bench", "", f"Machine: {r['machine']}. Every ratio's baseline is measured in this run.",
             "", "| figure | measured | baseline | ratio |", "|---|---|---|---|",
             f"| golden integer inference vs torch float (64-64-10, T = 30, batched, 1 thread) | "
             f"{g['golden_per_s']:,.0f} /s | {g['torch_per_s']:,.0f} /s | {g['ratio']:.2f}x |",
             f"| co-simulation while a command runs: Verilog clock vs cocotb clock | "
             f"{c['verilog_clock']['command_cycles_per_s']:,.0f} cycles/s | "
             f"{c['cocotb_clock']['command_cycles_per_s']:,.0f} cycles/s | {c['ratio']:.1f}x |",
             f"| co-simulation, whole run with bus traffic ({c['vectors']} INFER) | "
             f"{c['verilog_clock']['whole_run_cycles_per_s']:,.0f} cycles/s | "
             f"{c['cocotb_clock']['whole_run_cycles_per_s']:,.0f} cycles/s | {c['ratio_whole_run']:.1f}x |"]
    if "fast" in c:
        lines += [f"| co-simulation, whole run ({c['vectors']} INFER): C++ harness (sim.fast) vs cocotb with the "
                  f"Verilog clock | {c['fast']['whole_run_cycles_per_s']:,.0f} cycles/s | "
                  f"{c['verilog_clock']['whole_run_cycles_per_s']:,.0f} cycles/s | {c['ratio_fast']:.1f}x |"]
    lines += [f"| cycles per inference, P = {row['P']}, vs the MAC bound | {row['cycles']:,} | {row['mac_bound']:,} | "
              f"{row['ratio']:.3f}x |" for row in r["cycles"]]
    lines += [f"| training-step memory at T = {row['T']}: BPTT vs EqProp | {row['bptt_bytes'] / 2**20:.1f} MiB | "
              f"{row['eqprop_bytes'] / 2**20:.1f} MiB | {row['ratio']:.1f}x |" for row in r["memory"]]
    if f:
        for d in f:
            where = f"{d['config']} on {FAMILY_NAMES.get(d['family'], d['family'])}"
            most = d.get("cycles_per_inference_max")
            cyc = f"{d['cycles_per_inference']:,.0f} cycles" + (f" mean, {most:,.0f} max" if most else " (fixed T)")
            lines += [f"| FPGA {where} ({d['fmax_mhz']:.1f} MHz, {cyc}) vs torch float "
                      f"({d['network']}) on one core, batch 1 | {d['fpga_inferences_per_s']:,.0f} /s | "
                      f"{d['torch_batch1_per_s']:,.0f} /s | {_ratio(d['ratio_batch1'])} |",
                      f"| FPGA {where} vs torch float on one core, batched | {d['fpga_inferences_per_s']:,.0f} /s | "
                      f"{d['torch_batched_per_s']:,.0f} /s | {_ratio(d['ratio_batched'])} |"]
            if "fpga_train_per_s" in d:
                lines += [f"| FPGA {where} on-chip training ({d['train_cycles']:,.0f} cycles per sample) vs torch "
                          f"EqProp training on one core, batch 1 | {d['fpga_train_per_s']:,.0f} samples/s | "
                          f"{d['torch_train_batch1_per_s']:,.0f} samples/s | {_ratio(d['train_ratio_batch1'])} |",
                          f"| FPGA {where} on-chip training vs torch EqProp training on one core, minibatches of "
                          f"{TRAIN_BATCH} | {d['fpga_train_per_s']:,.0f} samples/s | "
                          f"{d['torch_train_batched_per_s']:,.0f} samples/s | {_ratio(d['train_ratio_batched'])} |"]
        lines += ["", f"Fmax source: {f[0]['source']} (nextpnr's timing report). Cycles: {f[0]['cycles_source']}; "
                  "the RTL's CYCLES register equals the cycle model on every input (make sim). Torch runs every "
                  "phase to its limit (T, K), as a float network has no exact fixed point to stop at."]
    else:
        lines += ["", f"FPGA figures: not measured ({r.get('fpga_error')})."]
    return "\n".join(lines) + "\n"


@guard("the bench", errors=(ToolMissing,), failures=(SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m bench", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results")
    ap.add_argument("--cosim-vectors", type=positive_int, default=20, help="INFER commands per clock (at most 360)")
    ap.add_argument("--fpga-results", default=str(FPGA_RESULTS), help="make fpga's results, reused when present")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory probes (tests)")
    args = ap.parse_args(argv)
    check_count("--cosim-vectors", args.cosim_vectors, 360, "the images of the digits test split")
    check_output_folder(args.out, files=("bench.md", "bench.json"))
    if os.path.isdir(args.fpga_results):
        raise UsageError(f"--fpga-results must be a file (make fpga's fpga.json), not the folder {args.fpga_results!r}")
    check_simulator("verilator")
    t0 = time.perf_counter()
    data = load_digits_split()
    x = np.concatenate([data.x_test] * 6).astype(np.float32)   # 2,160 rows for the throughput figures
    net, cfg, params = default_net()
    r: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 thread for numpy and torch"}
    with threadpool_limits(1), _torch_threads(1):
        print("golden vs torch throughput ...")
        # every step computed, as torch does (early exit would make the golden figure depend on the weights)
        r["golden_vs_torch"] = golden_vs_torch(net, cfg.replace(early_exit=False, acc_bits=cfg.acc_bits), params, x)
    print("co-simulation speed (Verilator) ...")
    r["cosim"] = cosim_speed(cfg, params, data.x_test, args.cosim_vectors)
    r["cycles"] = cycles_vs_bound()
    r["memory"] = [] if args.no_memory else memory_vs_t()
    print("FPGA designs against torch float inference of the same networks ...")
    try:
        r["fpga"], rates = [], {}
        for design in fpga_designs(Path(args.fpga_results)):
            key = network_of(design)
            if key not in rates:
                sizes, t = key
                other = EqPropNet(sizes=list(sizes), free_steps=t, generator=torch.Generator().manual_seed(0))
                xs, y = network_inputs(sizes[0], x, np.concatenate([data.y_test] * 6))
                with threadpool_limits(1), _torch_threads(1):
                    rates[key] = (torch_rate(other, xs[:200], batch=1), torch_rate(other, xs, batch=len(xs)),
                                  torch_train_rate(other, xs[:200], y[:200], batch=1),
                                  torch_train_rate(other, xs, y, batch=TRAIN_BATCH))
            r["fpga"].append(fpga_vs_torch(design, *rates[key]))
    except Exception as e:   # noqa: BLE001 - reported in the table, the other figures stand
        r["fpga"], r["fpga_error"] = None, f"{type(e).__name__}: {e}"
    r["lanes"], r["wall_s"] = list(LANES), time.perf_counter() - t0
    text = markdown(r)
    write_text_atomic(os.path.join(args.out, "bench.md"), text)
    write_json_atomic(os.path.join(args.out, "bench.json"), r)
    print(text)
    return 0


class _torch_threads:
    """torch.set_num_threads for a block (threadpoolctl does not reach torch's intra-op pool)."""

    def __init__(self, n: int):
        self.n, self.saved = n, torch.get_num_threads()

    def __enter__(self):
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


if __name__ == "__main__":
    sys.exit(main())
