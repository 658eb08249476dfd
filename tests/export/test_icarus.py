"""The exported Verilog under Icarus Verilog in both language modes, with a plain Verilog testbench.

cocotb builds with ``iverilog -g2012``; an integrator's flow often keeps Icarus's default
(``-g2005``). Both must run the same core: reset, read ID and VERSION over AXI4-Lite, write LR_SHIFT
and an INPUT element and read them back, run an INFER and see ``irq`` follow STATUS.DONE, and every
output known (not X) one nanosecond after time zero, before any clock edge: Yosys's time-zero dummy
(`export.writer.YOSYS_SCRIPT`) left the combinational outputs X under ``-g2012`` until an input
changed, and a testbench waiting on them hung. A hang fails the test: the testbench has a watchdog
in simulated time and ``vvp`` a wall-clock timeout.
"""

import os
import shutil
import subprocess

import pytest

from eqprop.hw.formats import CONTROL_MODE_SHIFT, ID_MAGIC, VERSION, Control, Mode, Reg, Status
from eqprop.hw.hwconfig import HwConfig
from export.writer import ExportError, export_core, zero_params
from rtl.axil import address_width
from rtl.core import cycle_model

CFG = HwConfig(sizes=(2, 2), mac_lanes=1, free_steps=2, nudge_steps=1)   # the smallest core there is
TOP = "eqprop_accel"
TIMEOUT_S = 60          # wall clock for one iverilog or vvp call; the run takes about a second
LR_VALUE = 7            # written to LR_SHIFT.0 (its reset value is HwConfig.lr_shifts[0])
GENERATIONS = ("-g2005", "-g2012")   # Icarus's default language mode and cocotb's (docs/integration.md)


def _testbench(cfg: HwConfig) -> str:
    """A Verilog-2005 testbench around `TOP` that prints ``FAIL: ...`` lines and ends with ``PASS`` or
    ``FAILED``. All offsets and codes come from `eqprop.hw.formats`."""
    aw = address_width(cfg)
    limit = 2 * cycle_model(cfg)["infer"] + 1000     # cycles an INFER may take before it counts as hung
    start_infer = int(Control.START) | int(Mode.INFER) << CONTROL_MODE_SHIFT
    return f"""`timescale 1ns/1ps
module tb;
  reg clk = 1'b0, rst = 1'b1;
  reg [{aw - 1}:0] awaddr = 0, araddr = 0;
  reg awvalid = 1'b0, wvalid = 1'b0, bready = 1'b0, arvalid = 1'b0, rready = 1'b0;
  reg [31:0] wdata = 0;
  reg [3:0] wstrb = 4'hf;
  wire awready, wready, bvalid, arready, rvalid, irq;
  wire [1:0] bresp, rresp;
  wire [31:0] rdata;
  reg [31:0] d;
  reg [1:0] r;
  integer errors = 0, n;

  {TOP} dut (.clk(clk), .rst(rst),
    .s_axil_awaddr(awaddr), .s_axil_awvalid(awvalid), .s_axil_awready(awready),
    .s_axil_wdata(wdata), .s_axil_wstrb(wstrb), .s_axil_wvalid(wvalid), .s_axil_wready(wready),
    .s_axil_bresp(bresp), .s_axil_bvalid(bvalid), .s_axil_bready(bready),
    .s_axil_araddr(araddr), .s_axil_arvalid(arvalid), .s_axil_arready(arready),
    .s_axil_rdata(rdata), .s_axil_rresp(rresp), .s_axil_rvalid(rvalid), .s_axil_rready(rready),
    .irq(irq));

  initial #5 forever #5 clk = ~clk;     // first rising edge at 5 ns

  task check(input ok, input [8*48-1:0] what);
    if (!ok) begin
      $display("FAIL: %0s at %0d ns", what, $time);
      errors = errors + 1;
    end
  endtask

  task axi_read(input [{aw - 1}:0] a, output [31:0] data, output [1:0] resp);
    begin
      @(negedge clk) begin araddr = a; arvalid = 1'b1; rready = 1'b1; end
      @(posedge clk) while (!arready) @(posedge clk);
      @(negedge clk) arvalid = 1'b0;
      while (!rvalid) @(posedge clk);
      data = rdata; resp = rresp;
      @(negedge clk) rready = 1'b0;
    end
  endtask

  task axi_write(input [{aw - 1}:0] a, input [31:0] v, output [1:0] resp);
    begin
      @(negedge clk) begin awaddr = a; awvalid = 1'b1; wdata = v; wvalid = 1'b1; bready = 1'b1; end
      @(posedge clk) while (!(awready && wready)) @(posedge clk);
      @(negedge clk) begin awvalid = 1'b0; wvalid = 1'b0; end
      while (!bvalid) @(posedge clk);
      resp = bresp;
      @(negedge clk) bready = 1'b0;
    end
  endtask

  initial begin
    #1;   // no input has changed and no clock edge has come: the outputs must already be known
    check(^{{awready, wready, bresp, bvalid, arready, rdata, rresp, rvalid, irq}} !== 1'bx,
          "an output is X at time zero");
    repeat (4) @(posedge clk);
    @(negedge clk) rst = 1'b0;
    check(irq === 1'b0, "irq after reset");
    axi_read({int(Reg.ID)}, d, r);
    check(d === 32'h{ID_MAGIC:08x} && r === 2'b00, "ID");
    axi_read({int(Reg.VERSION)}, d, r);
    check(d === 32'h{VERSION:08x} && r === 2'b00, "VERSION");
    axi_write({int(Reg.LR_SHIFT)}, {LR_VALUE}, r);
    check(r === 2'b00, "LR_SHIFT write response");
    axi_read({int(Reg.LR_SHIFT)}, d, r);
    check(d === {LR_VALUE} && r === 2'b00, "LR_SHIFT read back");
    axi_write({int(Reg.INPUT)}, 3, r);
    axi_read({int(Reg.INPUT)}, d, r);
    check(d === 3 && r === 2'b00, "INPUT element 0 read back");
    axi_write({int(Reg.CONTROL)}, {start_infer}, r);
    check(r === 2'b00, "START response");
    n = 0;
    while (irq !== 1'b1 && n < {limit}) begin @(posedge clk); n = n + 1; end
    check(irq === 1'b1, "no irq within the cycle limit after START");
    axi_read({int(Reg.STATUS)}, d, r);
    check(d === {int(Status.DONE)} && irq === 1'b1, "STATUS DONE with irq high");
    axi_write({int(Reg.CONTROL)}, {int(Control.RESET)}, r);
    axi_read({int(Reg.STATUS)}, d, r);
    check(d === 0 && irq === 1'b0, "irq falls with DONE after RESET");
    if (errors == 0) $display("PASS"); else $display("FAILED");
    $finish;
  end

  initial begin   // watchdog in simulated time
    #({10 * (limit + 200)});
    $display("FAIL: watchdog at %0d ns", $time);
    $display("FAILED");
    $finish;
  end
endmodule
"""


def _require_icarus() -> None:
    if shutil.which("iverilog") and shutil.which("vvp"):
        return
    reason = "Icarus Verilog (iverilog, vvp) is not on PATH: apt-get install iverilog"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    """The exported core of `CFG` and the testbench, written once for both language modes."""
    out = tmp_path_factory.mktemp("icarus")
    try:
        export_core(CFG, zero_params(CFG), out / "core", top=TOP)
    except ExportError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(str(e))
        pytest.skip(str(e))
    (out / "tb.v").write_text(_testbench(CFG))
    return out


@pytest.mark.parametrize("generation", GENERATIONS)
def test_core_runs_under_icarus(core, generation):
    _require_icarus()
    binary = core / f"tb{generation}.vvp"
    run = {"capture_output": True, "text": True, "timeout": TIMEOUT_S}
    build = subprocess.run(["iverilog", generation, "-o", str(binary), "-s", "tb", str(core / "tb.v"),
                            str(core / "core" / f"{TOP}.v")], **run)
    assert build.returncode == 0, f"iverilog {generation} failed:\n{build.stdout}{build.stderr}"
    try:
        sim = subprocess.run(["vvp", "-n", str(binary)], **run)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vvp ({generation}) hung: no end after {TIMEOUT_S} s (a zero-delay loop at time zero?)")
    lines = sim.stdout.splitlines()
    failures = [ln for ln in lines if ln.startswith("FAIL")]
    assert sim.returncode == 0 and not failures and "PASS" in lines, \
        f"iverilog {generation}:\n{sim.stdout}{sim.stderr}"
