"""The tiled core behind the register map: `TiledWindows` gives `rtl.tiled_core.TiledCore` the interface of the
P-lane core (`rtl.core.Core`) that `rtl.axil.AxiLiteAccelerator` drives, so the bus, its checks and its windows
are the same for both datapaths.

The register windows address one element at a time: the element [r, c] of a weight or shadow matrix, element i
of a vector (`eqprop.hw.formats.windows`). The tiled core's memories hold rows of many elements (a whole PE x SIMD
tile a row of the weight memory; blocks of neurons in the others), in block RAM that has no per-element write
enables, so an element access is a row access through the core's host port: the row is loaded into the core's
staging row, a write replaces the element there and writes the row back, a read takes the element out of it. A
shadow write then writes its derived weight into the weight tile the same way, as the P-lane core does.

Where the element lives (`rtl.tiled_schedule.tile_memory`, `TiledCore.state_address`): row r of W_l is in block
r // N_{l+1} of s_{l+1} and column c in block c // N_l of s_l (the block sizes, SIMD or PE by the layer's
parity); the tile word is ``weight_base(l) + (r // N_{l+1}) blocks(l) + c // N_l``, the element within it
``(r % N_{l+1}) SIMD + c % N_l``, transposed for odd l. The divisions are repeated subtractions, one step of each a
cycle, and the products with the layer's constants are sums built up as they go (no multiplier).

Semantics the register map adds for a tiled core (docs/register-map.md): it has no RELAX (`rtl.axil` refuses it,
BAD_MODE); after TRAIN the STATE windows show the free phase's states (of the first sample, whatever SAMPLE
says); after INFER, sample SAMPLE's; RESET makes them read zero until the next command. STEPS and PHASE_STEPS:
after INFER the free phase's the largest of the samples' steps, after TRAIN each phase's; STATUS.UNSETTLED is set
when any sample or phase ran to its limit still moving. CYCLES is `rtl.tiled_core.command_cycles` or
`train_cycles`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from eqprop.hw.formats import Mode, Window
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from rtl.core import bus_members
from rtl.tiled_core import TiledCore, weight_base
from rtl.update import derive_weight

__all__ = ["TiledWindows"]


class TiledWindows(wiring.Component):
    """`rtl.tiled_core.TiledCore` with the members of `rtl.core.Core` (``start``, ``mode``, ``clear``, ``lr_shift``,
    ``busy``, ``done``, ``result``, ``results``, ``cycles``, ``steps``, ``phase_steps``, ``unsettled``, ``host``),
    so that `rtl.axil.AxiLiteAccelerator` drives either.

    Parameters
    ----------
    cfg : HwConfig
        A tiled configuration (``pe`` and ``simd`` set).
    params : IntParams, optional
        The weight, bias and shadow memories' initial contents (zeros if None).
    update_rows : int
        A learning core's tile rows updated a cycle (`TiledCore`).

    Members
    -------
    host : bus, in/out
        As `rtl.core.Core`'s, except that ``word`` is the row r of a matrix element (0 for a vector) and ``lane``
        its column c (a vector's element i): hold ``req`` until ``ack``; while busy the access waits until the
        command ends. From ``req`` to ``ack``: an element read takes 8 cycles + max(r // N_{l+1}, c // N_l) (the
        division steps), a write one more, a shadow write six more again (its weight's row).
    """

    def __init__(self, *, cfg: HwConfig, params: IntParams | None = None, update_rows: int = 1):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        if not cfg.tiled:
            raise ValueError("TiledWindows needs a tiled configuration (pe and simd set); the P-lane core is "
                             "rtl.core.Core")
        self.cfg = cfg
        self.core = TiledCore(cfg=cfg, params=params, update_rows=update_rows)
        super().__init__(bus_members(cfg, words=max(cfg.sizes) + 1, lanes=max(cfg.sizes)))

    def elaborate(self, platform):
        m = Module()
        cfg, core = self.cfg, self.core
        plan, L, N = core.plan, cfg.n_layers, core.samples
        pe, simd, R = core.pe, core.simd, core.update_rows
        m.submodules.core = core

        # --- commands and counters -----------------------------------------------------------------
        m.d.comb += [core.start.eq(self.start & ((self.mode == Mode.INFER) | (self.mode == Mode.TRAIN))),
                     core.clear.eq(self.clear), self.busy.eq(core.busy), self.done.eq(core.done),
                     self.results.eq(core.results), self.result.eq(core.results[0]), self.cycles.eq(core.cycles),
                     self.unsettled.eq(core.unsettled)]
        if cfg.learning:
            m.d.comb += [core.train.eq(self.mode == Mode.TRAIN), core.lr_shift.eq(self.lr_shift)]
        # after INFER: the free phase's steps, the largest of the samples' (the core keeps it); after TRAIN: each
        # phase's
        free = core.free_steps
        phases = [free, Const(0), Const(0)]
        if cfg.learning:
            phases = [Mux(core.trained, core.steps[0], free)] + [
                Mux(core.trained, core.steps[1 + j], 0) if j < core.nudged else Const(0) for j in range(2)]
        # registered (a cycle after the core's, which DONE follows by more), so that the sum's adders do not end in
        # the bus's read data
        m.d.sync += [self.phase_steps[i].eq(v) for i, v in enumerate(phases)]
        m.d.sync += self.steps.eq(sum(phases))

        # RESET makes the states read zero until the next command
        zeroed = Signal()
        with m.If(self.clear & ~core.busy):
            m.d.sync += zeroed.eq(1)
        with m.Elif(core.start):
            m.d.sync += zeroed.eq(0)

        # --- the windows: an element access as a row access of the core's host port ------------------
        host, port = self.host, core.host
        we, sel, layer, sample = Signal(), Signal(Window), Signal(range(L + 1)), Signal(range(N))
        wdata, rdata = Signal(32), Signal(32)
        rr, rc = Signal.like(host.word), Signal.like(host.lane)      # the row and column left to divide
        acc = Signal(range(max(2, core._max_depth() + 1)))          # the row address (a weight tile's word)
        sacc = Signal.like(acc) if cfg.learning else None          # a shadow row's address
        ack = Signal()
        m.d.comb += [host.ack.eq(ack), host.rdata.eq(rdata)]

        # the constants of the (window, layer) in hand: the block sizes that divide the row and the column, what a
        # block of rows adds to the tile word, and the first tile word
        row_block, col_block = Signal(range(max(pe, simd) + 1)), Signal(range(max(pe, simd) + 1))
        row_step = Signal.like(acc)
        row_step_sh = Signal.like(acc)      # and a block of rows to the shadow row: blocks(l) PE / R
        m.d.comb += [row_block.eq(1), row_step.eq(0), row_step_sh.eq(0)]
        with m.Switch(sel):
            with m.Case(Window.INPUT):
                m.d.comb += col_block.eq(plan.block_size(0))
            with m.Case(Window.TARGET):
                m.d.comb += col_block.eq(plan.block_size(L))
            with m.Case(Window.STATE):
                with m.Switch(layer):
                    for k in range(L + 1):
                        with m.Case(k):
                            m.d.comb += col_block.eq(plan.block_size(k))
            with m.Case(Window.BIAS):
                with m.Switch(layer):
                    for l in range(L):
                        with m.Case(l):
                            m.d.comb += col_block.eq(plan.block_size(l + 1))
            with m.Case(Window.WEIGHT, Window.SHADOW):
                with m.Switch(layer):
                    for l in range(L):
                        with m.Case(l):
                            m.d.comb += [row_block.eq(plan.block_size(l + 1)), col_block.eq(plan.block_size(l)),
                                         row_step.eq(plan.blocks(l)), row_step_sh.eq(plan.blocks(l) * pe // R)]

        # the element's place once divided: a tile's row i and column j (transposed for odd l), and the tables of
        # i SIMD and of a shadow row's place (rows of R tile rows)
        odd = Signal()
        m.d.comb += odd.eq(layer[0])
        ti, tj = Mux(odd, rc, rr), Mux(odd, rr, rc)
        times_simd = Array(Const(i * simd, range(pe * simd)) for i in range(pe))
        tile_elem = Signal(range(pe * simd))
        m.d.comb += tile_elem.eq(times_simd[ti[:max(1, (pe - 1).bit_length())]] + tj)

        # the row address of the memory the access reads, and the element within the row
        m_sel, m_addr, m_elem = Signal.like(port.sel), Signal.like(port.addr), Signal.like(port.elem)
        state_sample = Mux(core.trained, 0, sample) if cfg.learning else sample
        bank = Signal()
        m.d.comb += bank.eq(Array(core.steps[s][0] for s in range(core.state_samples))[state_sample])
        with m.Switch(sel):
            with m.Case(Window.INPUT):
                m.d.comb += [m_sel.eq(core.host_target("input")), m_addr.eq(self._input_row(sample, acc)),
                             m_elem.eq(rc)]
            if cfg.learning:
                with m.Case(Window.TARGET):
                    m.d.comb += [m_sel.eq(core.host_target("target")), m_addr.eq(acc), m_elem.eq(rc)]
            with m.Case(Window.STATE):
                with m.Switch(layer):
                    with m.Case(0):
                        m.d.comb += [m_sel.eq(core.host_target("input")), m_addr.eq(self._input_row(sample, acc))]
                    for k in range(1, L + 1):
                        with m.Case(k):
                            bits = core.block_bits[k]
                            m.d.comb += [m_sel.eq(core.host_target("state", k)),
                                         m_addr.eq(Cat(acc[:bits] if bits else Const(0, 0), bank, state_sample))]
                m.d.comb += m_elem.eq(rc)
            with m.Case(Window.BIAS):
                with m.Switch(layer):
                    for l in range(L):
                        with m.Case(l):
                            m.d.comb += m_sel.eq(core.host_target("bias", l))
                m.d.comb += [m_addr.eq(acc), m_elem.eq(rc)]
            with m.Case(Window.WEIGHT):
                m.d.comb += [m_sel.eq(0), m_addr.eq(acc), m_elem.eq(tile_elem)]
            if cfg.learning:
                with m.Case(Window.SHADOW):
                    # tile row i of word w is element (i % R) SIMD + j of shadow row w PE / R + i // R
                    row_of = Array(Const(i // R, range(pe)) for i in range(pe))
                    place = Array(Const((i % R) * simd, range(R * simd)) for i in range(pe))
                    ib = ti[:max(1, (pe - 1).bit_length())]
                    m.d.comb += [m_sel.eq(core.host_target("shadow")), m_addr.eq(sacc + row_of[ib]),
                                 m_elem.eq(place[ib] + tj)]

        derived = Signal(cfg.weight_bits)
        if cfg.learning:
            m.d.comb += derived.eq(derive_weight(cfg, wdata[:cfg.shadow_bits].as_signed()))
        # the row's memory, address and element, registered: they fan out to every memory's address and to the
        # staging row's element select (the critical path of a learning core behind the bus when they did not)
        m.d.sync += [port.elem.eq(m_elem), port.sel.eq(m_sel), port.addr.eq(m_addr)]
        m.d.comb += port.wdata.eq(wdata)

        with m.FSM(init="Idle"):
            with m.State("Idle"):
                with m.If(host.req & ~core.busy):
                    m.d.sync += [we.eq(host.we), sel.eq(host.sel), layer.eq(host.layer), sample.eq(host.sample),
                                 wdata.eq(host.wdata), rr.eq(host.word), rc.eq(host.lane), acc.eq(0)]
                    if cfg.learning:
                        m.d.sync += sacc.eq(0)
                    m.next = "Base"
            with m.State("Base"):     # the first tile word of a weight or shadow layer
                with m.If((sel == Window.WEIGHT) | (sel == Window.SHADOW)):
                    with m.Switch(layer):
                        for l in range(L):
                            with m.Case(l):
                                m.d.sync += acc.eq(weight_base(plan, l))
                                if cfg.learning:
                                    m.d.sync += sacc.eq(weight_base(plan, l) * pe // R)
                m.next = "Divide"
            with m.State("Divide"):   # one step of each division a cycle
                more_rows, more_cols = rr >= row_block, rc >= col_block
                with m.If(more_rows):
                    m.d.sync += rr.eq(rr - row_block)
                with m.If(more_cols):
                    m.d.sync += rc.eq(rc - col_block)
                m.d.sync += acc.eq(acc + Mux(more_rows, row_step, 0) + more_cols)
                if cfg.learning:
                    m.d.sync += sacc.eq(sacc + Mux(more_rows, row_step_sh, 0) + Mux(more_cols, pe // R, 0))
                with m.If(~more_rows & ~more_cols):
                    m.next = "Address"
            with m.State("Address"):  # the row's address registered
                m.next = "Load"
            with m.State("Load"):     # the row into the staging row (three cycles)
                m.d.comb += port.load.eq(1)
                m.next = "Loading"
            with m.State("Loading"):
                m.next = "Loading-2"
            with m.State("Loading-2"):
                m.next = "Loaded"
            with m.State("Loaded"):
                with m.If(we):
                    m.d.comb += port.patch.eq(1)
                    m.next = "Commit"
                with m.Else():
                    zero = (sel == Window.STATE) & (layer != 0) & zeroed
                    m.d.sync += rdata.eq(Mux(zero, 0, port.rdata))
                    m.next = "Ack"
            with m.State("Commit"):
                m.d.comb += [port.we.eq(1), port.commit.eq(1)]
                if cfg.learning:
                    with m.If(sel == Window.SHADOW):     # then its derived weight, into the weight tile
                        m.d.sync += [sel.eq(Window.WEIGHT), wdata.eq(derived.as_signed())]
                        m.next = "Address"
                    with m.Else():
                        m.next = "Ack"
                else:
                    m.next = "Ack"
            with m.State("Ack"):
                m.d.comb += ack.eq(1)
                m.next = "Idle"
        return m

    def _input_row(self, sample, block):
        """The input memory's row of `block` of `sample` (`TiledCore.input_address`)."""
        bits = self.core.block_bits[0]
        return Cat(block[:bits] if bits else Const(0, 0), sample[:max(1, (self.core.samples - 1).bit_length())]
                   if self.core.samples > 1 else Const(0, 0))
