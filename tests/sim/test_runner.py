"""`sim.runner` without a simulator: the generated testbench top, the choice of simulator and the
errors for a missing one."""

import pytest

from sim import runner

VERILOG = """module eqprop_accel(a, clk, rst, y);
  input [3:0] a;
  wire [3:0] a;
  input clk;
  input rst;
  output [1:0] y;
  function [1:0] _1_;
    input [1:0] a;
    input [3:0] b;
    input [1:0] s;
    casez (s)
      2'b?1: _1_ = b[1:0];
      2'b1?: _1_ = b[3:2];
      default: _1_ = a;
    endcase
  endfunction
  assign y = _1_(2'h0, a, a[1:0]);
endmodule
"""


def test_testbench_top_wraps_every_port_but_the_clock():
    top = runner.testbench_top(VERILOG)
    assert "module eqprop_tb(a, rst, y);" in top
    assert "input [3:0] a /*verilator public_flat_rw*/;" in top
    assert "output [1:0] y /*verilator public_flat_rw*/;" in top
    assert f"always #{runner.CLOCK_NS // 2} if (free_run) clk = ~clk;" in top
    assert "eqprop_accel dut (.a(a), .clk(clk), .rst(rst), .y(y));" in top


def test_testbench_top_names_a_missing_module():
    with pytest.raises(runner.SimError, match="no module other_top"):
        runner.testbench_top(VERILOG, top="other_top")


def test_sim_variable_chooses_the_simulator(monkeypatch):
    monkeypatch.setenv("SIM", "icarus")
    assert runner.default_simulator() == "icarus"
    monkeypatch.delenv("SIM")
    assert runner.default_simulator() == "verilator"
    monkeypatch.setenv("SIM", "questa")
    with pytest.raises(runner.SimError, match="SIM='questa' is not a simulator this project runs; use one of "
                                              "verilator, icarus"):
        runner.default_simulator()


def test_missing_icarus_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(runner.ToolMissing, match=r"apt-get install iverilog"):
        runner.find_icarus()
