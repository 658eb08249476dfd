"""The tiled core's FPGA figures (`export.tiled`): the Verilog it places and routes lints under Verilator with the
core's ports (inference-only and learning), every design's configuration is valid (inference-only ones with many
samples, learning ones with one) and its tile fits its layers, and the results table says what it measured (no
place and route here: ``make fpga-tiled``)."""

import pytest

from eqprop.hw.hwconfig import HwConfig
from export.fpga import TOP, ports
from export.lint import lint
from export.tiled import DESIGNS, markdown, tiled_verilog


def test_verilog_lints_with_the_core_ports(tmp_path):
    cfg = HwConfig(sizes=(12, 9, 5), learning=False)
    verilog = tiled_verilog(cfg, 4, 3, 5, 2)
    (tmp_path / "core.v").write_text(verilog)
    lint(tmp_path / "core.v", TOP)
    names = {name for name, _, _ in ports(verilog)}
    assert {"start", "busy", "done", "cycles", "host__we", "host__commit", "host__wdata"} <= names


def test_learning_verilog_lints_with_its_ports(tmp_path):
    verilog = tiled_verilog(HwConfig(sizes=(12, 9, 5)), 4, 3, 1, 1)
    (tmp_path / "core.v").write_text(verilog)
    lint(tmp_path / "core.v", TOP)
    assert {"train", "lr_shift", "start", "done", "cycles"} <= {name for name, _, _ in ports(verilog)}


@pytest.mark.parametrize("name", list(DESIGNS))
def test_designs_are_valid_cores_their_tile_fits(name):
    d = DESIGNS[name]
    cfg = d.hwconfig()
    assert cfg.learning == d.learning and not cfg.zero_skip
    assert 1 <= d.slots <= d.samples and (d.update_rows == 1 or d.learning) and d.pe % d.update_rows == 0
    assert max(d.pe, d.simd) <= max(cfg.sizes)


def test_markdown_row():
    row = {"config": "x", "device": "ECP5", "design": {"pe": 32, "simd": 10, "samples": 16, "slots": 8},
           "totals": {"luts": 100, "ffs": 100, "brams": 10, "dsps": 5}, "synth": {}, "luts": 90, "ffs": 80,
           "brams": 3, "dsps": 0, "fmax_mhz": 50.0, "cycles_per_inference": 100.0, "tile_bound": 80.0,
           "test_acc": 0.9}
    text = markdown([row])
    assert ("| x | ECP5 | 32 x 10 | 16 / 8 | 90/100 | 80/100 | 3/10 | 0/5 | 50.0 | 100.0 | 80.0 | 1.25 | 500,000 |"
            in text)


def test_a_bad_out_is_refused_before_any_work(tmp_path, capsys):
    from export.tiled import main

    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert main(["--out", str(blocker)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err and blocker.read_text() == "mine"
