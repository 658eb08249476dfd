"""The co-simulated board: the board design's Verilog under Verilator, its UART on a pty, driven by the host API.

`board` exports `rtl.board.BoardDesign` (the UART bridge and the core, everything of a board top but its
pads) to Verilog, compiles it with the C++ harness ``sim/board_harness.cpp`` (build folder
``boardsim/<configuration>-d<divisor>/`` in the build cache of `eqprop.cache`, rebuilt only when the
Verilog or the harness changes), starts it on the master side of a pseudo-terminal and opens the other
side with pyserial: the host talks to the simulated board through exactly the code that talks to a real
one (`eqprop.device.link`, `eqprop.device.accelerator.BusBackend`). `SimBoard.reset` presses the board's
reset after a given number of bytes, for the robustness tests; `SimBoard.cycles` reads the simulated clock.
With ``netlist="ice40"`` (or ``"ecp5"``) the harness runs the board design as Yosys synthesised it
(`sim.netlist.synthesise_verilog`, the script of ``make fpga``) with the family's cell models, not its RTL;
with ``netlist="ice40", stage="routed"`` that netlist after place and route for the UP5K (`sim.netlist.route_board`).

The host API (`eqprop.device`) sits below the simulators and imports none of them: this module gives it
its co-simulation backend through the entry point ``cosim`` of the group ``eqprop.device.backends``
(pyproject.toml), which `eqprop.device.Accelerator.cosim` looks up.

Simulated time stands still while the harness waits for the host, so ``cycles`` counts the clock cycles a
host that answers at once would see: the UART bits, the bridge and the core.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import tty
from pathlib import Path

from eqprop.cache import cache_dir
from eqprop.device.accelerator import Accelerator, BusBackend
from eqprop.device.link import Link, LinkError, open_serial
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from export.writer import design_verilog
from rtl.board import BoardDesign
from sim.fast import _find_tool, verilate
from sim.runner import config_key

__all__ = ["BUILD_FOLDER", "build_root", "HARNESS", "SimBoard", "board", "build"]

BUILD_FOLDER = "boardsim"  # the builds' folder in the cache (eqprop.cache.cache_dir)
HARNESS = Path(__file__).resolve().with_name("board_harness.cpp")
TOP = "eqprop_board"
EXE = "board"
VERILATOR_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast")
# Verilator's optimisation level of a netlist build (`build` with `netlist`), in place of sim.netlist's -O3:
# at -O3 the mapped iCE40 board design never answered a frame under Verilator 5.048 (with X as 0 or
# "fast" alike), while the same netlist answers at -O0 and under Icarus Verilog; why is not found yet
NETLIST_OPT = "-O0"
DEFAULT_DIVISOR = 8        # cycles a bit: fast to simulate (the boards run 104 .. 417 at 115200 baud)


def build_root() -> Path:
    """The folder of this module's builds: `BUILD_FOLDER` in the build cache (`eqprop.cache.cache_dir`)."""
    return cache_dir(BUILD_FOLDER)


@dataclasses.dataclass(frozen=True)
class Built:
    exe: Path
    tool: str
    build_s: float
    netlist: str | None = None            # the family whose synthesised netlist this is; None: the RTL
    synth_s: float = 0.0                  # seconds of the synthesis (0.0: up to date, or the RTL)
    cells: dict[str, int] | None = None   # cell type -> count of the netlist (the routed one: its cells)
    stage: str = "synth"                  # "synth": the synthesised netlist; "routed": after place and route
    routed: object = None                 # sim.netlist.RoutedBoard of a routed build (Fmax, P&R seconds)


def build(cfg: HwConfig, *, divisor: int = DEFAULT_DIVISOR, root: Path | None = None,
          params: IntParams | None = None, netlist: str | None = None, stage: str = "synth",
          mutate: str | None = None, log=None) -> Built:
    """Export BoardDesign(cfg, divisor) and compile it with the harness; `sim.runner.ToolMissing` when
    Verilator, a C++ compiler or make is missing, `sim.runner.SimError` when the build fails.

    `netlist` (``"ice40"`` or ``"ecp5"``): synthesise the board design with that family's Yosys script
    (`sim.netlist.synthesise_verilog`, the script of ``make fpga``) and build the harness on the mapped
    netlist with the family's cell models (`sim.netlist.cell_models`, a quick ``-O0`` build) instead of
    the RTL, in ``<configuration>-d<divisor>-<family>/``. `stage` ``"routed"`` (iCE40 only): that netlist
    also placed and routed for the UP5K with nextpnr-ice40 (`sim.netlist.route_board`: the board design's
    UART, clock, reset and LED ports on pins, so no pin harness hides anything) and the routed netlist,
    read back by Yosys, simulated with Yosys's iCE40 models and ``sim/cells/ice40_routed.v``; `mutate` names one
    of its ICESTORM_LC cells whose truth table is complemented (`sim.netlist.mutate_lc`: the seeded mutation of the
    tests), built in ``routed/mutant/``. `ValueError` for a `netlist` other than None, ``"ice40"`` and ``"ecp5"``, a
    `stage` other than ``"synth"`` and ``"routed"``, or a `mutate` or a routed stage that the netlist cannot have."""
    if stage not in ("synth", "routed"):
        raise ValueError(f"stage must be synth or routed, not {stage!r}")
    if netlist is not None:
        from sim.netlist import FAMILIES

        if netlist not in FAMILIES:
            raise ValueError(f"netlist must be None or one of {', '.join(FAMILIES)}, not {netlist!r}")
    if mutate is not None and stage != "routed":
        raise ValueError(f"stage must be routed to mutate a routed cell, not {stage!r}")
    if stage == "routed" and netlist != "ice40":
        raise ValueError(f"netlist must be 'ice40' for stage routed, not {netlist!r}: the routed board design "
                         "is co-simulated for the iCE40 UP5K only")
    tool, described = _find_tool()
    folder = Path(root if root is not None else build_root()) / f"{config_key(cfg)}-d{divisor}"
    if netlist is not None:
        folder = folder.with_name(f"{folder.name}-{netlist}")
    folder.mkdir(parents=True, exist_ok=True)
    design = BoardDesign(cfg=cfg, params=params, divisor=divisor, heartbeat=1000)
    text = design_verilog(design, TOP)
    if netlist is not None:
        from sim import netlist as nl

        verilog, js, synth_s, cells = nl.synthesise_verilog(text, TOP, netlist, folder, what="the board design",
                                                           log=log)
        sources, includes = nl.cell_models(netlist)
        routed = None
        if stage == "routed":
            routed = nl.route_board(js, TOP, log=log)
            folder, verilog, cells = routed.dir, routed.verilog, routed.cells
            if mutate is not None:
                import json

                mutant, _, _ = nl.mutate_lc(json.loads(routed.json.read_text()), mutate)
                folder = routed.dir / "mutant"
                folder.mkdir(exist_ok=True)
                verilog = nl.write_prepared_verilog(nl.prepare_routed_ice40(mutant, TOP), folder / "routed.v")
            sources = [*sources, nl.ICE40_ROUTED_MODELS]
        with open(folder / "build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            exe, build_s = verilate(tool, described, folder, [*sources, verilog], top=TOP, harness=HARNESS,
                                    exe_name=EXE, extra=tuple(f"-I{i}" for i in includes),
                                    what=f"the board harness on the {netlist} netlist",
                                    args=tuple(NETLIST_OPT if a == "-O3" else a for a in nl.NETLIST_ARGS),
                                    make_vars=nl.QUICK_MAKE)
        return Built(exe, described, build_s, netlist, synth_s, cells, stage, routed)
    source = folder / f"{TOP}.v"
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    with open(folder / "build.lock", "w") as lock:      # one build of a folder at a time, across processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe, build_s = verilate(tool, described, folder, [source], top=TOP, harness=HARNESS, exe_name=EXE,
                                what="the board harness", args=VERILATOR_ARGS)
    return Built(exe, described, build_s)


class SimBoard:
    """A running harness: the simulated board on the master side of a pty (`port` is the other side)."""

    def __init__(self, built: Built, divisor: int):
        self.divisor = divisor
        master, slave = os.openpty()
        tty.setraw(slave)              # no line discipline: every byte passes as it is
        self.port = os.ttyname(slave)
        self._slave = slave            # held open, so that the pty survives the host closing and reopening it
        self._master = master
        self.proc = subprocess.Popen([str(built.exe), str(divisor), str(master)], pass_fds=(master,),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _ask(self, line: str) -> str:
        if self.proc.poll() is not None:
            raise LinkError(f"the board simulation has exited (status {self.proc.returncode})")
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def reset(self, after_bytes: int = 0) -> None:
        """Hold the board's reset for 4 cycles once `after_bytes` more bytes have reached its rx line."""
        self._ask(f"reset {after_bytes}")

    def cycles(self) -> int:
        """Simulated clock cycles so far."""
        return int(self._ask("cycles").split()[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


def board(cfg: HwConfig, *, divisor: int | None = None, timeout_s: float = 20.0, retries: int = 2,
          params: IntParams | None = None, netlist: str | None = None, stage: str = "synth",
          mutate: str | None = None) -> Accelerator:
    """The co-simulated board of `cfg` as an `Accelerator` (close it, or use ``with``); its `SimBoard` is
    ``accelerator.backend.sim``. The link's baud rate is nominal (simulated time has no rate); `timeout_s`
    is wall time, generous because the simulation runs slower than the board. `netlist` (``"ice40"``,
    ``"ecp5"``): the board design as Yosys synthesised it for that family, not the RTL (`build`); `stage`
    ``"routed"`` (iCE40): that netlist after place and route, `mutate` a cell of it to complement (`build`)."""
    divisor = DEFAULT_DIVISOR if divisor is None else divisor
    built = build(cfg, divisor=divisor, params=params, netlist=netlist, stage=stage, mutate=mutate)
    sim = SimBoard(built, divisor)
    try:
        ser = open_serial(sim.port, timeout_s=0.05)
    except BaseException:
        sim.close()
        raise

    def close():
        ser.close()
        sim.close()

    try:
        # a netlist simulates a thousand times slower than the RTL: a command may run for longer than
        # BusBackend's wall-time default, so it gets `timeout_s` too
        slow = {"command_timeout_s": timeout_s} if netlist else {}
        backend = BusBackend(Link(ser, timeout_s=timeout_s, retries=retries), on_close=close, **slow)
    except BaseException:
        close()
        raise
    backend.sim = sim
    backend.built = built
    return Accelerator(backend)
