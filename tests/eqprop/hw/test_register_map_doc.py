"""docs/register-map.md against eqprop.hw.formats: every register, offset, access, field and code.

A register, field or code added to the code and not to the document (or the other way round) fails
here; `tests/rtl/test_axil.py` checks that the bus answers exactly the registers of `REGISTERS`.
"""

import re
from pathlib import Path

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    FIELDS,
    LR_SHIFT_MAX,
    MAX_LAYERS,
    REGISTERS,
    VERSION,
    WEIGHT_WINDOW,
    WINDOW_SIZE,
    ErrorCode,
    Mode,
    Status,
)
from eqprop.hw.hwconfig import ESTIMATORS, ROUNDINGS

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


def test_field_table_matches_the_code():
    rows = _table("| Register | Field | Bits | Meaning |")
    documented = [(r[0], r[1], r[2]) for r in rows]
    expected = [(reg, f.name, f"{f.lsb + f.width - 1}:{f.lsb}" if f.width > 1 else str(f.lsb))
                for reg, fields in FIELDS.items() for f in fields]
    assert documented == expected
    assert all(r[3] for r in rows), "every field has a meaning"


def test_encodings_match_the_code():
    for header, names in (("| Rounding | Value |", ROUNDINGS), ("| Estimator | Value |", ESTIMATORS)):
        assert {r[0]: int(r[1]) for r in _table(header)} == {n: i for i, n in enumerate(names)}
    for header, enum in (("| Mode | Value |", Mode), ("| Status bit | Value |", Status),
                         ("| ErrorCode | Value | Cause |", ErrorCode)):
        assert {r[0]: int(r[1]) for r in _table(header)} == {e.name: int(e) for e in enum}
    assert all(r[2] for r in _table("| ErrorCode | Value | Cause |")), "every error code has a cause"
    assert f"mode in bits {CONTROL_MODE_SHIFT + 1}:{CONTROL_MODE_SHIFT}" in DOC
    assert re.search(rf"`WINDOW_SIZE` = `0x{WINDOW_SIZE:X}`", DOC)
    assert re.search(rf"`WEIGHT_WINDOW` = `0x{WEIGHT_WINDOW:X}`", DOC)
    assert f"At most {MAX_LAYERS} weight layers" in DOC
    assert f"at most {LR_SHIFT_MAX}" in DOC


def test_version_is_stated_with_its_policy():
    assert f"`VERSION` reads `0x{VERSION:08X}`" in DOC
    assert f"Version {VERSION >> 16}.{VERSION & 0xFFFF} " in DOC, "the document says what the current version changed"


def test_error_precedence_is_the_order_the_rtl_checks():
    """The document's order of checks is the order the RTL's docstring states (and the tests exercise)."""
    import rtl.axil

    doc_order = re.findall(r"\((BAD_ADDRESS|BAD_STROBE|BAD_VALUE|START_WHILE_BUSY|BAD_MODE)[:)]",
                           DOC.split("**Refused accesses.**")[1].split("\n- **")[0])
    rtl_order = re.findall(r": (BAD_ADDRESS|BAD_STROBE|BAD_VALUE|START_WHILE_BUSY|BAD_MODE)", rtl.axil.__doc__)
    assert doc_order == rtl_order == ["BAD_ADDRESS", "BAD_STROBE", "BAD_VALUE", "START_WHILE_BUSY", "BAD_MODE"]
