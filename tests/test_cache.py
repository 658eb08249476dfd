"""Caches and outputs where the user runs: `eqprop.cache.cache_dir` follows EQPROP_CACHE and the XDG
convention, every simulator build defaults to it, and commands run from another folder write nothing into
the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eqprop.cache import CACHE_ENV, cache_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eqprop", "rtl", "export", "sim", "tracks", "sweep", "bench")   # what the wheel and the commands are


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("sim") == tmp_path / "home" / ".cache" / "eqprop-hw" / "sim"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "eqprop-hw"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_dir("fastsim", "k") == tmp_path / "mine" / "fastsim" / "k"
    assert not (tmp_path / "mine").exists()          # naming the folder creates nothing


def test_every_simulator_build_defaults_to_the_cache(monkeypatch, tmp_path):
    """sim.runner, sim.fast and the co-simulated board build under the cache (their `build` takes
    `build_root()` unless given a root)."""
    from sim import boardsim, fast, runner

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    roots = {m.__name__: m.build_root() for m in (runner, fast, boardsim)}
    assert roots == {"sim.runner": tmp_path / "cache" / "sim", "sim.fast": tmp_path / "cache" / "fastsim",
                     "sim.boardsim": tmp_path / "cache" / "boardsim"}
    monkeypatch.delenv(CACHE_ENV)
    assert not any(m.build_root().is_relative_to(ROOT) for m in (runner, fast, boardsim))


def _tree() -> dict[str, int]:
    """Every file of the package's source tree (its packages and the files beside them; Python's bytecode
    caches aside) and its mtime."""
    out = {str(p.relative_to(ROOT)): p.stat().st_mtime_ns for p in ROOT.iterdir() if p.is_file()}
    for package in PACKAGES:
        for dirpath, dirnames, filenames in os.walk(ROOT / package):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                p = os.path.join(dirpath, f)
                out[os.path.relpath(p, ROOT)] = os.stat(p).st_mtime_ns
    return out


@pytest.mark.parametrize("backend", ["golden", pytest.param("cosim", marks=pytest.mark.slow)])
def test_commands_run_elsewhere_write_nothing_into_the_source_tree(tmp_path, backend):
    """Export a core and run the golden model (or, slow, the co-simulated board: a Verilator build) on it from
    another folder: the outputs land there and in the cache, and the source tree is as it was (Python's
    bytecode caches aside: PYTHONDONTWRITEBYTECODE)."""
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    (work / "cfg.json").write_text('{"sizes": [64, 6, 10], "mac_lanes": 2, "free_steps": 4, "nudge_steps": 2}')
    before = _tree()
    for argv in (["-m", "export", "--config", "cfg.json", "--out", "core"],
                 ["-m", "eqprop.device", "infer", f"--{backend}", "--core", "core", "--limit", "2"]):
        done = subprocess.run([sys.executable, *argv], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert (work / "core" / "manifest.json").exists()
    assert (tmp_path / "cache" / "boardsim").is_dir() == (backend == "cosim")
    after = _tree()
    assert {k for k in after if after[k] != before.get(k)} == set()
