"""The error contract of issue 30, class by class: every entry point wired to `eqprop.cli_support`, numbers that
bound work, inputs validated before work, messages in the project's words, and the sweep's store and cluster.

Each case runs an entry point's ``main(argv)`` in this process (or a library function) on tiny inputs and checks
the exit status, one line on stderr, no traceback, and that earlier outputs are byte for byte as they were.
`test_every_entry_point_is_wired` finds the entry points itself (every module of the project's packages that
runs as ``python -m``), so one added later without `guard` fails it.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eqprop", "sim", "export", "sweep", "tracks", "bench", "rtl")


def entry_points() -> list[str]:
    """Every module of the project's packages that runs as ``python -m``: a package's ``__main__.py`` and any
    module with an ``if __name__ == "__main__":`` block (found by reading the files, not by a list)."""
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if re.search(r'^if __name__ == ["\']__main__["\']:', path.read_text(), re.M) or path.name == "__main__.py":
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def _main_of(module: str):
    mod = importlib.import_module(module)
    if module.endswith(".__main__") and not hasattr(mod, "main"):
        raise AssertionError(f"{module} has no main")
    return mod.main


def call(main, argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:          # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, out: str, err: str, status: int, message: str) -> None:
    assert code == status, (code, out, err)
    assert "Traceback" not in out + err, err
    assert message in err, err
    assert err.count("\n") == 1, f"one line, not:\n{err}"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------
# 2. every entry point uses eqprop.cli_support


def test_the_walk_finds_the_entry_points():
    found = set(entry_points())
    assert {"sim.fuzz", "sim.formal", "sweep.__main__", "eqprop.device.__main__", "export.__main__",
            "eqprop.__main__", "bench.__main__"} <= found
    assert len(found) >= 20


@pytest.mark.parametrize("module", entry_points())
def test_every_entry_point_is_wired(module, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)       # a default output folder would land here
    main = _main_of(module)
    assert getattr(main, "guarded", None), f"{module}.main is not wrapped in eqprop.cli_support.guard"
    code, out, err = call(main, ["--no-such-option"], capsys)
    one_line(code, out, err, 2, "error:")
    assert "(see python -m " in err, f"{module} does not build its parser with eqprop.cli_support.parser: {err}"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_imports_is_one_line_and_exit_130():
    """SIGINT while ``python -m sim`` imports numpy (after its package's ``__init__``, before ``main``)."""
    code = ("import importlib.abc, os, runpy, signal, sys\n"
            "class Interrupt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'numpy':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "sys.argv = ['-m', '--vectors', '1']        # as python -m has it while it imports the package\n"
            "runpy.run_module('sim', run_name='__main__', alter_sys=True)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("interrupted: stopped at Ctrl-C"), r.stderr


def test_a_library_import_keeps_its_own_sigint_handling():
    code = "import signal, eqprop, sim, sweep; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.stdout.strip() == "True", r.stderr


def test_guard_hands_ctrl_c_to_main_and_back(monkeypatch, capsys):
    import signal

    from eqprop import cli_support

    monkeypatch.setattr(sys, "argv", ["-m"])
    old = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cli_support.interrupt_early()
        assert signal.getsignal(signal.SIGINT) is cli_support._interrupted_early

        @cli_support.guard("the work")
        def main(argv):
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            raise KeyboardInterrupt
        assert main([]) == 130
        assert capsys.readouterr().err.startswith("interrupted: the work stopped at Ctrl-C")
        assert signal.getsignal(signal.SIGINT) is cli_support._interrupted_early
    finally:
        signal.signal(signal.SIGINT, old)


def test_fuzz_and_formal_outputs_onto_a_file(tmp_path, capsys):
    from sim import formal, fuzz

    f = tmp_path / "afile"
    f.write_text("mine\n")
    one_line(*call(fuzz.main, ["--count", "1", "--out", str(f)], capsys), 2, "--out must be a folder, not the existing")
    one_line(*call(formal.main, ["--work", str(f / "x")], capsys), 2, "cannot be created")
    assert snapshot(tmp_path) == {"afile": b"mine\n"}

