"""The installed package: every console script of pyproject.toml imports, answers --help in plain text with
examples, and is on PATH after installation."""

from __future__ import annotations

import importlib
import shutil
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
