"""The EqProp core: memories, MAC, neuron and update lanes, and the control FSM.

Runs `eqprop.hw.golden.relax` (free and nudged phases) and `eqprop.hw.golden.contrast_update` on chip, bit
for bit, in the memory layout of `eqprop.hw.formats.memory_layout`, following the schedule of
`rtl.schedule` (which also holds the exact cycle model). The FSM issues one memory word per cycle; a
control record (issue, layer, lane, block, address, bank, nudge, shift) travels beside the data
through a fixed-latency pipeline: the synchronous read and a register after it (`MEM_LATENCY`), the
MAC lanes (`rtl.mac.mac_latency`), the neuron lanes (`rtl.neuron.NEURON_LATENCY`) into the state
memories, the argmax (`ARGMAX_LATENCY`), and the update lanes (`rtl.update`). The pipeline never
stalls; `rtl.schedule.pipeline` adds the latencies, and each step and the update end with its drain.
Within a step every read goes to one state bank and every write to another, so the only hazards are
between steps and phases, which the drain covers.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from eqprop.hw.formats import Mode, Window, memory_layout
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region
from rtl.argmax import tournament
from rtl.fixed import lanes
from rtl.mac import MacLanes, max_align_shift
from rtl.neuron import NeuronLanes
from rtl.pipe import delay
from rtl.schedule import ARGMAX_LATENCY, BANKS, MEM_LATENCY, Phase, blocks, cycle_model, pipeline
from rtl.schedule import Issue as _Issue
from rtl.update import LR_SHIFT_BITS, BiasUpdate, WeightUpdate, derive_weight

__all__ = ["Core", "Phase", "cycle_model"]


def _stride_bits(cfg: HwConfig, k: int) -> int:
    """Address bits of one state bank of state.k (a bank is a power-of-two number of words)."""
    return ceil_log2(-(-cfg.sizes[k] // cfg.mac_lanes))


class Core(wiring.Component):
    """The accelerator core: memories, MAC lanes, neuron lanes, update lanes and control FSM.

    Parameters
    ----------
    cfg : HwConfig
        Every width, size and constant.
    params : IntParams, optional
        Initial contents of the shadow, weight and bias memories (zeros if None).

    Members
    -------
    start : Signal(1), in
        Starts ``mode`` when idle (ignored while busy; `rtl.axil` reports that as an error).
    mode : Signal(2), in
        An `eqprop.hw.formats.Mode`; another value is ignored.
    clear : Signal(1), in
        Zeroes the current states (they read as zero until the next command) and ``done``.
    lr_shift : Signal(ArrayLayout(5, L)), in
        Per layer learning-rate shift (the LR_SHIFT registers).
    busy, done : Signal(1), out
        ``done`` is set when a command finishes and stays set until the next start.
    result : Signal(range(n_out)), out
        argmax of the output states after the free phase (lowest index on ties).
    cycles, steps : Signal(32), out
        Clock cycles and relaxation steps of the last (or running) command.
    step_done : Signal(1), out
        One-cycle strobe: a relaxation step has just been written to bank ``step_bank`` (``phase``).
    host : bus, in/out
        Memory access for the register windows: ``req``, ``we``, ``sel`` (`Window`), ``layer``,
        ``word``, ``lane``, ``wdata`` in; ``ack``, ``rdata`` out. Hold ``req`` until ``ack`` (three
        cycles later when idle; while busy the access waits until the command ends).

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig` or `params` not an `IntParams`.

    Latency: `cycle_model` cycles from ``start`` to ``done``.
    """

    def __init__(self, *, cfg: HwConfig, params: IntParams | None = None):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        if params is not None and not isinstance(params, IntParams):
            raise TypeError(f"Parameters must be an IntParams or None, not {params!r}")
        self.cfg = cfg
        L, p, sb = cfg.n_layers, cfg.mac_lanes, cfg.state_bits
        layout = self.layout = memory_layout(cfg)

        def image(name, array):
            return pack_region(layout[name], array) if params is not None else []

        def mem(name, init):
            region = layout[name]
            return MemoryData(shape=unsigned(region.word_bits), depth=region.depth, init=init)

        # Memories live here so that testbenches can load and inspect them (ctx.set / ctx.get).
        self.weight_mem = [mem(f"weight.{l}", image(f"weight.{l}", params.weights[l] if params else None))
                           for l in range(L)]
        self.shadow_mem = [mem(f"shadow.{l}", image(f"shadow.{l}", params.shadow[l] if params else None))
                           for l in range(L)]
        self.bias_mem = [mem(f"bias.{l}", image(f"bias.{l}", params.biases[l] if params else None))
                         for l in range(L)]
        self.input_mem = mem("state.0", [])
        self.target_mem = mem(f"state.{L}", [])
        self.state_mem = [None] + [
            MemoryData(shape=unsigned(p * sb), depth=BANKS << _stride_bits(cfg, k), init=[]) for k in range(1, L + 1)]

        max_words = max(r.depth for r in layout.values())
        super().__init__({
            "start": In(1),
            "mode": In(2),
            "clear": In(1),
            "lr_shift": In(data.ArrayLayout(LR_SHIFT_BITS, L)),
            "busy": Out(1),
            "done": Out(1),
            "result": Out(range(cfg.sizes[-1])),
            "cycles": Out(32),
            "steps": Out(32),
            "step_done": Out(1),
            "step_bank": Out(range(BANKS)),
            "phase": Out(Phase),
            "host": In(wiring.Signature({
                "req": Out(1), "we": Out(1), "sel": Out(Window), "layer": Out(range(L + 1)),
                "word": Out(range(max(2, max_words))), "lane": Out(range(p)), "wdata": Out(32),
                "ack": In(1), "rdata": In(32),
            })),
        })

    def state_address(self, k: int, bank: int, word: int) -> int:
        """Row of ``state_mem[k]`` holding `word` of `bank` (for testbenches)."""
        return bank << _stride_bits(self.cfg, k) | word

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        L, p, sb, n = cfg.n_layers, cfg.mac_lanes, cfg.state_bits, cfg.sizes
        words = [-(-n[k] // p) for k in range(L + 1)]        # state words of state.k
        host = self.host

        # ------------------------------------------------------------------------------------------
        # memories and ports

        def memory(name, mdata, granularity=None, reads=1):
            m.submodules[name] = mm = Memory(data=mdata)
            rd = [mm.read_port() for _ in range(reads)]
            wr = mm.write_port(granularity=granularity)
            return rd, wr

        w_rd, w_wr, sh_rd, sh_wr, b_rd, b_wr = [], [], [], [], [], []
        for l in range(L):
            (r,), w = memory(f"weight_{l}", self.weight_mem[l], cfg.weight_bits)
            w_rd.append(r)
            w_wr.append(w)
            (r,), w = memory(f"shadow_{l}", self.shadow_mem[l], cfg.shadow_bits)
            sh_rd.append(r)
            sh_wr.append(w)
            (r,), w = memory(f"bias_{l}", self.bias_mem[l], cfg.bias_bits)
            b_rd.append(r)
            b_wr.append(w)
        (in_rd,), in_wr = memory("input", self.input_mem, sb)
        (tg_rd,), tg_wr = memory("target", self.target_mem, sb)
        st_a, st_b, st_wr = [in_rd], [in_rd], [None]     # state.0 is the input memory (one bank)
        for k in range(1, L + 1):
            (a, b), w = memory(f"state_{k}", self.state_mem[k], reads=2)
            st_a.append(a)
            st_b.append(b)
            st_wr.append(w)

        def bank_addr(k, bank, word):
            return word if k == 0 else Cat(word[:_stride_bits(cfg, k)], bank)

        # ------------------------------------------------------------------------------------------
        # control registers

        mode = Signal(2)
        phase = Signal(Phase)
        sign = Signal(signed(2))                      # nudge of this phase: 0, +1, -1
        src, dst, alt = Signal(2), Signal(2), Signal(2)   # banks: read, write, next write
        zero_src = Signal()                           # states of layers >= 1 read as zero (free start)
        cur, cur_zero = Signal(2), Signal(init=1)     # bank the STATE windows show; all-zero after clear
        f_bank, p_bank, m_bank = Signal(2), Signal(2), Signal(2)
        steps_left = Signal(range(max(cfg.free_steps, cfg.nudge_steps) + 1))

        layer = Signal(range(L))
        block = Signal(range(max(blocks(cfg, l) for l in range(L)) + 1))
        j, j_word, j_lane = Signal(range(max(n) + 1)), Signal(range(max(words) + 1)), Signal(range(p))
        row, row_word, row_lane = Signal(range(max(n) + 1)), Signal(range(max(words) + 1)), Signal(range(p))
        word = Signal(range(max(words) + 1))
        waddr = Signal(range(max(r.depth for r in self.layout.values()) + 1))   # running weight address
        td_addr = Signal.like(waddr)
        best_val, best_idx = Signal(sb), Signal(range(n[-1]))

        def per_layer(values, sel=layer):
            """A constant of the selected layer (a small mux over L constants)."""
            out = Signal(range(min(min(values), 0), max(max(values), 0) + 1))
            with m.Switch(sel):
                for l, v in enumerate(values):
                    with m.Case(l):
                        m.d.comb += out.eq(v)
            return out

        wpr_up = per_layer([words[l + 1] if l + 1 < L else 1 for l in range(L)])  # ... of W_{l+1}
        last_block = per_layer([blocks(cfg, l) - 1 for l in range(L)])
        last_row = per_layer([n[l + 1] - 1 for l in range(L)])
        last_word = per_layer([words[l] - 1 for l in range(L)])
        last_j = per_layer([n[l + 2] - 1 if l + 1 < L else 0 for l in range(L)])
        block_rows = per_layer([min(p, n[l + 1]) for l in range(L)])            # rows of a full block
        tail_rows = per_layer([n[l + 1] - (blocks(cfg, l) - 1) * p for l in range(L)])

        # ------------------------------------------------------------------------------------------
        # issue stage: what the FSM asks of the memories this cycle (defaults: nothing)

        issue = Signal(_Issue)
        i_wl = Signal(range(L))          # weight memory read
        i_sk = Signal(range(L + 1))      # state memory read (relaxation)
        i_sword = Signal.like(word)
        i_lane = Signal(range(p))
        rows_here = Mux(block == last_block, tail_rows, block_rows)

        for l in range(L):
            m.d.comb += [w_rd[l].addr.eq(waddr), sh_rd[l].addr.eq(waddr), b_rd[l].addr.eq(block)]
        m.d.comb += tg_rd.addr.eq(block)
        for k in range(L + 1):
            m.d.comb += [st_a[k].addr.eq(bank_addr(k, src, i_sword))]
            if k:
                m.d.comb += st_b[k].addr.eq(bank_addr(k, m_bank, i_sword))

        # ------------------------------------------------------------------------------------------
        # the control record: what was issued, travelling beside the data through the pipeline
        # (`rtl.schedule.pipeline` says at which cycle after the issue each stage acts on it)

        pipe = pipeline(cfg)
        record = data.StructLayout({
            "issue": _Issue, "layer": range(L), "lane": range(p), "block": block.shape(), "waddr": waddr.shape(),
            "dst": 2, "tail": 1, "sign": signed(2), "shift": range(max_align_shift(cfg) + 1),
            "wl": range(L), "sk": range(L + 1), "zero": 1,    # which memories the read data comes from
        })
        td_shift = per_layer([cfg.acc_align(l) - cfg.weight_frac[l + 1] if l + 1 < L else 0 for l in range(L)])
        bu_shift = per_layer([cfg.acc_align(l) - cfg.weight_frac[l] for l in range(L)])
        rec = [Signal(record, name="rec0")]
        m.d.comb += [rec[0].issue.eq(issue), rec[0].layer.eq(layer), rec[0].lane.eq(i_lane), rec[0].block.eq(block),
                     rec[0].waddr.eq(waddr), rec[0].dst.eq(dst), rec[0].tail.eq(block == last_block),
                     rec[0].sign.eq(sign), rec[0].shift.eq(Mux(issue == _Issue.TOP_DOWN, td_shift, bu_shift)),
                     rec[0].wl.eq(i_wl), rec[0].sk.eq(i_sk), rec[0].zero.eq(zero_src)]
        for k in range(max(pipe.values())):
            rec.append(delay(m, rec[-1], name=f"rec{k}"))

        # ------------------------------------------------------------------------------------------
        # read data: the memories' outputs (one cycle after the read) selected by layer, then registered.
        # The weight and state words of an issue are read at once; a LOAD's bias, a FINISH's old states
        # and targets, and the update's shadow and bias words are read late, at the `pipeline` stage
        # that makes them arrive where they are used, instead of being carried through the stages before.

        def late_read(name, ports, when, issue, address, *, layer_offset=0, select=None):
            """Read `ports` (one per layer, from index `layer_offset`) at ``address(rec[when])`` when that
            record is `issue`; return the word of its layer (`select` may modify it), selected as it
            leaves the memory and registered: valid at ``when + MEM_LATENCY``."""
            ra, rd = rec[when], rec[when + 1]
            if address is not None:      # else the caller drives the addresses
                with m.If(ra.issue == issue):
                    for port in ports:
                        m.d.comb += port.addr.eq(address(ra))
            word = Signal(len(ports[layer_offset].data), name=f"{name}_sel")
            with m.Switch(rd.layer):
                for l in range(L):
                    with m.Case(l):
                        data_ = ports[l + layer_offset].data
                        m.d.comb += word.eq(data_ if select is None else select(rd, data_))
            return delay(m, word, name=name)

        # the read data of an issue: selected by layer as it leaves the memories, then registered
        r1 = rec[1]
        w_sel, s_sel = Signal(p * cfg.weight_bits), Signal(p * sb)
        row_a_sel, row_b_sel, col_a_sel, col_b_sel = (Signal(p * sb, name=nm) for nm in
                                                      ("row_a_sel", "row_b_sel", "col_a_sel", "col_b_sel"))
        with m.Switch(r1.wl):
            for l in range(L):
                with m.Case(l):
                    m.d.comb += w_sel.eq(w_rd[l].data)
        with m.Switch(r1.sk):       # the relaxation's state word, zero on a zero start
            for k in range(L + 1):
                with m.Case(k):
                    m.d.comb += s_sel.eq(st_a[k].data if k == 0 else Mux(r1.zero, 0, st_a[k].data))
        with m.Switch(r1.layer):    # the update's states: ports A (positive bank) and B (negative bank)
            for l in range(L):
                with m.Case(l):
                    m.d.comb += [row_a_sel.eq(st_a[l + 1].data), row_b_sel.eq(st_b[l + 1].data),
                                 col_a_sel.eq(st_a[l].data), col_b_sel.eq(st_a[0].data if l == 0 else st_b[l].data)]
        w_data, s_data = delay(m, w_sel, name="w_data"), delay(m, s_sel, name="s_data")
        row_a, row_b, col_a, col_b = (delay(m, v, name=nm) for v, nm in ((row_a_sel, "row_a"), (row_b_sel, "row_b"),
                                                                         (col_a_sel, "col_a"), (col_b_sel, "col_b")))
        assert MEM_LATENCY == 2     # the synchronous read and the register after the select

        load_bias = late_read("load_bias", b_rd, pipe["load_bias_read"], _Issue.LOAD, lambda r: r.block)
        upd_bias = late_read("upd_bias", b_rd, pipe["update_bias_read"], _Issue.UPD_BIAS, lambda r: r.block)
        shadow_data = late_read("shadow_data", sh_rd, pipe["shadow_read"], _Issue.UPD_WEIGHT, lambda r: r.waddr)
        # a FINISH's old states (port B of the state memory, idle during a relaxation; the read bank is
        # `src` until the step's drain has ended) and its targets
        nr = pipe["neuron_read"]
        for k in range(1, L + 1):
            with m.If((rec[nr].issue == _Issue.FINISH) & (rec[nr].layer == k - 1)):
                m.d.comb += st_b[k].addr.eq(bank_addr(k, src, rec[nr].block))
        with m.If(rec[nr].issue == _Issue.FINISH):
            m.d.comb += tg_rd.addr.eq(rec[nr].block)
        s_old = late_read("s_old", st_b, nr, _Issue.FINISH, None, layer_offset=1,
                          select=lambda r, word: Mux(r.zero, 0, word))
        target = delay(m, tg_rd.data, name="target")

        # ------------------------------------------------------------------------------------------
        # datapath

        m.submodules.mac = mac = MacLanes(cfg=cfg)
        m.submodules.neuron = neuron = NeuronLanes(cfg=cfg)
        m.submodules.wupd = wupd = WeightUpdate(cfg=cfg)
        m.submodules.bupd = bupd = BiasUpdate(cfg=cfg)

        # MAC lanes: act on LOAD, TOP_DOWN and BOTTOM_UP and hold their accumulators on every other issue
        rm = rec[pipe["mac"]]
        m.d.comb += [mac.op.eq(rm.issue), mac.shift.eq(rm.shift), mac.weights.eq(w_data), mac.states.eq(s_data),
                     mac.lane.eq(rm.lane), mac.bias.eq(load_bias)]

        # neuron lanes: the finish of a block, when the accumulators hold its sums
        rn = rec[pipe["neuron"]]
        m.d.comb += [neuron.layer.eq(rn.layer), neuron.nudge.eq(rn.sign), neuron.s_old.eq(s_old),
                     neuron.target.eq(target)]
        for i in range(p):
            m.d.comb += neuron.acc[i].eq(mac.acc[i])

        # the new states: lanes past the layer's end stay zero (the layout's padding)
        rw = rec[pipe["state_write"]]
        tail_mask = per_layer([(1 << (n[l + 1] - (blocks(cfg, l) - 1) * p)) - 1 for l in range(L)], rw.layer)
        mask = Signal(p)
        m.d.comb += mask.eq(Mux(rw.tail, tail_mask, (1 << p) - 1))
        s_new = Signal(p * sb)
        m.d.comb += s_new.eq(Cat(*(Mux(mask[i], neuron.s_new.word_select(i, sb), 0) for i in range(p))))
        for k in range(1, L + 1):
            with m.If((rw.issue == _Issue.FINISH) & (rw.layer == k - 1)):
                m.d.comb += [st_wr[k].addr.eq(bank_addr(k, rw.dst, rw.block)), st_wr[k].data.eq(s_new),
                             st_wr[k].en.eq(1)]

        # argmax of the output layer (ties keep the lowest index): the block's winner (`rtl.argmax`, a
        # register after its first comparator level), registered, then against the best of the earlier
        # blocks, which it must beat strictly; the first block's winner is taken as it is
        top_lanes = lanes(neuron.s_new, sb, p, signed=False)
        inner = 1 if (p - 1).bit_length() >= 2 else 0      # a tree of one level needs no register inside
        ok_t, val_t, lane_t = tournament(m, [mask[i] for i in range(p)], top_lanes, sb,   # lane 0 always valid
                                         registered=(1,) if inner else ())
        _, win_val, win_lane = (delay(m, v, 1 - inner, name=f"win_{i}") for i, v in enumerate((ok_t, val_t, lane_t)))
        win_ok = delay(m, (rw.issue == _Issue.FINISH) & (rw.layer == L - 1), 2, name="win_ok")
        win_first = delay(m, rw.block == 0, 2, name="win_first")
        win_base = delay(m, rw.block * p, 1, name="win_base")
        win_val_r = delay(m, win_val, name="win_val")
        win_idx_r = delay(m, (win_base + win_lane)[:len(best_idx)], name="win_idx")
        with m.If(win_ok & (win_first | (win_val_r > best_val))):
            m.d.sync += [best_val.eq(win_val_r), best_idx.eq(win_idx_r)]
        assert pipe["best"] == pipe["state_write"] + ARGMAX_LATENCY == pipe["state_write"] + 3

        # update lanes: the pos/neg states come from ports A/B (banks p_bank / m_bank, or the input)
        ru = rec[pipe["mac"]]
        lr = Signal(LR_SHIFT_BITS)
        with m.Switch(ru.layer):
            for l in range(L):
                with m.Case(l):
                    m.d.comb += lr.eq(self.lr_shift[l])
        row_lane_a, row_lane_b = Signal(sb), Signal(sb)
        with m.Switch(ru.lane):
            for i in range(p):
                with m.Case(i):
                    m.d.comb += [row_lane_a.eq(row_a.word_select(i, sb)), row_lane_b.eq(row_b.word_select(i, sb))]
        m.d.comb += [
            wupd.layer.eq(ru.layer), wupd.lr_shift.eq(lr), wupd.pos_row.eq(row_lane_a), wupd.neg_row.eq(row_lane_b),
            wupd.pos.eq(col_a), wupd.neg.eq(col_b), wupd.shadow.eq(shadow_data),
            bupd.layer.eq(ru.layer), bupd.lr_shift.eq(lr), bupd.pos.eq(row_a), bupd.neg.eq(row_b),
            bupd.bias.eq(upd_bias),
        ]
        rwu, rbu = rec[pipe["weight_write"]], rec[pipe["bias_write"]]
        for l in range(L):
            with m.If((rwu.issue == _Issue.UPD_WEIGHT) & (rwu.layer == l)):
                m.d.comb += [sh_wr[l].addr.eq(rwu.waddr), sh_wr[l].data.eq(wupd.shadow_new), sh_wr[l].en.eq(-1),
                             w_wr[l].addr.eq(rwu.waddr), w_wr[l].data.eq(wupd.weight_new), w_wr[l].en.eq(-1)]
            with m.If((rbu.issue == _Issue.UPD_BIAS) & (rbu.layer == l)):
                m.d.comb += [b_wr[l].addr.eq(rbu.block), b_wr[l].data.eq(bupd.bias_new), b_wr[l].en.eq(-1)]

        # ------------------------------------------------------------------------------------------
        # control FSM

        busy = Signal()
        drain = Signal(range(max(pipe["step_drain"], pipe["update_drain"])))
        m.d.comb += [self.busy.eq(busy), self.phase.eq(phase), self.step_bank.eq(src)]
        m.d.sync += self.step_done.eq(0)
        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.If(self.clear & ~busy):
            m.d.sync += [cur_zero.eq(1), self.done.eq(0), self.cycles.eq(0), self.steps.eq(0)]

        def begin_phase(which, nudge, start, x, y, steps, zero=0):
            """Set up a phase: steps from bank `start`, alternating writes between banks x and y."""
            m.d.sync += [phase.eq(which), sign.eq(nudge), src.eq(start), dst.eq(x), alt.eq(y),
                         zero_src.eq(zero), steps_left.eq(steps), layer.eq(0), block.eq(0), waddr.eq(0)]
            m.next = "Relax-Load-Bias"

        def start_layer_pass(next_layer):
            m.d.sync += [layer.eq(next_layer), block.eq(0), waddr.eq(0)]

        def begin_bottom_up():
            m.d.sync += [row.eq(0), word.eq(0)]
            m.next = "Relax-Bottom-Up"

        with m.FSM(init="Idle") as fsm:
            with m.State("Idle"):
                with m.If(self.start & ((self.mode == Mode.INFER) | (self.mode == Mode.TRAIN)
                                        | (self.mode == Mode.RELAX))):
                    m.d.sync += [mode.eq(self.mode), self.done.eq(0), self.cycles.eq(0), self.steps.eq(0)]
                    m.next = "Free-Phase"

            with m.State("Free-Phase"):
                with m.If((mode == Mode.RELAX) & ~cur_zero):
                    begin_phase(Phase.FREE, 0, cur, Mux(cur == 0, 1, 0), Mux(cur == 0, 0, 1), cfg.free_steps)
                with m.Else():
                    begin_phase(Phase.FREE, 0, 0, 0, 1, cfg.free_steps, zero=1)

            with m.State("Nudge-Plus"):
                begin_phase(Phase.PLUS, 1, f_bank, 2, 3, cfg.nudge_steps)

            with m.State("Nudge-Minus"):
                begin_phase(Phase.MINUS, -1, f_bank, 1 - f_bank[0], 5 - p_bank, cfg.nudge_steps)

            with m.State("Relax-Load-Bias"):
                m.d.comb += [issue.eq(_Issue.LOAD)]
                with m.If(layer == L - 1):
                    begin_bottom_up()
                with m.Else():
                    m.d.sync += [j.eq(0), j_word.eq(0), j_lane.eq(0), td_addr.eq(block)]
                    m.next = "Relax-Top-Down"

            with m.State("Relax-Top-Down"):
                # W_{l+1}[j, block] * s_{l+2}[j]: weight word j * words(l+1) + block, state word j // P
                m.d.comb += [issue.eq(_Issue.TOP_DOWN), i_wl.eq(layer + 1), i_sk.eq(layer + 2),
                             i_sword.eq(j_word), i_lane.eq(j_lane)]
                for l in range(L):
                    m.d.comb += w_rd[l].addr.eq(td_addr)
                m.d.sync += [j.eq(j + 1), td_addr.eq(td_addr + wpr_up)]
                with m.If(j_lane == p - 1):
                    m.d.sync += [j_lane.eq(0), j_word.eq(j_word + 1)]
                with m.Else():
                    m.d.sync += j_lane.eq(j_lane + 1)
                with m.If(j == last_j):
                    begin_bottom_up()

            with m.State("Relax-Bottom-Up"):
                # W_l[r, word] . s_l[word] into acc[r - block * P]; the weight words of a layer are
                # visited in address order, so the address is a running counter
                m.d.comb += [issue.eq(_Issue.BOTTOM_UP), i_wl.eq(layer), i_sk.eq(layer),
                             i_sword.eq(word), i_lane.eq(row)]
                m.d.sync += [waddr.eq(waddr + 1), word.eq(word + 1)]
                with m.If(word == last_word):
                    m.d.sync += [word.eq(0), row.eq(row + 1)]
                    with m.If(row == rows_here - 1):
                        m.next = "Relax-Finish"

            with m.State("Relax-Finish"):
                m.d.comb += [issue.eq(_Issue.FINISH), i_sk.eq(layer + 1), i_sword.eq(block)]
                m.d.sync += block.eq(block + 1)
                with m.If(block == last_block):
                    with m.If(layer == L - 1):
                        m.d.sync += drain.eq(pipe["step_drain"] - 1)
                        m.next = "Relax-Drain"
                    with m.Else():
                        start_layer_pass(layer + 1)
                        m.next = "Relax-Load-Bias"
                with m.Else():
                    m.next = "Relax-Load-Bias"

            with m.State("Relax-Drain"):
                # the pipeline's drain: the operations in flight write the states and reach the argmax;
                # in the last cycle the step is done, and the next one reads what it wrote
                with m.If(drain != 0):
                    m.d.sync += drain.eq(drain - 1)
                with m.Else():
                    m.d.sync += [src.eq(dst), dst.eq(alt), alt.eq(dst), zero_src.eq(0), steps_left.eq(steps_left - 1),
                                 self.steps.eq(self.steps + 1), self.step_done.eq(1), layer.eq(0), block.eq(0),
                                 waddr.eq(0)]
                    with m.If(steps_left == 1):
                        with m.Switch(phase):
                            with m.Case(Phase.FREE):
                                m.d.sync += [f_bank.eq(dst), cur.eq(dst), cur_zero.eq(0), self.result.eq(best_idx)]
                                with m.If(mode == Mode.TRAIN):
                                    m.next = "Nudge-Plus"
                                with m.Else():
                                    m.d.sync += self.done.eq(1)
                                    m.next = "Idle"
                            with m.Case(Phase.PLUS):
                                m.d.sync += [p_bank.eq(dst), m_bank.eq(f_bank)]
                                m.next = "Nudge-Minus" if cfg.estimator == "symmetric" else "Update"
                            with m.Case(Phase.MINUS):
                                m.d.sync += m_bank.eq(dst)
                                m.next = "Update"
                    with m.Else():
                        m.next = "Relax-Load-Bias"

            with m.State("Update"):
                m.d.sync += [src.eq(p_bank), layer.eq(0), block.eq(0), waddr.eq(0)]
                m.next = "Update-Bias"

            with m.State("Update-Bias"):
                # b_l[block] += R(s+_{l+1} - s-_{l+1}): ports A (positive bank) and B (negative bank)
                m.d.comb += [issue.eq(_Issue.UPD_BIAS), i_sword.eq(block)]
                for k in range(1, L + 1):
                    m.d.comb += st_b[k].addr.eq(bank_addr(k, m_bank, block))
                m.d.sync += block.eq(block + 1)
                with m.If(block == last_block):
                    m.d.sync += [row.eq(0), row_word.eq(0), row_lane.eq(0), word.eq(0)]
                    m.next = "Update-Weights"

            with m.State("Update-Weights"):
                # shadow_l[r, word] += R(s+_{l+1}[r] s+_l[word] - s-_{l+1}[r] s-_l[word]); state.{l+1} is
                # read at the row's word, state.l at the column word
                m.d.comb += [issue.eq(_Issue.UPD_WEIGHT), i_lane.eq(row_lane)]
                for k in range(1, L + 1):
                    sel_word = Mux(layer == k - 1, row_word, word)
                    m.d.comb += [st_a[k].addr.eq(bank_addr(k, src, sel_word)),
                                 st_b[k].addr.eq(bank_addr(k, m_bank, sel_word))]
                m.d.comb += st_a[0].addr.eq(word)
                m.d.sync += [waddr.eq(waddr + 1), word.eq(word + 1)]
                with m.If(word == last_word):
                    m.d.sync += [word.eq(0), row.eq(row + 1)]
                    with m.If(row_lane == p - 1):
                        m.d.sync += [row_lane.eq(0), row_word.eq(row_word + 1)]
                    with m.Else():
                        m.d.sync += row_lane.eq(row_lane + 1)
                    with m.If(row == last_row):
                        with m.If(layer == L - 1):
                            m.d.sync += drain.eq(pipe["update_drain"] - 1)
                            m.next = "Update-Drain"
                        with m.Else():
                            start_layer_pass(layer + 1)
                            m.next = "Update-Bias"

            with m.State("Update-Drain"):
                # the last update writes reach the memories
                with m.If(drain != 0):
                    m.d.sync += drain.eq(drain - 1)
                with m.Else():
                    m.d.sync += [self.done.eq(1), src.eq(f_bank)]
                    m.next = "Idle"

        m.d.comb += busy.eq(~fsm.ongoing("Idle"))

        # ------------------------------------------------------------------------------------------
        # host access (idle only): one cycle to address, one for the memory's answer (selected and
        # registered), one to pick the lane into `h_rdata`, and the acknowledgement with it

        h_pend, h_ack = Signal(MEM_LATENCY), Signal()
        h_sel, h_layer, h_lane = Signal(Window), Signal.like(host.layer), Signal(range(p))
        h_rdata = Signal(32)
        m.d.sync += [h_pend.eq(h_pend << 1), h_ack.eq(h_pend[-1])]
        m.d.comb += [host.ack.eq(h_ack), host.rdata.eq(h_rdata)]
        with m.If(host.req & ~h_pend.any() & ~h_ack & ~busy):
            m.d.sync += [h_pend.eq(1), h_sel.eq(host.sel), h_layer.eq(host.layer), h_lane.eq(host.lane)]
            lane_en = Mux(host.we, Const(1, p) << host.lane, 0)     # write the one addressed lane

            def host_port(rd, wr, bits, value=None):
                value = host.wdata[:bits] if value is None else value
                m.d.comb += [rd.addr.eq(host.word), wr.addr.eq(host.word), wr.data.eq(Cat(*[value] * p)),
                             wr.en.eq(lane_en)]

            with m.Switch(host.sel):
                with m.Case(Window.INPUT):
                    host_port(in_rd, in_wr, sb)
                with m.Case(Window.TARGET):
                    host_port(tg_rd, tg_wr, sb)
                with m.Case(Window.STATE):
                    m.d.comb += in_rd.addr.eq(host.word)
                    for k in range(1, L + 1):
                        m.d.comb += st_b[k].addr.eq(bank_addr(k, cur, host.word))
                with m.Case(Window.BIAS):
                    for l in range(L):
                        with m.If(host.layer == l):
                            host_port(b_rd[l], b_wr[l], cfg.bias_bits)
                with m.Case(Window.WEIGHT):
                    for l in range(L):
                        with m.If(host.layer == l):
                            host_port(w_rd[l], w_wr[l], cfg.weight_bits)
                with m.Case(Window.SHADOW):
                    shadow_in = host.wdata[:cfg.shadow_bits].as_signed()
                    derived = Signal(signed(cfg.weight_bits))
                    m.d.comb += derived.eq(derive_weight(cfg, shadow_in))
                    for l in range(L):
                        with m.If(host.layer == l):
                            host_port(sh_rd[l], sh_wr[l], cfg.shadow_bits)
                            m.d.comb += [w_wr[l].addr.eq(host.word), w_wr[l].data.eq(Cat(*[derived] * p)),
                                         w_wr[l].en.eq(lane_en)]

        # the addressed memory's word, selected as it leaves the memory and registered; then its lane
        widest = max(p * bits for bits in (sb, cfg.bias_bits, cfg.weight_bits, cfg.shadow_bits))
        h_word, h_word_r = Signal(widest), Signal(widest)
        with m.Switch(h_sel):
            with m.Case(Window.INPUT):
                m.d.comb += h_word.eq(in_rd.data)
            with m.Case(Window.TARGET):
                m.d.comb += h_word.eq(tg_rd.data)
            with m.Case(Window.STATE):
                with m.Switch(h_layer):
                    with m.Case(0):
                        m.d.comb += h_word.eq(in_rd.data)
                    for k in range(1, L + 1):
                        with m.Case(k):
                            m.d.comb += h_word.eq(Mux(cur_zero, 0, st_b[k].data))
            for sel, ports in ((Window.BIAS, b_rd), (Window.WEIGHT, w_rd), (Window.SHADOW, sh_rd)):
                with m.Case(sel):
                    with m.Switch(h_layer):
                        for l in range(L):
                            with m.Case(l):
                                m.d.comb += h_word.eq(ports[l].data)
        m.d.sync += h_word_r.eq(h_word)
        bits_of = {Window.INPUT: (sb, False), Window.TARGET: (sb, False), Window.STATE: (sb, False),
                   Window.BIAS: (cfg.bias_bits, True), Window.WEIGHT: (cfg.weight_bits, True),
                   Window.SHADOW: (cfg.shadow_bits, True)}
        with m.Switch(h_sel):
            for sel, (bits, signed_lane) in bits_of.items():
                with m.Case(sel):
                    with m.Switch(h_lane):
                        for i in range(p):
                            with m.Case(i):
                                f = h_word_r.word_select(i, bits)
                                m.d.sync += h_rdata.eq(f.as_signed() if signed_lane else f)
        return m
