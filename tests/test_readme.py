"""The README's Python examples run, so they cannot rot (Amaranth's tests/test_examples.py does this)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README shows no Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    acc = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert acc > 0.85  # chance is 0.10; "about 0.94" in the README
