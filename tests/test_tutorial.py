"""The tutorial notebook runs from top to bottom (nbmake), so it cannot rot: it trains, quantises, exports,
co-simulates two images on the board design under Verilator against the golden model, and runs a track.

The whole notebook is in the slow suite (its first run compiles the board design under Verilator, minutes
on two shared cores); `make test` runs it without the cell tagged ``cosim``, which the board tests cover
(tests/board)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "tutorial.ipynb"


def run_nbmake(path: Path, cwd: Path) -> None:
    try:
        import nbmake  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI: nbmake is missing; `make venv` installs it (the docs extra)")
        pytest.skip("nbmake is missing; `make venv` installs it (the docs extra)")
    r = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "--nbmake-timeout=900", "-q",
                        "-p", "no:cacheprovider", str(path)], cwd=cwd, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "1 passed" in r.stdout


def test_tutorial_without_cosimulation(tmp_path):
    nb = json.loads(NOTEBOOK.read_text())
    kept = [c for c in nb["cells"] if "cosim" not in c.get("metadata", {}).get("tags", [])]
    assert len(kept) == len(nb["cells"]) - 1, "the notebook must have one cell tagged cosim"
    trimmed = tmp_path / "tutorial.ipynb"
    trimmed.write_text(json.dumps({**nb, "cells": kept}))
    run_nbmake(trimmed, ROOT)


@pytest.mark.slow
def test_tutorial_notebook_runs():
    run_nbmake(NOTEBOOK, ROOT)
