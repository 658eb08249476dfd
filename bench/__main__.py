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
   report / mean cycles per inference on the test split, with early exit and the weights `make fpga`
   trained), the default (INT8, P = 8, ECP5 25k) first, against torch float inference of the same
   network measured in this run. The headline ratio, ``ratio_careful``, is against the careful baseline
   on one thread (`bench.careful`): float32, batched, the input drive computed once per batch, the free
   phase stopped where the chip stops it (its mean free steps on the same test split, rounded up) or at
   the first step that changes no state in the batch, whichever runs faster (``careful.*_method`` says
   which); ``ratio_careful_all_threads`` is the same on every core. Beside it the careful network's test
   accuracy and the naive forward's (within one test image, or the report says not). The naive baseline
   (`EqPropNet.forward`: the drive recomputed at every one of T steps, all T run) stays as a second
   column, per sample and batched on one core. On-chip training samples per second (Fmax / mean TRAIN
   cycles) against careful torch EqProp training in minibatches of 32 (the drive once per minibatch,
   each phase at the chip's mean steps: ``train_ratio_careful``, ``_all_threads``) and the naive trainer.
   The torch networks are trained here (float EqProp, `careful.train`): 64-input ones on digits,
   784-input ones on mnist5k. Fmax and the cycles come from ``results/fpga.json`` when `make fpga` wrote
   it; else the default design is measured here as `make fpga` measures it (`export.fpga.implement` with
   its seed and router, `golden_accuracy`'s mean cycles with early exit on the digits test split).

The deeper studies (accuracy, gradient checks, the precision sweep) are ``make bench-reference``,
``make bench-golden`` and ``make bench-cycles``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bench import careful
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
TILED_RESULTS = Path("results") / "tiled.json"     # `make fpga-tiled` (export.tiled): the tiled core


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


TRAIN_BATCH = careful.TRAIN_BATCH    # torch EqProp training's minibatch (eqprop.train.TrainConfig's default)


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


def fpga_designs(fpga_results: Path, tiled_results: Path | None = None) -> list[dict]:
    """Every configuration and device that fits and has an Fmax in `fpga_results` (``make fpga``) and in
    `tiled_results` (``make fpga-tiled``, the tiled core, when the file exists), the default design
    (INT8, P = 8, ECP5) first; when `fpga_results` lacks the default design, it is measured now
    as ``make fpga`` measures it (`export.fpga.implement` with the configuration's seed and router of
    `export.fpga.SEEDS` and `ROUTERS`, then the mean cycles with early exit on the digits test split of
    `export.fpga.golden_accuracy`, `with_measured_cycles`), so both commands report the same design."""
    designs = []
    for path in (fpga_results, tiled_results):
        if path is not None and path.exists():
            data = json.loads(path.read_text())
            designs += [{**r, "source": str(path)} for r in data.get("results", [])
                        if r.get("fmax_mhz") and r.get("fits", True)]
    if not any((d.get("config"), d.get("family")) == DEFAULT_DESIGN for d in designs):
        from export.fpga import golden_accuracy, implement, with_measured_cycles

        print(f"{DEFAULT_DESIGN[0]} on {DEFAULT_DESIGN[1]}: not in {fpga_results}; placing and routing it as make fpga "
              "does (up to twenty minutes), then its cycles on the digits test split ...", flush=True)
        placed = implement(*DEFAULT_DESIGN)
        designs.append({**with_measured_cycles(placed, golden_accuracy(DEFAULT_DESIGN[0], progress=False)),
                        "source": "place and route in this run"})
    return sorted(designs, key=lambda d: ((d["config"], d["family"]) != DEFAULT_DESIGN, d["config"], d["family"]))


def chip_steps_of(design: dict, measured: dict) -> tuple[int | None, dict | None]:
    """Where the chip stops each phase, rounded up: the mean free steps on the test split and, for a core
    that learns, the mean steps of each TRAIN phase (``make fpga``'s `export.fpga.golden_accuracy`). A
    results file from before these figures: measured now with the same function (once per configuration,
    cached in `measured`); (None, None) for a configuration that `export.fpga.CONFIGS` does not name."""
    from export.fpga import CONFIGS, golden_accuracy

    name = design.get("config")
    if design.get("free_steps_mean") is None:
        if name not in CONFIGS:
            return None, None
        if name not in measured:
            print(f"{name}: the chip's mean steps are not in the results; training it on the golden model "
                  "to measure them ...", flush=True)
            measured[name] = golden_accuracy(name, progress=False)
        design = {**design, "free_steps_mean": measured[name]["infer_free_steps_mean"],
                  "train_phase_steps_mean": measured[name].get("train_phase_steps_mean")}
    train = design.get("train_phase_steps_mean")
    return (careful.chip_steps(design["free_steps_mean"]),
            {k: careful.chip_steps(v) for k, v in train.items()} if train else None)


NETWORK_DATA = {64: "digits", 784: "mnist5k"}   # the data set each input width is trained and tested on
NETWORK_EPOCHS = {"digits": 10, "mnist5k": 3}     # float EqProp epochs of the torch network (seconds to a minute)


def torch_network(sizes: tuple[int, ...], t: int):
    """The float network torch times for designs of `sizes` and T = `t`, trained on its data set of
    `NETWORK_DATA` (`careful.train`; the test accuracies beside the speed are its), and that data set
    (an `eqprop.data.Split`); an untrained network and None for an input width without one."""
    from eqprop.data import load_dataset

    name = NETWORK_DATA.get(sizes[0])
    if name is None:
        return EqPropNet(sizes=list(sizes), free_steps=t, generator=torch.Generator().manual_seed(0)), None
    data = load_dataset(name)
    with careful.torch_threads(careful.ALL_THREADS):
        net = careful.train(list(sizes), t, data.x_train, data.y_train, epochs=NETWORK_EPOCHS[name])
    return net, data


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
                  train_batch: float | None = None, careful_infer: dict | None = None,
                  careful_train: dict | None = None) -> dict:
    """Inferences per second of one design (Fmax / cycles per inference) against torch float inference of
    the same network measured in this run: the careful baseline (`careful_infer`, `careful.inference_rates`:
    ``ratio_careful`` on one thread, the headline, and ``ratio_careful_all_threads``) and the naive forward
    on one core (``ratio_batch1``, ``ratio_batched``); for a design that learns, training samples per second
    (Fmax / TRAIN cycles) against torch EqProp training likewise (``train_ratio_careful`` and
    ``_all_threads`` against `careful_train`, `careful.train_rates`; ``train_ratio_batch1`` and ``_batched``
    against the naive trainer)."""
    per_s = fpga["fmax_mhz"] * 1e6 / fpga["cycles_per_inference"]
    sizes, t = network_of(fpga)
    out = {"config": fpga.get("config", DEFAULT_DESIGN[0]), "family": fpga.get("family", DEFAULT_DESIGN[1]),
           "network": "-".join(map(str, sizes)) + f", T = {t}",
           "fmax_mhz": fpga["fmax_mhz"], "cycles_per_inference": fpga["cycles_per_inference"],
           "cycles_per_inference_max": fpga.get("cycles_per_inference_max"),
           "cycles_source": fpga.get("cycles_source", "cycle model, every phase to its limit"),
           "fpga_inferences_per_s": per_s, "torch_batch1_per_s": torch1, "torch_batched_per_s": torch_batch,
           "ratio_batch1": per_s / torch1, "ratio_batched": per_s / torch_batch, "source": fpga["source"],
           "seed": fpga.get("seed"), "router": fpga.get("router")}
    if careful_infer:
        out.update(careful=careful_infer, torch_careful_per_s=careful_infer["one_thread"],
                   torch_careful_all_threads_per_s=careful_infer["all_threads"],
                   ratio_careful=per_s / careful_infer["one_thread"],
                   ratio_careful_all_threads=per_s / careful_infer["all_threads"])
    learns = fpga.get("hwconfig", {}).get("learning", True)
    if learns and fpga.get("train_cycles") and train1:
        train_s = fpga["fmax_mhz"] * 1e6 / fpga["train_cycles"]
        out.update(train_cycles=fpga["train_cycles"], fpga_train_per_s=train_s, torch_train_batch1_per_s=train1,
                   torch_train_batched_per_s=train_batch, train_ratio_batch1=train_s / train1,
                   train_ratio_batched=train_s / train_batch)
        if careful_train:
            out.update(careful_train=careful_train, torch_train_careful_per_s=careful_train["one_thread"],
                       torch_train_careful_all_threads_per_s=careful_train["all_threads"],
                       train_ratio_careful=train_s / careful_train["one_thread"],
                       train_ratio_careful_all_threads=train_s / careful_train["all_threads"])
    return out


def fpga_figures(designs: list[dict], x: np.ndarray, y: np.ndarray) -> tuple[list[dict], list[dict]]:
    """Each design against torch in this run (`fpga_vs_torch`), and the careful baselines measured for them,
    one per network and chip step count: its test accuracy beside the naive forward's (`careful.accuracy`)
    and its speeds. `x`, `y`: the rows of the digits throughput batch (other input widths: `network_inputs`)."""
    out, baselines, nets, naive, timed, measured = [], [], {}, {}, {}, {}
    for design in designs:
        key = network_of(design)
        sizes, t = key
        if key not in nets:
            print(f"torch: training {'-'.join(map(str, sizes))} (T = {t}) and timing its naive forward ...", flush=True)
            nets[key] = torch_network(sizes, t)
            xs, ys = network_inputs(sizes[0], x, y)
            net = nets[key][0]
            with careful.torch_threads(1):
                naive[key] = (torch_rate(net, xs[:200], batch=1), torch_rate(net, xs, batch=len(xs)),
                              torch_train_rate(copy.deepcopy(net), xs[:200], ys[:200], batch=1),
                              torch_train_rate(copy.deepcopy(net), xs, ys, batch=TRAIN_BATCH))
        net, split = nets[key]
        free, train = chip_steps_of(design, measured)
        ckey = (key, free, tuple(sorted(train.items())) if train else None)
        if ckey not in timed:
            print(f"torch: careful baseline of {'-'.join(map(str, sizes))}, the chip's {free} free steps "
                  f"and the fixed-point stop, one thread and {careful.ALL_THREADS} ...", flush=True)
            xs, ys = network_inputs(sizes[0], x, y)
            base = {"network": "-".join(map(str, sizes)) + f", T = {t}", "dataset": split.name if split else None,
                    "chip_free_steps": free, "chip_train_steps": train,
                    "accuracy": careful.accuracy(net, split.x_test, split.y_test, free) if split else None,
                    "infer": careful.inference_rates(net, xs, free),
                    "train": careful.train_rates(net, xs, ys, train) if train else None}
            timed[ckey] = base
            baselines.append(base)
            acc = base["accuracy"]
            if acc and not all(acc.get(f"{k}_within_one_image", True) for k in ("chip_steps", "fixed_point")):
                print(f"WARNING: the careful baseline of {base['network']} is not within one test image of the "
                      f"naive forward's accuracy: {acc}", flush=True)
        base = timed[ckey]
        out.append(fpga_vs_torch(design, *naive[key], careful_infer=base["infer"], careful_train=base["train"]))
    return out, baselines


def _careful_how(c: dict, key: str) -> str:
    """How the careful baseline ran on `key` ("one_thread", "all_threads"): the stop it used."""
    if c[f"{key}_method"] == "chip_steps":
        return f"drive once, the chip's {c['chip_steps']} steps"
    return f"drive once, fixed-point stop ({c['fixed_point_steps']} steps)"


def _careful_table(baselines: list[dict]) -> list[str]:
    """The careful baselines: test accuracy beside the naive forward's, and both stops' speeds."""
    if not baselines:
        return []
    lines = ["", "## The careful torch baseline", "",
             "| network | data | naive forward (T) | chip's steps | fixed-point stop | within one image | "
             "one thread: chip's steps / fixed point | all threads: chip's steps / fixed point | "
             f"training, minibatches of {TRAIN_BATCH}, one / all threads |", "|---|---|---|---|---|---|---|---|---|"]
    for b in baselines:
        a, i, t = b["accuracy"], b["infer"], b["train"]

        def acc(k, a=a):
            return f"{100 * a[f'{k}_acc']:.2f}%" if a and f"{k}_acc" in a else "-"

        within = ("-" if not a else "yes" if all(a.get(f"{k}_within_one_image", True)
                                                 for k in ("chip_steps", "fixed_point")) else "**no**")

        def rates(key, i=i):
            chip = i.get(f"{key}_chip_steps_per_s")
            return (f"{chip:,.0f}" if chip else "-") + f" / {i[f'{key}_fixed_point_per_s']:,.0f} /s"

        lines.append(f"| {b['network']} | {b['dataset'] or 'uniform pixels'} | {acc('naive')} | "
                     f"{acc('chip_steps')} ({b['chip_free_steps']} steps) | {acc('fixed_point')} "
                     f"({i['fixed_point_steps']} steps) | {within} | {rates('one_thread')} | {rates('all_threads')} | "
                     + (f"{t['one_thread']:,.0f} / {t['all_threads']:,.0f} samples/s |" if t else "- |"))
    return lines


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
            fpga_s = f"{d['fpga_inferences_per_s']:,.0f} /s"
            if "ratio_careful" in d:
                c = d["careful"]
                lines += [f"| FPGA {where} ({d['fmax_mhz']:.1f} MHz, {cyc}) vs careful torch ({d['network']}: "
                          f"{_careful_how(c, 'one_thread')}), one thread | {fpga_s} | "
                          f"{d['torch_careful_per_s']:,.0f} /s | **{_ratio(d['ratio_careful'])}** |",
                          f"| FPGA {where} vs careful torch ({_careful_how(c, 'all_threads')}), "
                          f"{c['threads']['all_threads']} threads | {fpga_s} | "
                          f"{d['torch_careful_all_threads_per_s']:,.0f} /s | "
                          f"{_ratio(d['ratio_careful_all_threads'])} |"]
            else:
                lines += [f"| FPGA {where} ({d['fmax_mhz']:.1f} MHz, {cyc}) vs careful torch ({d['network']}) | "
                          f"{fpga_s} | not measured | - |"]
            lines += [f"| FPGA {where} vs naive torch (EqPropNet.forward, every step), one thread, batch 1 | "
                      f"{fpga_s} | {d['torch_batch1_per_s']:,.0f} /s | {_ratio(d['ratio_batch1'])} |",
                      f"| FPGA {where} vs naive torch, one thread, batched | {fpga_s} | "
                      f"{d['torch_batched_per_s']:,.0f} /s | {_ratio(d['ratio_batched'])} |"]
            if "fpga_train_per_s" in d:
                train_s = f"{d['fpga_train_per_s']:,.0f} samples/s"
                if "train_ratio_careful" in d:
                    steps = ", ".join(f"{k} {v}" for k, v in d["careful_train"]["steps"].items())
                    lines += [f"| FPGA {where} on-chip training ({d['train_cycles']:,.0f} cycles per sample) vs "
                              f"careful torch EqProp training (minibatches of {TRAIN_BATCH}, drive once, steps: "
                              f"{steps}), one thread | {train_s} | {d['torch_train_careful_per_s']:,.0f} samples/s | "
                              f"**{_ratio(d['train_ratio_careful'])}** |",
                              f"| FPGA {where} on-chip training vs careful torch EqProp training, "
                              f"{d['careful']['threads']['all_threads'] if 'careful' in d else 'all'} threads | "
                              f"{train_s} | {d['torch_train_careful_all_threads_per_s']:,.0f} samples/s | "
                              f"{_ratio(d['train_ratio_careful_all_threads'])} |"]
                lines += [f"| FPGA {where} on-chip training ({d['train_cycles']:,.0f} cycles per sample) vs naive "
                          f"torch EqProp training, one thread, batch 1 | {train_s} | "
                          f"{d['torch_train_batch1_per_s']:,.0f} samples/s | {_ratio(d['train_ratio_batch1'])} |",
                          f"| FPGA {where} on-chip training vs naive torch EqProp training, one thread, minibatches "
                          f"of {TRAIN_BATCH} | {train_s} | "
                          f"{d['torch_train_batched_per_s']:,.0f} samples/s | {_ratio(d['train_ratio_batched'])} |"]
        placed = f", nextpnr seed {f[0]['seed']}, {f[0]['router'] or 'router1'}" if f[0].get("seed") is not None else ""
        lines += ["", f"Fmax source: {f[0]['source']} (nextpnr's timing report{placed}). "
                  f"Cycles: {f[0]['cycles_source']}; "
                  "the RTL's CYCLES register equals the cycle model on every input (make sim).", "",
                  "The headline ratio (bold) is against the careful torch baseline on one thread: float32, batched, "
                  "the input drive x W_0^T + b_0 computed once per batch, the free phase stopped where the chip "
                  "stops it (the chip's mean free steps on the test split, rounded up) or at the first step that "
                  "changes no state in the batch, whichever ran faster (bench/careful.py). The naive baseline, "
                  "EqPropNet.forward (the drive recomputed at each of T steps, every step run), stays for continuity."]
        lines += _careful_table(r.get("careful") or [])
    else:
        lines += ["", f"FPGA figures: not measured ({r.get('fpga_error')})."]
    return "\n".join(lines) + "\n"


@guard("the bench", errors=(ToolMissing,), failures=(SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m bench", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results")
    ap.add_argument("--cosim-vectors", type=positive_int, default=20, help="INFER commands per clock (at most 360)")
    ap.add_argument("--fpga-results", default=str(FPGA_RESULTS), help="make fpga's results, reused when present")
    ap.add_argument("--tiled-results", default=str(TILED_RESULTS),
                    help="make fpga-tiled's results (the tiled core), added when present")
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
        r["fpga"], r["careful"] = fpga_figures(fpga_designs(Path(args.fpga_results), Path(args.tiled_results)), x,
                                               np.concatenate([data.y_test] * 6))
    except Exception as e:   # noqa: BLE001 - reported in the table, the other figures stand
        r["fpga"], r["careful"], r["fpga_error"] = None, [], f"{type(e).__name__}: {e}"
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
