"""`sim.runner` without a simulator: the generated testbench top, the Icarus time-zero fix, the choice
of simulator and the errors for a missing one."""

import pytest

from sim import runner

VERILOG = """module eqprop_accel(a, clk, rst, y);
  reg \\$auto$verilog_backend.cc:2355:dump_module$1  = 0;
  input [3:0] a;
  wire [3:0] a;
  input clk;
  input rst;
  output [1:0] y;
  always @* begin
    if (\\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
  end
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


def test_icarus_time_zero_moves_only_the_dummy_initialiser():
    out = runner.icarus_time_zero(VERILOG)
    assert "reg \\$auto$verilog_backend.cc:2355:dump_module$1 ;" in out
    assert "initial #0 \\$auto$verilog_backend.cc:2355:dump_module$1  = 1'b0;" in out
    changed = set(out.splitlines()) ^ set(VERILOG.splitlines())
    assert len(changed) == 3 and all("dump_module$1" in line for line in changed)


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
