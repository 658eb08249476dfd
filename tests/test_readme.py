"""The README's Python examples run, so they cannot rot (Amaranth's tests/test_examples.py does this)."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README shows no Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    acc = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert acc > 0.85  # chance is 0.10; "about 0.94" in the README


@pytest.mark.slow
def test_export_example_runs_as_written(tmp_path):
    """The README's train -> export -> golden-model run on the exported core, its commands as written (run from
    an empty folder, with this interpreter for .venv/bin/python)."""
    text = README.read_text().splitlines()
    at = next(i for i, line in enumerate(text) if "-m export --weights runs/" in line)
    lines = [line.split("#")[0].strip() for line in text[at - 1:at + 2]]
    assert "-m eqprop train" in lines[0] and "-m eqprop.device infer --golden --core" in lines[2], lines
    for line in lines:
        argv = [sys.executable, *shlex.split(line)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    assert "0 mismatches against the golden model" in done.stdout
