"""The accelerator's top level: an AXI4-Lite slave over the register map of `eqprop.hw.formats`, driving `Core`.

Every offset, field, window, accepted range and code comes from `eqprop.hw.formats` (`Reg`, `Control`,
`Status`, `ErrorCode`, `Mode`, `windows`, `lr_shift_range`, `config_registers`), so the host driver,
the documents and the RTL cannot drift. The slave takes one transaction at a time (a write needs
AWVALID and WVALID together; reads and writes alternate when both are pending) and answers OKAY, or
SLVERR for an illegal access, which also sets STATUS.ERROR and the ERROR code and changes nothing
else. The checks, in this order (the first that fails names the error):

- an address outside every register and window, an unaligned address (bits 1:0 not 0), or a write to
  a read-only register or window: BAD_ADDRESS;
- a write whose WSTRB is not 0b1111: BAD_STROBE;
- a written value outside what the target holds (a window element outside its format's code range,
  an LR_SHIFT outside `lr_shift_range`, a SAMPLE outside 0 .. B-1, CONTROL with a reserved bit set or
  with START and RESET together): BAD_VALUE;
- START or RESET while busy: START_WHILE_BUSY (the running command goes on untouched);
- START with a mode that is not a `Mode` (or TRAIN on an inference-only core): BAD_MODE.

Window accesses (input, target, states, biases, weights, shadows) go to the core's host port. A
weight-matrix element index is split into row and column by repeated subtraction, so such an access
takes up to ``n_{l+1} + n_l / P`` extra cycles, except a sequential one: an access to the element
after the previous window access's, in the same window, steps from that access's memory position and
takes no extra cycles, so a bulk load or read-back in index order runs at bus speed. While the core
is busy a window access waits until the command ends.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    Window,
    config_registers,
    lr_shift_range,
    windows,
)
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from rtl.core import Core
from rtl.schedule import Phase
from rtl.tiled_bus import TiledWindows
from rtl.update import LR_SHIFT_BITS

__all__ = ["OKAY", "SLVERR", "AxiLiteAccelerator", "address_width"]

OKAY, SLVERR = 0b00, 0b10   # AXI response codes


def _or(terms):
    """The OR of `terms` (Amaranth values), 0 if there are none."""
    out = 0
    for t in terms:
        out = out | t
    return out


def address_width(cfg: HwConfig) -> int:
    """Byte-address bits the slave decodes: enough for the last window of `cfg` (of its learning twin for an
    inference-only core, whose SHADOW offsets then answer SLVERR: every core takes the same region)."""
    return ceil_log2(max(w.base + 4 * w.count for w in windows(cfg.learning_twin())))


class AxiLiteAccelerator(wiring.Component):
    """The EqProp accelerator with an AXI4-Lite slave (32-bit data).

    Parameters
    ----------
    cfg : HwConfig
    params : IntParams, optional
        Initial memory contents (the exported memory images); zeros if None.

    Members
    -------
    s_axil_awaddr, s_axil_awvalid, s_axil_awready, s_axil_wdata, s_axil_wstrb, s_axil_wvalid,
    s_axil_wready, s_axil_bresp, s_axil_bvalid, s_axil_bready, s_axil_araddr, s_axil_arvalid,
    s_axil_arready, s_axil_rdata, s_axil_rresp, s_axil_rvalid, s_axil_rready : AXI4-Lite slave
        Registers are written whole: a write with ``wstrb`` other than 0b1111 is refused (BAD_STROBE).
        AWPROT/ARPROT are not used.
    irq : Signal(1), out
        STATUS.DONE, for an interrupt controller.

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.
    ValueError
        If `cfg` does not fit the register map (`eqprop.hw.formats.config_registers`).

    Latency (from the accepted address to RVALID or BVALID): a register 3 cycles; a window element 11
    plus its row and its column // P (9 for a sequential access); a command `rtl.core.cycle_model` cycles.
    """

    def __init__(self, *, cfg: HwConfig, params: IntParams | None = None):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        self.cfg = cfg
        self.registers = config_registers(cfg)     # raises ValueError for too many layers
        # the P-lane core, or the tiled core (a tiled configuration) with the same interface
        self.core = TiledWindows(cfg=cfg, params=params) if cfg.tiled else Core(cfg=cfg, params=params)
        self.error_code = Signal(range(max(ErrorCode) + 1), name="error")   # ERROR, for the formal checks
        aw = address_width(cfg)
        super().__init__({
            "s_axil_awaddr": In(aw), "s_axil_awvalid": In(1), "s_axil_awready": Out(1),
            "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1), "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
            "s_axil_araddr": In(aw), "s_axil_arvalid": In(1), "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1), "s_axil_rready": In(1),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, L, n = self.cfg, self.cfg.n_layers, self.cfg.sizes
        # the lanes a matrix row is split into: P, or for the tiled core, whose host port takes the row and the
        # column, the widest layer (a row is one "word", the column its "lane")
        p = max(n) if cfg.tiled else cfg.mac_lanes
        m.submodules.core = core = self.core
        regs = self.registers
        host = core.host

        addr = Signal(self.s_axil_awaddr.shape())
        wdata = Signal(32)
        wstrb = Signal(4)
        writing = Signal()
        rdata = Signal(32)
        resp = Signal(2)
        error = self.error_code
        last_mode = Signal(2)
        lr = [Signal(LR_SHIFT_BITS, name=f"lr_shift{l}", init=cfg.lr_shifts[l]) for l in range(L)]
        prefer_read = Signal()        # alternate when a read and a write are both pending
        sample = Signal(range(cfg.samples))   # SAMPLE: the sample of the INPUT and STATE windows

        for l in range(L):
            m.d.comb += core.lr_shift[l].eq(lr[l])
        status = Signal(32)
        m.d.comb += [
            status.eq(Mux(core.busy, Status.BUSY, 0) | Mux(core.done, Status.DONE, 0)
                      | Mux(error != 0, Status.ERROR, 0) | Mux(core.unsettled, Status.UNSETTLED, 0)),
            self.irq.eq(core.done),
        ]
        m.d.sync += [core.start.eq(0), core.clear.eq(0)]

        # --- decode: a read-only register value, or a window hit --------------------------------
        ro = {Reg.ID: regs["ID"], Reg.VERSION: regs["VERSION"], Reg.CFG_LAYERS: regs["CFG_LAYERS"],
              Reg.CFG_FORMATS: regs["CFG_FORMATS"], Reg.CFG_STEPS: regs["CFG_STEPS"],
              Reg.CFG_SHIFTS: regs["CFG_SHIFTS"], Reg.CFG_LANES: regs["CFG_LANES"], Reg.CFG_ACC: regs["CFG_ACC"],
              Reg.CFG_FEATURES: regs["CFG_FEATURES"], Reg.CFG_TILE: regs["CFG_TILE"]}
        ro.update({Reg.LAYER_SIZE + 4 * k: regs[f"LAYER_SIZE.{k}"] for k in range(L + 1)})
        ro.update({Reg.LAYER_FRAC + 4 * l: regs[f"LAYER_FRAC.{l}"] for l in range(L)})
        ro_live = {Reg.STATUS: status, Reg.ERROR: error, Reg.RESULT: core.result, Reg.CYCLES: core.cycles,
                   Reg.STEPS: core.steps, Reg.CONTROL: last_mode << CONTROL_MODE_SHIFT,
                   **{Reg.PHASE_STEPS + 4 * i: core.phase_steps[i] for i in range(len(Phase))},
                   **{Reg.RESULTS + 4 * b: core.results[b] for b in range(cfg.samples)}}

        # The address decode runs in two registered steps, so that neither shares a cycle with the checks
        # (together they were the longest path of the UP5K configuration). On accepting an access, the
        # incoming address is decoded into whether it names a register and one a host may write, and which
        # window holds it (one-hot): wide comparisons of the address alone; a write's value is compared with
        # every range a target accepts. Decode then combines these registers, flat (the windows are
        # one-hot), with the direction and the alignment into the checks it registers for Check, and
        # registers the index of the register (for Check's read).
        reg_values = [*ro.values(), *ro_live.values(), *lr, sample]   # the registers' values, by index
        writable = {Reg.CONTROL, *(Reg.LR_SHIFT + 4 * l for l in range(L)), Reg.SAMPLE}
        offsets = [*ro, *ro_live, *(Reg.LR_SHIFT + 4 * l for l in range(L)), Reg.SAMPLE]   # by index
        wins = windows(cfg)
        reg_bits = ceil_log2(max(offsets) + 1)
        assert 1 << reg_bits <= min(w.base for w in wins), "the registers lie below every window"
        a_in = Signal.like(addr)                    # the address being accepted (Idle)
        reg_hit, reg_writable = Signal(), Signal()  # it names a register; one a host may write
        pre_win = Signal(len(wins))                 # the window that holds it, one-hot (or none)
        with m.If(a_in[reg_bits:] == 0):
            m.d.comb += [reg_hit.eq(_or([a_in[:reg_bits] == o for o in offsets])),
                         reg_writable.eq(_or([a_in[:reg_bits] == o for o in writable]))]
        m.d.comb += [pre_win[k].eq((a_in >= w.base) & (a_in < w.base + 4 * w.count)) for k, w in enumerate(wins)]
        r_reg_hit, r_reg_writable, r_pre_win = Signal(), Signal(), Signal.like(pre_win)
        low = addr[:reg_bits]
        reg_index = Signal(range(len(reg_values)))  # the register its low bits name, for Check's read
        # (of no use where it names none: a window access reads the memory, a refused one answers 0)
        with m.Switch(low):
            for i, offset in enumerate(offsets):
                with m.Case(offset):
                    m.d.comb += reg_index.eq(i)

        def onehot(values):   # the value of the window r_pre_win names (0 if none)
            return _or([Mux(r_pre_win[k], v, 0) for k, v in enumerate(values)])

        # the value checks, in the same two steps: the written value's comparisons with each range a target
        # accepts are registered as the write is accepted; Decode picks the target's
        w_in = self.s_axil_wdata
        ranges = {(w.lo, w.hi) for w in wins} | {lr_shift_range(cfg, l) for l in range(L)} | {(0, cfg.samples - 1)}
        in_range = {r: Signal(name=f"in_range_{r[0]}_{r[1]}".replace("-", "m")) for r in sorted(ranges)}
        reserved = 0xFFFF_FFFF ^ (int(Control.START) | int(Control.RESET) | 3 << CONTROL_MODE_SHIFT)
        both = int(Control.START) | int(Control.RESET)
        control_ok = Signal()       # a CONTROL value without reserved bits, START and RESET not together
        win = Signal()
        win_writable = Signal()
        win_sel, win_layer = Signal(Window), Signal(range(L + 1))
        win_index = Signal(range(max(w.count for w in wins) + 1))
        win_matrix = Signal()       # a weight or shadow window: split the index into row and column
        m.d.comb += [win.eq(r_pre_win.any()), win_writable.eq(onehot([int(w.writable) for w in wins])),
                     win_sel.eq(onehot([int(w.kind) for w in wins])), win_layer.eq(onehot([w.layer for w in wins])),
                     win_index.eq(onehot([(addr - w.base)[2:] for w in wins])),
                     win_matrix.eq(onehot([int(w.kind in (Window.WEIGHT, Window.SHADOW)) for w in wins]))]
        legal = Signal()            # a register or a window, and the access direction is allowed
        m.d.comb += legal.eq((r_reg_hit & (~writing | r_reg_writable)) | (win & (~writing | win_writable)))
        value_ok = Signal(init=1)   # a write's value is one the target holds
        with m.If(win):
            m.d.comb += value_ok.eq(onehot([in_range[w.lo, w.hi] for w in wins]))
        for l in range(L):
            with m.Elif(low == Reg.LR_SHIFT + 4 * l):
                m.d.comb += value_ok.eq(in_range[lr_shift_range(cfg, l)])
        with m.Elif(low == Reg.SAMPLE):
            m.d.comb += value_ok.eq(in_range[0, cfg.samples - 1])
        with m.Elif(low == Reg.CONTROL):
            m.d.comb += value_ok.eq(control_ok)

        # the decoded window, registered in Decode: the split and the host access that follow use these
        # registers, not the address comparators (which would otherwise lie on the path into the memories)
        r_sel, r_layer, r_matrix = Signal(Window), Signal.like(win_layer), Signal()
        r_win = Signal()
        # the checks of Decode, registered for Check: whether the address, the strobe and the value pass
        # (they depend on the accepted transaction alone; Check names the first that fails), whether the access writes
        # CONTROL, its START, RESET and mode bits, and which LR_SHIFT register it writes. Check then only
        # ranks them and commits, so no address comparator lies on the path into a register it writes.
        r_address_ok, r_strobe_ok, r_value_ok = Signal(), Signal(), Signal()
        r_reg = Signal.like(reg_index)
        r_control, r_start, r_reset, r_mode_ok = Signal(), Signal(), Signal(), Signal()
        r_mode = Signal(2)
        r_lr = Signal(L)
        r_sample = Signal()

        # per-layer constants of the index split
        cols, words_per_row = Signal(range(max(n) + 1)), Signal(range(max(n) + 1))
        with m.Switch(r_layer):
            for l in range(L + 1):
                with m.Case(l):
                    m.d.comb += [cols.eq(n[l] if l < L else 1), words_per_row.eq(-(-n[l] // p))]

        rem, word = Signal.like(win_index), Signal.like(host.word)

        # the previous window access, for the sequential fast path: its window, index, memory position,
        # and whether it was the last column of its row / the last lane of its word
        # (the next element's address, and the positions the next element steps to, prepared at the
        # previous access's end so that Check only compares registers and picks among them)
        seq = Signal()
        seq_sel, seq_layer, seq_addr = Signal(Window), Signal.like(win_layer), Signal.like(addr)
        seq_word, seq_word_next, seq_lane_next = Signal.like(word), Signal.like(word), Signal.like(rem)
        seq_col_next = Signal.like(win_index)
        seq_row_end, seq_lane_end = Signal(), Signal()
        r_seq_addr = Signal()              # Decode: the address is the previous access's plus 4
        col = Signal.like(win_index)       # the column of the current matrix access (after Split-Row)
        sequential = Signal()              # the same window and the next address: the next index
        m.d.comb += sequential.eq(seq & r_win & (r_sel == seq_sel) & (r_layer == seq_layer) & r_seq_addr)

        # the host request, a register that is 1 exactly in Window (set on entering, cleared on the
        # acknowledgement that leaves it), and the access, all straight from registers: the core's
        # memory ports see flip-flops, not the state decode (the core reads the access under req only)
        req = Signal()
        m.d.comb += [host.req.eq(req), host.we.eq(writing), host.sel.eq(r_sel), host.layer.eq(r_layer),
                     host.word.eq(word), host.lane.eq(rem), host.sample.eq(sample), host.wdata.eq(wdata)]

        def fail(code):
            m.d.sync += [error.eq(code), resp.eq(SLVERR)]

        with m.FSM(init="Idle"):
            with m.State("Idle"):
                take_write = self.s_axil_awvalid & self.s_axil_wvalid & ~(self.s_axil_arvalid & prefer_read)
                m.d.comb += a_in.eq(Mux(take_write, self.s_axil_awaddr, self.s_axil_araddr))
                with m.If(take_write | self.s_axil_arvalid):
                    # the address, and the first step of its decode
                    m.d.sync += [addr.eq(a_in), r_reg_hit.eq(reg_hit),
                                 r_reg_writable.eq(reg_writable), r_pre_win.eq(pre_win), resp.eq(OKAY)]
                    m.next = "Decode"
                with m.If(take_write):
                    m.d.comb += [self.s_axil_awready.eq(1), self.s_axil_wready.eq(1)]
                    m.d.sync += [wdata.eq(w_in), wstrb.eq(self.s_axil_wstrb), writing.eq(1), prefer_read.eq(1),
                                 control_ok.eq(((w_in & reserved) == 0) & ((w_in & both) != both))]
                    m.d.sync += [ok.eq((w_in.as_signed() >= lo) & (w_in.as_signed() <= hi))
                                 for (lo, hi), ok in in_range.items()]
                with m.Elif(self.s_axil_arvalid):
                    m.d.comb += self.s_axil_arready.eq(1)
                    m.d.sync += [writing.eq(0), prefer_read.eq(0)]

            with m.State("Decode"):
                # the address decode and the value checks, registered
                m.d.sync += [r_reg.eq(reg_index), rem.eq(win_index), word.eq(0), r_sel.eq(win_sel),
                             r_layer.eq(win_layer), r_matrix.eq(win_matrix), r_win.eq(win),
                             r_seq_addr.eq(addr == seq_addr)]
                m.d.sync += [r_address_ok.eq(legal & (addr[:2] == 0)),
                             r_strobe_ok.eq(~writing | (wstrb == 0b1111)), r_value_ok.eq(~writing | value_ok)]
                mode = wdata[CONTROL_MODE_SHIFT:CONTROL_MODE_SHIFT + 2]
                m.d.sync += [r_control.eq(writing & r_reg_hit & (low == Reg.CONTROL)),
                             r_start.eq((wdata & Control.START) != 0), r_reset.eq((wdata & Control.RESET) != 0),
                             r_mode.eq(mode),
                             # an inference-only core refuses TRAIN as it refuses a code that is not a Mode
                             # (and a tiled core RELAX, which it does not run)
                             r_mode_ok.eq((mode == Mode.INFER) | ((mode == Mode.RELAX) if not cfg.tiled else 0)
                                          | ((mode == Mode.TRAIN) if cfg.learning else 0))]
                m.d.sync += [r_lr[l].eq(writing & r_reg_hit & (low == Reg.LR_SHIFT + 4 * l)) for l in range(L)]
                m.d.sync += r_sample.eq(writing & r_reg_hit & (low == Reg.SAMPLE))
                m.next = "Check"

            with m.State("Check"):
                # the register's value (a window access replaces it with the memory's)
                with m.Switch(r_reg):
                    for i, value in enumerate(reg_values):
                        with m.Case(i):
                            m.d.sync += rdata.eq(value)
                # the first failing check names the error; else the access goes on, or commits
                with m.If(~r_address_ok):
                    fail(ErrorCode.BAD_ADDRESS)
                    m.next = "Respond"
                with m.Elif(~r_strobe_ok):
                    fail(ErrorCode.BAD_STROBE)
                    m.next = "Respond"
                with m.Elif(~r_value_ok):
                    fail(ErrorCode.BAD_VALUE)
                    m.next = "Respond"
                with m.Elif(sequential):   # the next element: step from the previous position
                    with m.If(r_matrix & seq_row_end):
                        m.d.sync += [word.eq(seq_word_next), rem.eq(0), col.eq(0)]
                    with m.Elif(seq_lane_end):
                        m.d.sync += [word.eq(seq_word_next), rem.eq(0), col.eq(seq_col_next)]
                    with m.Else():
                        m.d.sync += [word.eq(seq_word), rem.eq(seq_lane_next), col.eq(seq_col_next)]
                    m.d.sync += req.eq(1)
                    m.next = "Window"
                with m.Elif(r_win):
                    m.next = "Split-Row"
                with m.Elif(r_control):
                    with m.If((r_start | r_reset) & core.busy):
                        fail(ErrorCode.START_WHILE_BUSY)
                    with m.Elif(r_start & ~r_mode_ok):
                        fail(ErrorCode.BAD_MODE)
                    with m.Else():
                        with m.If(r_reset):
                            m.d.sync += [core.clear.eq(1), error.eq(ErrorCode.NONE)]
                        with m.If(r_start):
                            m.d.sync += [core.start.eq(1), core.mode.eq(r_mode), last_mode.eq(r_mode),
                                         error.eq(ErrorCode.NONE)]
                    m.next = "Respond"
                with m.Else():
                    for l in range(L):
                        with m.If(r_lr[l]):
                            m.d.sync += lr[l].eq(wdata)
                    with m.If(r_sample):
                        m.d.sync += sample.eq(wdata)
                    m.next = "Respond"

            with m.State("Split-Row"):
                # row-major matrix index -> row r (counted into the word address) and column
                with m.If(r_matrix & (rem >= cols)):
                    m.d.sync += [rem.eq(rem - cols), word.eq(word + words_per_row)]
                with m.Else():
                    m.d.sync += col.eq(rem)
                    m.next = "Split-Column"

            with m.State("Split-Column"):
                with m.If(rem >= p):
                    m.d.sync += [rem.eq(rem - p), word.eq(word + 1)]
                with m.Else():
                    m.d.sync += req.eq(1)
                    m.next = "Window"

            with m.State("Window"):
                with m.If(host.ack):
                    m.d.sync += [req.eq(0), rdata.eq(host.rdata), seq.eq(1), seq_sel.eq(r_sel), seq_layer.eq(r_layer),
                                 seq_addr.eq(addr + 4), seq_word.eq(word), seq_word_next.eq(word + 1),
                                 seq_lane_next.eq(rem + 1), seq_col_next.eq(col + 1),
                                 seq_row_end.eq(r_matrix & (col + 1 == cols)), seq_lane_end.eq(rem == p - 1)]
                    m.next = "Respond"

            with m.State("Respond"):
                with m.If(writing):
                    m.d.comb += [self.s_axil_bvalid.eq(1), self.s_axil_bresp.eq(resp)]
                    with m.If(self.s_axil_bready):
                        m.next = "Idle"
                with m.Else():
                    m.d.comb += [self.s_axil_rvalid.eq(1), self.s_axil_rresp.eq(resp),
                                 self.s_axil_rdata.eq(Mux(resp == OKAY, rdata, 0))]
                    with m.If(self.s_axil_rready):
                        m.next = "Idle"
        return m
