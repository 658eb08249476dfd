"""What every command-line entry point shares: its parser, the rules of its fields, and its error handling.

Every entry point (``python -m eqprop``, ``tracks``, ``export``, ``export.fpga``, ``export.bitstream``,
``sim``, ``sim.train``, ``sim.mnist``, ``sim.fast``, ``sim.fuzz``, ``sim.formal``, ``sim.runner``, ``bench``,
``bench.reference``, ``bench.golden``, ``bench.cycles``, ``bench.mnist``, ``eqprop.device``, ``sweep``, and the
internal ``eqprop.memprobe`` and ``sweep.trial``; ``tests/test_errors_contract.py`` finds them by walking the
packages and fails for one that is not wired) builds its parser with `parser`, takes counts and paths through
the argparse types below, checks its outputs with `check_output_folder` before the expensive work, and wraps
``main`` in `guard`. Then, as
``docs/errors.md`` promises:

- a bad argument, file or environment is one line, ``error: <what was wrong and how to fix it>``,
  and exit status 2 (argparse's own status for a bad command line; `EXIT_BAD_INPUT`);
- a run that completes and finds a failure (a track that crashed, a cycle count that differs)
  exits 1 (`EXIT_FAILED`), as does an unexpected internal error, with its one line;
- Ctrl-C exits 130 (`EXIT_INTERRUPTED`, the shell's 128 + SIGINT) with a line saying what stopped
  and that earlier outputs are untouched (every output goes through `eqprop.atomic`);
- a Python traceback is printed only with ``--debug`` or ``EQPROP_DEBUG=1``.

Ctrl-C is covered from the first instant, not only once ``main`` runs: each package of the project calls
`interrupt_early` from its ``__init__``, which Python imports before the entry point's own module when it
runs ``python -m package.module``, so a Ctrl-C during the heavy imports (torch, amaranth, Ray) is the same
one line and exit 130, and `guard` takes over when ``main`` starts. Imported as a library, nothing changes.

Messages follow the project's error style, ``"<name> must be <rule>, not {value!r}"``. Standard library
only, so the hardware package (``eqprop.hw``, kept free of torch) can use the rules too.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import math
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "Parser", "UsageError",
           "check_int", "check_memory", "check_output_folder", "debug_requested", "describe", "guard",
           "interrupt_early", "non_negative_int", "parser", "positive_float", "positive_int", "read_json_object",
           "seed_int"]

EXIT_OK = 0
EXIT_FAILED = 1          # the run finished and found a failure, or an unexpected internal error
EXIT_BAD_INPUT = 2       # a bad argument, file or environment (argparse uses 2 for a bad command line)
EXIT_INTERRUPTED = 130   # Ctrl-C: 128 + SIGINT, as the shell reports it

DEBUG_ENV = "EQPROP_DEBUG"


class UsageError(ValueError):
    """A bad argument, file or environment; the message is the whole error line (what and how to fix it)."""


# ------------------------------------------------------------------------------------------------
# rules of fields, written once


def check_int(name: str, value, *, lo: int | None = None, hi: int | None = None, rule: str | None = None) -> int:
    """`value` as an int in ``lo .. hi``; else ValueError ``"<name> must be <rule>, not <value>"``."""
    if rule is None:
        rule = ("a positive integer" if lo == 1 and hi is None else
                "a non-negative integer" if lo == 0 and hi is None else
                f"an integer in {lo} .. {hi}" if lo is not None and hi is not None else "an integer")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {rule}, not {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {rule}, not {value!r}")
    return value


def _int_type(rule: str, lo: int):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}")
        return value
    parse.__name__ = rule
    return parse


positive_int = _int_type("a positive integer", 1)
"""argparse type: an integer >= 1 (epochs, vectors, samples, seeds, threads)."""

non_negative_int = _int_type("a non-negative integer", 0)
"""argparse type: an integer >= 0 (a count where 0 means none)."""

SEED_MAX = 2**32 - 1     # numpy's and scikit-learn's random_state take seeds up to this


def seed_int(text: str) -> int:
    """argparse type: a seed, an integer in 0 .. 2**32 - 1 (what numpy and scikit-learn accept)."""
    value = non_negative_int(text)
    if value > SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in 0 .. {SEED_MAX} (the seeds numpy and scikit-learn "
                                         f"take), not {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (learning rates, strengths)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


# ------------------------------------------------------------------------------------------------
# files


def check_output_folder(path: str | os.PathLike, name: str = "--out", files: tuple[str, ...] = ()) -> Path:
    """Check, before any work, that folder `path` can be created (or exists) and written, and that none of
    `files` in it is a folder; creates nothing. Raises UsageError naming the problem and the fix."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{name} must be a folder, not the existing file {os.fspath(path)!r}; pass another {name}")
    probe = path.absolute()
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{name} {os.fspath(path)!r} cannot be created: {os.fspath(probe)!r} is a file, "
                         f"not a folder; pass another {name}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{name} {os.fspath(path)!r} cannot be written: no write permission in "
                         f"{os.fspath(probe)!r}; pass another {name} or fix the permissions")
    for f in files:
        if (path / f).is_dir():
            raise UsageError(f"{os.fspath(path / f)!r} is a folder, where this command writes a file; "
                             f"move it away or pass another {name}")
    return path


def read_json_object(path: str | os.PathLike, what: str = "configuration") -> dict:
    """A JSON object from a text file: a binary file, invalid JSON, NaN, a key given twice or a value that is
    not an object raises UsageError starting ``path:`` (``path:line:`` where a line is known)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    except MemoryError:
        raise UsageError(f"{path}: too large to read as a {what} (a JSON {what} is a few kilobytes)") from None
    try:
        if b"\0" in raw:
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: a binary file, not a JSON {what}; pass a text file holding a JSON "
                         "object") from None

    def pairs(items: list[tuple[str, object]]) -> dict:
        seen: dict = {}
        for k, v in items:
            if k in seen:
                raise UsageError(f"{path}: key {k!r} appears twice in the {what}; give each field once")
            seen[k] = v
        return seen

    def constant(name: str):
        raise UsageError(f"{path}: {name} is not a JSON number; write a finite number")

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
    except RecursionError:
        raise UsageError(f"{path}: the {what} is nested too deeply to read; it is a JSON object of a few "
                         "levels") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path}: the {what} must be a JSON object, not {type(value).__name__}")
    return value


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse, before allocating, work whose estimated memory `nbytes` exceeds what this machine has free."""
    available = _available_memory()
    if available is not None and nbytes > available:
        raise UsageError(f"{what} needs about {_gib(nbytes)} of memory and this machine has {_gib(available)} "
                         f"available; {fix}")


# ------------------------------------------------------------------------------------------------
# the parser and the guard around main


class Parser(argparse.ArgumentParser):
    """argparse with a ``--debug`` flag, one-line usage errors (``prog: error: ... (see prog --help)``) and the
    description and epilog printed as written (`argparse.RawDescriptionHelpFormatter`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)   # help as the docstring writes it
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true",
                          help=f"print Python tracebacks of errors (or set {DEBUG_ENV}=1)")

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser(prog: str, description: str | None = None, **kwargs) -> Parser:
    """The parser of an entry point (subcommands made with ``add_subparsers`` are `Parser`s too).

    The description and ``epilog`` are printed as written (`argparse.RawDescriptionHelpFormatter`), so an
    entry point's plain-text docstring, with its examples, is its help."""
    return Parser(prog=prog, description=description, **kwargs)


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


_HINTS = {
    errno.ENOENT: "check the path",
    errno.EACCES: "check its permissions",
    errno.EPERM: "check its permissions",
    errno.ENOSPC: "free some disk space",
    errno.EROFS: "write somewhere else",
    errno.EISDIR: "it is a folder; pass a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def describe(e: BaseException) -> str:
    """The error line of an exception: the message, with the file and a fix for an OSError."""
    if isinstance(e, MemoryError):
        return "out of memory; use smaller sizes or fewer vectors"
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        hint = _HINTS.get(e.errno or 0)
        return f"{where}{e.strerror}" + (f" ({hint})" if hint else "")
    text = str(e).strip()
    if isinstance(e, KeyError) and e.args:
        text = f"missing key {e.args[0]!r}"
    return text or type(e).__name__


def _first_line(text: str) -> str:
    """An unexpected error's text cut to one line (a library's message can run to many; --debug shows all)."""
    if "\n" not in text:
        return text
    return text.splitlines()[0].rstrip(" :") + " (the rest with --debug)"


def _interrupted_early(signum, frame) -> None:
    """SIGINT before (or after) `guard`'s ``main``: the process is importing, nothing of the command's is open."""
    sys.stderr.write("interrupted: stopped at Ctrl-C while starting or ending, outside the command's work; "
                     "outputs written before it are untouched\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)      # no traceback, no half-finished import to unwind


def interrupt_early() -> None:
    """Make a Ctrl-C before the entry point's ``main`` one line and exit 130, not a traceback from an import.

    Each package's ``__init__`` calls this. It acts only when Python is running a module with ``-m`` (then,
    while it imports the module's packages, ``sys.argv[0]`` is ``"-m"``) and only in the main thread, so a
    program that imports the project as a library keeps its own SIGINT handling. `guard` puts Python's
    KeyboardInterrupt back while ``main`` runs.
    """
    if sys.argv[:1] != ["-m"] or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_early)


def _take_sigint():
    """While ``main`` runs, Ctrl-C raises KeyboardInterrupt again (the guard's line names the work)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is _interrupted_early:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return _interrupted_early
    return None


def guard(what: str, *, errors: tuple[type[BaseException], ...] = (),
          failures: tuple[type[BaseException], ...] = ()):
    """Decorate an entry point's ``main(argv) -> int`` with the error handling of this module.

    `what` names the work for the Ctrl-C line ("the co-simulation"); `errors` are the entry point's
    own exception types for bad input or a missing tool, exit 2 (ValueError, OSError and UsageError
    always are); `failures` those of a check that failed (a mismatch, a tool that broke), exit 1.
    """
    input_errors = (ValueError, OSError, MemoryError, *errors)

    def decorate(fn):
        @functools.wraps(fn)
        def main(argv: list[str] | None = None) -> int:
            argv = sys.argv[1:] if argv is None else list(argv)
            debug = debug_requested(argv)
            early = _take_sigint()
            try:
                return fn(argv)
            except KeyboardInterrupt:
                if debug:
                    traceback.print_exc()
                print(f"interrupted: {what} stopped at Ctrl-C; outputs written before it are untouched "
                      "(each file is replaced whole or not at all)", file=sys.stderr)
                return EXIT_INTERRUPTED
            except Exception as e:   # every error becomes its line; the traceback only when asked for
                if debug:
                    traceback.print_exc()
                if isinstance(e, input_errors):
                    print(f"error: {describe(e)}", file=sys.stderr)
                    return EXIT_BAD_INPUT
                if isinstance(e, failures):
                    print(f"error: {describe(e)}", file=sys.stderr)
                    return EXIT_FAILED
                print(f"error: {type(e).__name__}: {_first_line(describe(e))} (an unexpected error: rerun with "
                      "--debug for the traceback and report it)", file=sys.stderr)
                return EXIT_FAILED
            finally:
                if early is not None:
                    signal.signal(signal.SIGINT, early)
        main.guarded = what          # tests/test_errors_contract.py checks that every entry point's main has it
        return main
    return decorate
