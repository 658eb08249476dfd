"""docs/number-formats.md against the code: the format table, the derived shifts, and the register map."""

import re
from pathlib import Path

import pytest

from eqprop.hw.formats import (
    MAX_LAYERS,
    REGISTERS,
    WEIGHT_WINDOW,
    WINDOW_SIZE,
    Reg,
    config_registers,
    memory_layout,
    number_formats,
    windows,
)
from eqprop.hw.hwconfig import ESTIMATORS, ROUNDINGS, HwConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "number-formats.md"
HEADER = "| Key | Q format | Signed | Bits | Frac | Codes | Rounding | Saturation |"


def _table_rows() -> dict[str, list[str]]:
    lines = DOC.read_text().splitlines()
    start = lines.index(HEADER) + 2  # skip the |---| line
    rows = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_doc_table_lists_every_format_of_the_default_config():
    assert sorted(_table_rows()) == sorted(number_formats(HwConfig()))


@pytest.mark.parametrize("key", sorted(number_formats(HwConfig())))
def test_doc_row_matches_the_code(key):
    f = number_formats(HwConfig())[key]
    q, signed, bits, frac, codes, rounding, saturation = _table_rows()[key]
    assert q == f.q
    assert signed == ("signed" if f.signed else "unsigned")
    assert (int(bits), int(frac)) == (f.bits, f.frac)
    assert codes == f"{f.lo} .. {f.hi}"
    assert (rounding, saturation) == (f.rounding, f.saturation)


def test_doc_states_the_default_shifts():
    cfg = HwConfig()
    m = re.search(r"these are (-?\d+) and (-?\d+) \(weights\) and (-?\d+) and (-?\d+) \(biases\); "
                  r"the nudge shift is (-?\d+)", " ".join(DOC.read_text().split()))
    assert m, "the sentence with the default shifts is missing from the doc"
    assert [int(v) for v in m.groups()] == [cfg.weight_update_shift(0), cfg.weight_update_shift(1),
                                             cfg.bias_update_shift(0), cfg.bias_update_shift(1), cfg.nudge_shift()]


def test_formats_follow_the_config():
    f = number_formats(HwConfig(state_bits=6, eps_shift=1, weight_format="ternary", weight_bits=2,
                                weight_frac=(2, 4), shadow_bits=12))
    assert (f["state"].bits, f["state"].hi, f["state"].q) == (6, 63, "UQ0.6")
    assert (f["weight.0"].lo, f["weight.0"].hi, f["weight.1"].frac) == (-1, 1, 4)
    assert f["shadow.1"].frac == 4 + 10 and f["bias.0"].frac == f["acc.0"].frac == 6 + 4


def test_memory_layout_words_and_depths():
    layout = memory_layout(HwConfig(sizes=(64, 20, 10)))
    w0 = layout["weight.0"]
    assert (w0.rows, w0.cols, w0.words_per_row, w0.depth, w0.word_bits) == (20, 64, 8, 160, 64)
    w1 = layout["weight.1"]
    assert (w1.words_per_row, w1.depth) == (3, 30)  # 20 columns padded to 24
    assert w1.address(2, 17) == (2 * 3 + 2, 1)
    assert layout["bias.0"].depth == 3 and layout["state.0"].depth == 8 and not layout["state.1"].signed


def test_register_map_is_aligned_unique_and_documented():
    offsets = [int(r) for r in Reg]
    assert len(set(offsets)) == len(offsets) and all(o % 4 == 0 for o in offsets)
    assert {r.name for r in REGISTERS} == {r.name for r in Reg}
    assert all(r.access in ("ro", "rw", "wo") for r in REGISTERS)
    assert Reg.LAYER_SIZE + 4 * (MAX_LAYERS + 1) <= Reg.LR_SHIFT
    assert Reg.STATE + (MAX_LAYERS + 1) * WINDOW_SIZE <= Reg.BIAS


def test_config_registers_fit_32_bits_and_decode():
    cfg = HwConfig(weight_format="ternary", weight_bits=2, rounding="half_up", estimator="one-sided")
    regs = config_registers(cfg)
    assert all(0 <= v < 2**32 for v in regs.values())
    fmt, shifts = regs["CFG_FORMATS"], regs["CFG_SHIFTS"]
    assert (fmt & 31, fmt >> 5 & 31, fmt >> 10 & 1, fmt >> 11 & 63, fmt >> 17 & 63) == (8, 2, 1, 16, 20)
    assert ROUNDINGS[shifts >> 10 & 3] == "half_up" and ESTIMATORS[shifts >> 12 & 1] == "one-sided"
    assert [regs[f"LAYER_SIZE.{k}"] for k in range(3)] == [64, 64, 10]


def test_config_registers_refuse_what_the_windows_cannot_hold():
    with pytest.raises(ValueError, match="every layer size must be at most 1024 .one register window., not 2048"):
        config_registers(HwConfig(sizes=(2048, 8, 10)))
    config_registers(HwConfig(sizes=(1000, 100, 10)))      # a wider weight window (3.3), not refused
    with pytest.raises(ValueError, match="the number of weight layers must be at most 8, not 9"):
        config_registers(HwConfig(sizes=(4,) * 10))
    assert Reg.WEIGHT + MAX_LAYERS * WEIGHT_WINDOW <= Reg.SHADOW


@pytest.mark.parametrize("sizes", [(64, 64, 10), (784, 64, 10), (784, 83, 10), (784, 84, 10), (784, 128, 10),
                                   (784, 512, 10), (1000, 1000, 10), (1024,) * 9, (2, 3, 4)])
@pytest.mark.parametrize("learning", [True, False])
def test_weight_windows_hold_their_matrices_and_never_overlap(sizes, learning):
    from eqprop.hw.formats import shadow_base, weight_base, weight_window

    cfg = HwConfig(sizes=sizes, learning=learning, mac_lanes=1)
    s = weight_window(cfg)
    assert s & (s - 1) == 0 and s >= WEIGHT_WINDOW
    largest = max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert 4 * largest <= s and (s == WEIGHT_WINDOW or 4 * largest > s // 2)     # the least that holds it
    assert (s == WEIGHT_WINDOW) == (largest <= 65536)
    spans = sorted((w.base, w.base + 4 * w.count) for w in windows(cfg))
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans[:-1], spans[1:], strict=True))   # no overlap
    assert [weight_base(cfg, l) for l in range(cfg.n_layers)] == [Reg.WEIGHT + l * s for l in range(cfg.n_layers)]
    if s == WEIGHT_WINDOW:      # 3.2's layout, unchanged
        assert [shadow_base(cfg, l) for l in range(cfg.n_layers)] == [Reg.SHADOW + l * s for l in range(cfg.n_layers)]
