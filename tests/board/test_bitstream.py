"""The board tops (`export.bitstream`): every supported board's top elaborates on its amaranth-boards platform
into a build plan with its pins and clock constraint (fast); and, behind the ``fpga`` marker (``make
test-fpga``, minutes each), the bitstream builds and meets the board clock."""

import json

import pytest

from export.bitstream import BAUD, BOARDS, BoardTop, board_config, build, platform
from export.fpga import CONFIGS, FpgaError
from rtl.uart import divisor


@pytest.mark.parametrize("board", list(BOARDS))
def test_board_top_plan(board):
    plat = platform(board)
    plan = plat.prepare(BoardTop(board), name=board)
    constraints = plan.files[f"{board}.pcf" if BOARDS[board].family == "ice40" else f"{board}.lpf"]
    assert "uart" in constraints and "clk" in constraints
    assert divisor(plat.default_clk_frequency, BAUD) in (104, 217, 417)


def test_board_configs_are_named_configurations():
    for name, spec in BOARDS.items():
        cfg = board_config(name)
        assert spec.config in CONFIGS or not cfg.learning, name


def test_unknown_board():
    with pytest.raises(FpgaError, match="board must be one of icebreaker, ulx3s-85f, orangecrab-25f, not 'de0'"):
        platform("de0")


@pytest.mark.fpga
@pytest.mark.parametrize("board", list(BOARDS))
def test_bitstream_meets_the_board_clock(board, tmp_path):
    result = build(board, out=tmp_path, log=lambda s: None)
    assert result["meets_clock"], f"{board}: Fmax {result['fmax_mhz']} MHz < {result['clock_mhz']} MHz"
    assert (tmp_path / board / ("icebreaker.bin" if board == "icebreaker" else f"{board}.bit")).stat().st_size > 0
    report = json.loads((tmp_path / board / "report.json").read_text())
    assert all(report["used"][k] <= report["available"][k] for k in report["used"])
