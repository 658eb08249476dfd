"""The hardware specification is a package of its own: it loads without torch, and the float models
reach it only through the quantiser."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FLOAT_SIDE = ["eqpropnet.py", "looped.py", "mlp.py", "train.py", "data.py", "gradcheck.py", "memprobe.py"]


def test_spec_imports_no_torch():
    code = ("import sys\n"
            "import eqprop.hw.golden, eqprop.hw.formats, eqprop.hw.memimage, eqprop.hw.quantise, eqprop.hw.onchip\n"
            "import rtl.axil\n"
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "torch" not in out.stdout, out.stdout


def test_float_models_do_not_import_the_spec():
    """Only the quantiser, and only where quantisation-aware training relaxes on its grid (lazily, inside
    the functions that need it): no float model reaches the golden model, the formats or the RTL's side."""
    for name in FLOAT_SIDE + [f"zoo/{p.name}" for p in (ROOT / "eqprop" / "zoo").glob("*.py")]:
        tree = ast.parse((ROOT / "eqprop" / name).read_text())
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eqprop.hw"):
                assert node.module == "eqprop.hw.quantise" and id(node) not in top_level, \
                    f"eqprop/{name} imports {node.module}"
