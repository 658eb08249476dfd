"""docs/register-map.md against eqprop.hw.formats: every register, offset, access and encoding."""

import re
from pathlib import Path

from eqprop.hw.formats import CONTROL_MODE_SHIFT, REGISTERS, WEIGHT_WINDOW, WINDOW_SIZE, ErrorCode, Mode, Status

DOC = (Path(__file__).resolve().parents[3] / "docs" / "register-map.md").read_text()


def _table(header: str) -> list[list[str]]:
    lines = DOC.splitlines()
    start = lines.index(header) + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))  # a cell may hold an escaped \|
        rows.append([c.strip().strip("`").replace("\\|", "|") for c in cells])
    return rows


def test_register_table_matches_the_code():
    rows = _table("| Name | Offset | Access | Description |")
    assert [r[0] for r in rows] == [r.name for r in REGISTERS]
    for row, reg in zip(rows, REGISTERS, strict=True):
        assert int(row[1], 16) == reg.offset, reg.name
        assert row[2] == reg.access, reg.name
        assert row[3] == reg.description, reg.name


def test_encodings_match_the_code():
    for header, enum in (("| Mode | Value |", Mode), ("| Status bit | Value |", Status),
                         ("| ErrorCode | Value |", ErrorCode)):
        assert {r[0]: int(r[1]) for r in _table(header)} == {e.name: int(e) for e in enum}
    assert f"mode in bits {CONTROL_MODE_SHIFT + 1}:{CONTROL_MODE_SHIFT}" in DOC
    assert re.search(rf"`WINDOW_SIZE` = `0x{WINDOW_SIZE:X}`", DOC)
    assert re.search(rf"`WEIGHT_WINDOW` = `0x{WEIGHT_WINDOW:X}`", DOC)
