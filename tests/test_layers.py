"""Each floor imports only its own and the floors below (docs/layers.md), and no import circle exists.

Every ``import`` and ``from ... import`` of every module of the packages is read with `ast` (those inside
functions too, which Python runs late and a circle can hide behind), resolved to the project's modules, and
checked against the floors of the table in docs/layers.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eqprop", "rtl", "export", "sim", "tracks", "bench", "sweep")


def floors() -> dict[str, int]:
    """{module prefix: floor} from the fenced table of docs/layers.md."""
    text = (ROOT / "docs" / "layers.md").read_text()
    table = re.search(r"```text\nfloor .*?\n(.*?)```", text, flags=re.S).group(1)
    out = {}
    for line in table.splitlines():
        m = re.match(r"(\d+)\s+((?:[\w.]+, )*[\w.]+)\s{2,}", line)
        assert m, f"docs/layers.md: cannot read the row {line!r}"
        for name in m.group(2).split(", "):
            out[name] = int(m.group(1))
    return out


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> list[tuple[str, int]]:
    """The project modules `path` imports (a ``from a import b`` of a submodule counts as a.b), with lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        found += [(n, node.lineno) for n in names if n in known]
    return found


def floor_of(module: str, table: dict[str, int]) -> int:
    best = max((p for p in table if module == p or module.startswith(p + ".")), key=len, default=None)
    assert best is not None, f"{module} is on no floor of docs/layers.md"
    return table[best]


def test_the_table_names_every_package():
    table = floors()
    assert set(PACKAGES) <= set(table)
    assert floor_of("eqprop.hw.golden", table) < floor_of("eqprop.train", table) < floor_of("rtl.core", table)


def test_no_import_climbs_a_floor():
    table, known = floors(), modules()
    climbs = []
    for module, path in known.items():
        own = floor_of(module, table)
        for target, line in imports(path, known):
            if floor_of(target, table) > own:
                climbs.append(f"{path.relative_to(ROOT)}:{line}: {module} (floor {own}) imports {target} "
                              f"(floor {floor_of(target, table)})")
    assert not climbs, "imports that climb (docs/layers.md):\n" + "\n".join(climbs)


def test_no_import_circle():
    known = modules()
    graph = {m: {t for t, _ in imports(p, known) if t != m} for m, p in known.items()}
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):                        # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


@pytest.mark.parametrize("source, bad", [
    ("def f():\n    from sim.fast import build\n", "sim.fast"),       # a function-local import is still an import
    ("from export import writer\n", "export.writer"),
])
def test_the_walk_sees_every_kind_of_import(tmp_path, source, bad):
    (tmp_path / "m.py").write_text(source)
    assert bad in [t for t, _ in imports(tmp_path / "m.py", modules())]


def test_the_host_api_gets_its_cosimulation_from_sim():
    """The co-simulated board reaches eqprop.device through the installed entry point, not an import."""
    from eqprop.device import BackendMissing, backend
    from sim import boardsim

    assert backend("cosim") is boardsim.board
    with pytest.raises(BackendMissing, match=r"no installed package provides the 'nope' backend.*eqprop-hw\[sim\]"):
        backend("nope")
