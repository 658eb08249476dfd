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


def _flat(text: str) -> str:
    return " ".join(text.split())


# The statements docs/register-map.md makes about what an integrator's testbench found unsaid, each with the
# test of tests/rtl/test_axil.py that checks the bus does what it says.
STATEMENTS = {
    "read back** the codes last written to them, and 0 before the first write after power-up":
        "test_register_semantics_the_docs_spell_out",
    "STATUS.ERROR is set exactly while ERROR is not NONE, so a successful START clears it as RESET does":
        "test_register_semantics_the_docs_spell_out",
    "CONTROL = RESET with any mode bits (3 too) is accepted and resets, and CONTROL keeps reading the last "
    "started mode": "test_register_semantics_the_docs_spell_out",
    "A CONTROL write without START or RESET (0, or mode bits alone) is accepted and changes nothing, also while "
    "a command runs": "test_register_semantics_the_docs_spell_out",
    "a register takes 3 cycles, and so does every refused access":
        "test_access_latency_around_sequential_accesses_is_as_documented",
    "whether each of the two is a read or a write": "test_access_latency_around_sequential_accesses_is_as_documented",
    "register accesses, refused accesses, commands and RESET in between leave it as it was":
        "test_access_latency_around_sequential_accesses_is_as_documented",
    "The same element twice is not sequential": "test_access_latency_around_sequential_accesses_is_as_documented",
    "nor is an element of another window (the next layer's, or STATE.0's after INPUT's)":
        "test_access_latency_around_sequential_accesses_is_as_documented",
    "Its LR_SHIFT registers behave as a learning core's: a value in `lr_shift_range` of its configuration is "
    "accepted, kept and read back, any other refused (BAD_VALUE); no command reads them":
        "test_inference_only_core_keeps_lr_shift",
}


def test_the_statements_an_integrator_needed_are_made_and_tested():
    import tests.rtl.test_axil as axil

    doc = _flat(DOC)
    missing = [s for s in STATEMENTS if _flat(s) not in doc]
    assert not missing, f"docs/register-map.md no longer says: {missing}"
    assert all(callable(getattr(axil, name, None)) for name in STATEMENTS.values())


def _documented_cycles(cfg, steps, mode):
    """CYCLES by docs/register-map.md's formula (no zero-skipping): D + sum_p (1 + s_p S) + U [TRAIN]."""
    from rtl.schedule import pipeline

    n, P, L = list(cfg.sizes) + [0], cfg.mac_lanes, cfg.n_layers
    w = [-(-k // P) for k in n]
    B = [-(-n[l + 1] // P) for l in range(L)]
    drains = pipeline(cfg)
    S = sum(B[l] * (2 + n[l + 2]) + n[l + 1] * w[l] for l in range(L)) + drains["step_drain"]
    S -= n[1] * w[0] if cfg.cache_drive else 0
    D = 1 + 2 * B[0] + n[1] * w[0] + drains["drive_drain"] if cfg.cache_drive else 0
    U = 1 + sum(B[l] + n[l + 1] * w[l] for l in range(L)) + drains["update_drain"]
    return D + sum(1 + s * S for s in steps) + (U if mode == Mode.TRAIN else 0)


def test_the_cycles_formula_is_the_schedule_s():
    """The CYCLES formula the page gives equals `rtl.schedule.command_cycles` (which the co-simulation checks
    against the RTL's CYCLES) on configurations of every shape the formula distinguishes."""
    from eqprop.hw.hwconfig import HwConfig
    from rtl.schedule import command_cycles

    assert "CYCLES = D + sum over p of (1 + s_p S) + U - Z" in DOC
    configs = [HwConfig(sizes=(5, 6, 3), mac_lanes=2), HwConfig(sizes=(7, 5, 4, 3), mac_lanes=3, cache_drive=False),
               HwConfig(sizes=(64, 64, 10)), HwConfig(sizes=(9, 4), mac_lanes=4, estimator="one-sided"),
               HwConfig(sizes=(6, 6, 6, 6, 2), mac_lanes=1, weight_format="ternary", weight_bits=2)]
    for cfg in configs:
        for mode, steps in ((Mode.INFER, (cfg.free_steps,)), (Mode.INFER, (1,)),
                            (Mode.TRAIN, (2, 1, 1) if cfg.estimator == "symmetric" else (2, 1))):
            assert _documented_cycles(cfg, steps, mode) == command_cycles(cfg, mode, steps), (cfg.sizes, mode, steps)
