"""The Python examples of the front page and the documentation run, so they cannot rot (Amaranth's
tests/test_examples.py does this). The front page's tour reads the checkpoint its first step trains, so a
small one is trained first, where the tour would write it."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from eqprop.cli import main

ROOT = Path(__file__).resolve().parents[1]
# pages whose ```python blocks are complete programs (integration.md's LiteX snippet is not: it needs a SoC)
PAGES = ["docs/models.md", "docs/host-api.md"]


def python_blocks(page: str) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)
    assert blocks, f"{page} shows no Python example"
    return blocks


@pytest.mark.parametrize("page", PAGES)
def test_docs_python_examples_run(page, capsys):
    for code in python_blocks(page):
        exec(compile(code, page, "exec"), {})
    if page == "docs/models.md":
        acc = float(capsys.readouterr().out.strip().splitlines()[-1])
        assert acc > 0.85  # chance is 0.10; "about 0.92" on the page


def test_tour_python_runs(tmp_path, monkeypatch, capsys):
    """The tour's Python step on the front page and in getting started (the same code), on a checkpoint of
    one epoch instead of five."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "eqprop", "--dataset", "digits", "--hidden", "64", "--epochs", "1",
                 "--no-progress"]) == 0
    readme, started = python_blocks("README.md"), python_blocks("docs/getting-started.md")
    assert readme == started, "the front page's tour and getting started's must show the same code"
    capsys.readouterr()
    for code in readme:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    acc = float(re.search(r"golden INT8: ([\d.]+)%", out).group(1))
    assert acc > 60.0  # one epoch of float training reaches about 74%; chance is 10%
    results, labels = re.search(r"^(\[[\d, ]+\]) (\[[\d, ]+\]) Counters\(cycles=\d+", out, flags=re.M).groups()
    assert len(eval(results)) == len(eval(labels)) == 5


def test_front_page_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, f"README.md must stay a front page under 200 lines, not {len(lines)}"


@pytest.mark.slow
def test_tour_commands_run_as_written(tmp_path):
    """The front page's train -> export (the configuration from the checkpoint alone) -> golden model on the
    exported core, its commands as written (run from an empty folder, with this interpreter for
    .venv/bin/python)."""
    text = (ROOT / "README.md").read_text().splitlines()
    want = ("-m eqprop train", "-m export --weights runs/", "-m eqprop.device infer --golden --core")
    lines = [next(ln.split("#")[0].strip() for ln in text if w in ln and ln.startswith(".venv")) for w in want]
    for line in lines:
        argv = [sys.executable, *shlex.split(line)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    assert "0 mismatches against the golden model" in done.stdout
