"""The core's datapath: the fixed-latency pipeline from the controller's issue to the memory writes.

The control record of each issue (`rtl.controller.issue_layout`) is delayed beside the data (``rec[k]``
is the record k cycles after its issue), and each stage acts on the record of its cycle; the stage
positions are `rtl.schedule.pipeline`'s, the sums of the stages' latency constants::

    issue ─ register (ISSUE_LATENCY) ─ read (MEM_LATENCY) ─┬ MacLanes (mac_latency)
                                                           │  ─ NeuronLanes (NEURON_LATENCY) ─┬ state write
                                                           │                                  └ argmax (argmax_latency)
                                                           └ WeightUpdate / BiasUpdate (WEIGHT_/BIAS_UPDATE_LATENCY)
                                                              ─ shadow, weight and bias writes

The weight and state words of an issue are read at once; a LOAD's bias (or, for layer 0 with
``cache_drive``, its stored drive W_0 x + b_0, which a STORE of the drive pass wrote), a FINISH's old
states and targets, and the update's shadow and bias words are read late, at the stage that makes them arrive,
registered, where they are used, rather than carried through the stages before. The pipeline never
stalls. Within a step every read goes to one state bank and every write to another, so the only
hazards are between steps and phases, which the drains cover.

With ``cfg.samples`` = B > 1 the state, input and drive words hold B samples side by side
(`rtl.memories`), and B copies of the MAC lanes, the neuron lanes and the argmax take their sample's
slice of each word beside the one weight word they share; the record, the weights and the biases are
the same for every sample. ``changed`` is any sample's.

With ``cfg.zero_skip`` a bitmap per state bank of each layer k >= 2 records which states are nonzero (in
any sample), set as a FINISH writes them; the bitmaps of the bank a step reads go to the controller,
whose top-down runs issue only the nonzero upper states.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data

from eqprop.hw.hwconfig import HwConfig
from rtl.argmax import argmax_latency, registered_levels, tournament
from rtl.fixed import lanes
from rtl.mac import MacLanes
from rtl.memories import Ports
from rtl.neuron import NeuronLanes
from rtl.pipe import delay, per_layer
from rtl.schedule import ISSUE_LATENCY, MEM_LATENCY, Issue, block_rows, pipeline
from rtl.update import LR_SHIFT_BITS, BiasUpdate, WeightUpdate

__all__ = ["datapath"]


def datapath(m: Module, cfg: HwConfig, ports: Ports, issue, *, lr_shift, src, m_bank):
    """Add the pipeline of `cfg` to `m`: reads from `ports` at each ``issue`` record (the controller's),
    the MAC, neuron and update lanes, and the writes. `src` and `m_bank` are the banks the step (or the
    update's positive states) and the update's negative states are read from; `lr_shift` the LR_SHIFT
    registers. Returns the argmax of the output states so far of each sample (B indices, sample 0 in the low
    bits; valid once a step's drain is over), a strobe, `rtl.controller.Controller`'s ``changed``: a
    FINISH wrote a state other than the old one (in any sample), and the controller's ``nonzero`` bitmap
    of the bank `src` (0 without ``cfg.zero_skip``)."""
    L, p, sb, n, B = cfg.n_layers, cfg.mac_lanes, cfg.state_bits, cfg.sizes, cfg.samples
    pipe = pipeline(cfg)

    # ----------------------------------------------------------------------------------------------
    # the control record, delayed beside the data: rec[k] is the record k cycles after its issue

    rec = [issue]
    for k in range(max(pipe.values())):
        rec.append(delay(m, rec[-1], name=f"rec{k + 1}"))

    # ----------------------------------------------------------------------------------------------
    # the issue's reads, addressed from the registered record: the weight word and the state words (the
    # update: port A the positive states, port B the negative ones; state l+1 at the row's word, state l
    # at the column word)

    ra = rec[ISSUE_LATENCY]
    for l in range(L):
        m.d.comb += [ports.w_rd[l].addr.eq(ra.waddr), ports.b_rd[l].addr.eq(ra.block)]
    m.d.comb += ports.st_a[0].addr.eq(ra.sword)        # the input memory (state 0), one bank
    for k in range(1, L + 1):
        word = Mux((ra.issue == Issue.UPD_WEIGHT) & (ra.layer == k - 1), ra.rword, ra.sword)
        m.d.comb += [ports.st_a[k].addr.eq(ports.bank_addr(k, src, word)),
                     ports.st_b[k].addr.eq(ports.bank_addr(k, m_bank, word))]

    def late_read(name, rd, when, kind, address, *, layer_offset=0, select=None):
        """Read `rd` (one port per layer, from index `layer_offset`) at ``address(rec[when])`` when that
        record is `kind`; return the word of its layer (`select` may modify it), selected as it leaves
        the memory and registered: valid at ``when + MEM_LATENCY``."""
        ra, rd_rec = rec[when], rec[when + 1]
        if address is not None:      # else the caller drives the addresses
            with m.If(ra.issue == kind):
                for port in rd:
                    m.d.comb += port.addr.eq(address(ra))
        word = Signal(len(rd[layer_offset].data), name=f"{name}_sel")
        with m.Switch(rd_rec.layer):
            for l in range(L):
                with m.Case(l):
                    data_ = rd[l + layer_offset].data
                    m.d.comb += word.eq(data_ if select is None else select(rd_rec, data_))
        return delay(m, word, name=name)

    # the issue's words: selected by layer as they leave the memories, then registered
    r1 = rec[ISSUE_LATENCY + 1]
    w_sel, s_sel = Signal(p * cfg.weight_bits), Signal(B * p * sb)
    with m.Switch(r1.wl):
        for l in range(L):
            with m.Case(l):
                m.d.comb += w_sel.eq(ports.w_rd[l].data)
    with m.Switch(r1.sk):       # the relaxation's state word, zero on a zero start
        for k in range(L + 1):
            with m.Case(k):
                st = ports.st_a[k].data
                m.d.comb += s_sel.eq(st if k == 0 else Mux(r1.zero, 0, st))
    w_data, s_data = delay(m, w_sel, name="w_data"), delay(m, s_sel, name="s_data")
    assert MEM_LATENCY == 2     # the synchronous read and the register after the select

    # a LOAD's word: the bias, or for layer 0 outside the drive pass the stored drive; each lane sign-extended
    # to the accumulator as it leaves the memory, then registered
    rl, rl_rec = rec[pipe["load_bias_read"]], rec[pipe["load_bias_read"] + 1]
    with m.If(rl.issue == Issue.LOAD):
        for port in ports.b_rd + ([ports.dr_rd] if cfg.cache_drive else []):
            m.d.comb += port.addr.eq(rl.block)
    load_sel = Signal(data.ArrayLayout(signed(cfg.acc_bits), B * p))     # sample b's lanes at b P ..
    with m.Switch(rl_rec.layer):
        for l in range(L):
            with m.Case(l):
                for i, v in enumerate(lanes(ports.b_rd[l].data, cfg.bias_bits, p, signed=True)):
                    m.d.comb += [load_sel[b * p + i].eq(v) for b in range(B)]     # one bias for every sample
                if l == 0 and cfg.cache_drive:
                    with m.If(~rl_rec.drive):
                        m.d.comb += load_sel.eq(ports.dr_rd.data)
    load_word = delay(m, load_sel, name="load_word")
    # a FINISH's old states (port B, idle during a relaxation; the read bank is `src` until the step's
    # drain has ended) and its targets (none in an inference-only core, which has no nudge)
    rn_read = rec[pipe["neuron_read"]]
    for k in range(1, L + 1):
        with m.If((rn_read.issue == Issue.FINISH) & (rn_read.layer == k - 1)):
            m.d.comb += ports.st_b[k].addr.eq(ports.bank_addr(k, src, rn_read.block))
    s_old = late_read("s_old", ports.st_b, pipe["neuron_read"], Issue.FINISH, None, layer_offset=1,
                      select=lambda r, word: Mux(r.zero, 0, word))
    target = 0
    if cfg.learning:
        with m.If(rn_read.issue == Issue.FINISH):
            m.d.comb += ports.tg_rd.addr.eq(rn_read.block)
        target = delay(m, ports.tg_rd.data, name="target")

    # ----------------------------------------------------------------------------------------------
    # the relaxation: MAC lanes (LOAD, TOP_DOWN, BOTTOM_UP; they hold their sums on every other issue),
    # then at a FINISH the neuron lanes, and the new states written (lanes past the layer's end stay
    # zero, the layout's padding)

    rm, rn = rec[pipe["mac"]], rec[pipe["neuron"]]
    macs, neurons = [], []
    for b in range(B):      # one MAC and one neuron lane set per sample, each on its slice of the words
        suffix = "" if B == 1 else f"_{b}"
        m.submodules[f"mac{suffix}"] = mac = MacLanes(cfg=cfg)
        m.submodules[f"neuron{suffix}"] = neuron = NeuronLanes(cfg=cfg)
        m.d.comb += [mac.op.eq(rm.issue), mac.shift.eq(rm.shift), mac.weights.eq(w_data),
                     mac.states.eq(s_data.word_select(b, p * sb)), mac.lane.eq(rm.lane)]
        m.d.comb += [mac.load[i].eq(load_word[b * p + i]) for i in range(p)]
        m.d.comb += [neuron.layer.eq(rn.layer), neuron.nudge.eq(rn.sign if cfg.learning else 0),
                     neuron.s_old.eq(s_old.word_select(b, p * sb)), neuron.target.eq(target)]
        m.d.comb += [neuron.acc[i].eq(mac.acc[i]) for i in range(p)]
        macs.append(mac)
        neurons.append(neuron)
    if cfg.cache_drive:     # the drive pass: a STORE puts the block's accumulators in the drive memory
        with m.If(rn.issue == Issue.STORE):
            m.d.comb += [ports.dr_wr.addr.eq(rn.block), ports.dr_wr.data.eq(Cat(*(mac.acc.as_value() for mac in macs))),
                         ports.dr_wr.en.eq(1)]

    rw = rec[pipe["state_write"]]
    mask = Signal(p)
    m.d.comb += mask.eq(Mux(rw.tail, per_layer(m, [(1 << block_rows(cfg, l)[-1]) - 1 for l in range(L)], rw.layer),
                            (1 << p) - 1))
    s_new = Signal(B * p * sb)
    m.d.comb += s_new.eq(Cat(*(Mux(mask[i], neuron.s_new.word_select(i, sb), 0)
                               for neuron in neurons for i in range(p))))
    for k in range(1, L + 1):
        with m.If((rw.issue == Issue.FINISH) & (rw.layer == k - 1)):
            m.d.comb += [ports.st_wr[k].addr.eq(ports.bank_addr(k, rw.dst, rw.block)), ports.st_wr[k].data.eq(s_new),
                         ports.st_wr[k].en.eq(1)]
    # early exit: whether the write changed a state of the layer (lanes past its end do not count), registered;
    # the controller must see it before the step's drain ends
    changed = delay(m, (rw.issue == Issue.FINISH) & Cat(*((neuron.changed & mask).any() for neuron in neurons)).any(),
                    name="changed")
    assert pipe["state_write"] + 2 <= pipe["step_drain"]
    nonzero = _nonzero_bitmaps(m, cfg, rw, mask, neurons, src) if cfg.zero_skip else 0

    # argmax of the output layer (ties keep the lowest index), per sample: the block's winner (`rtl.argmax`, a
    # register after its first comparator level and every second one after it), registered, then against
    # the best of the earlier blocks, which it must beat strictly; the first block's winner is taken as it is
    inner = registered_levels(p)
    tree = max(1, len(inner))       # a tree without a register inside is delayed by one
    win_ok = delay(m, (rw.issue == Issue.FINISH) & (rw.layer == L - 1), tree + 1, name="win_ok")
    win_first = delay(m, rw.block == 0, tree + 1, name="win_first")
    win_base = delay(m, rw.block * p, tree, name="win_base")
    bests = []
    for b, neuron in enumerate(neurons):
        suffix = "" if B == 1 else f"_{b}"
        best_val, best_idx = Signal(sb, name=f"best_val{suffix}"), Signal(range(n[-1]), name=f"best_idx{suffix}")
        top_lanes = lanes(neuron.s_new, sb, p, signed=False)
        ok_t, val_t, lane_t = tournament(m, [mask[i] for i in range(p)], top_lanes, sb, name=f"argmax{suffix}",
                                         registered=inner)
        _, win_val, win_lane = (delay(m, v, tree - len(inner), name=f"win{suffix}_{i}")
                                for i, v in enumerate((ok_t, val_t, lane_t)))
        win_val_r = delay(m, win_val, name=f"win_val{suffix}")
        win_idx_r = delay(m, (win_base + win_lane)[:len(best_idx)], name=f"win_idx{suffix}")
        with m.If(win_ok & (win_first | (win_val_r > best_val))):
            m.d.sync += [best_val.eq(win_val_r), best_idx.eq(win_idx_r)]
        bests.append(best_idx)
    assert pipe["best"] == pipe["state_write"] + argmax_latency(p) == pipe["state_write"] + tree + 2

    if cfg.learning:
        _update(m, cfg, ports, rec, r1, late_read, lr_shift)
    return Cat(*bests), changed, nonzero


def _nonzero_bitmaps(m: Module, cfg: HwConfig, rw, mask, neurons, src):
    """Zero-skipping: per bank and layer k >= 2, a register of one bit per state, set at each FINISH of
    layer k - 1 (record `rw`, at the state write) to whether each written state is nonzero in any sample
    (lanes past the layer's end stay clear). Returns the bitmaps of bank `src`, layers 2 .. L side by side:
    a step's FINISHes write the other bank, and its last write is done before the drain ends and the
    controller reads the bitmaps of the next step's bank."""
    from rtl.schedule import BANKS

    L, p, sb = cfg.n_layers, cfg.mac_lanes, cfg.state_bits
    nz = Signal(p)
    m.d.comb += nz.eq(Cat(*(mask[i] & Cat(*(neuron.s_new.word_select(i, sb) != 0 for neuron in neurons)).any()
                            for i in range(p))))
    out = []
    for k in range(2, L + 1):
        maps = [Signal(cfg.sizes[k], name=f"nonzero{k}_bank{bank}") for bank in range(BANKS)]
        with m.If((rw.issue == Issue.FINISH) & (rw.layer == k - 1)):
            with m.Switch(rw.dst):
                for bank, bits in enumerate(maps):
                    with m.Case(bank):
                        with m.Switch(rw.block):
                            for b, rows in enumerate(block_rows(cfg, k - 1)):
                                with m.Case(b):
                                    m.d.sync += bits[b * p:b * p + rows].eq(nz[:rows])
        sel = Signal(cfg.sizes[k], name=f"nonzero{k}")
        with m.Switch(src):
            for bank, bits in enumerate(maps):
                with m.Case(bank):
                    m.d.comb += sel.eq(bits)
        out.append(sel)
    return Cat(*out)


def _update(m: Module, cfg: HwConfig, ports: Ports, rec: list, r1, late_read, lr_shift) -> None:
    """The update lanes of a learning core, their reads (the states of the issue, `r1` the record as they
    leave the memories; the shadow and bias words late) and their writes."""
    L, p, sb = cfg.n_layers, cfg.mac_lanes, cfg.state_bits
    pipe = pipeline(cfg)
    row_a_sel, row_b_sel, col_a_sel, col_b_sel = (Signal(p * sb, name=nm) for nm in
                                                  ("row_a_sel", "row_b_sel", "col_a_sel", "col_b_sel"))
    with m.Switch(r1.layer):    # the update's states: port A the positive ones, port B the negative ones
        for l in range(L):
            with m.Case(l):
                m.d.comb += [row_a_sel.eq(ports.st_a[l + 1].data), row_b_sel.eq(ports.st_b[l + 1].data),
                             col_a_sel.eq(ports.st_a[l].data),
                             col_b_sel.eq(ports.st_a[0].data if l == 0 else ports.st_b[l].data)]
    row_a, row_b, col_a, col_b = (delay(m, v, name=v.name[:-4]) for v in (row_a_sel, row_b_sel, col_a_sel, col_b_sel))
    upd_bias = late_read("upd_bias", ports.b_rd, pipe["update_bias_read"], Issue.UPD_BIAS, lambda r: r.block)
    shadow_data = late_read("shadow_data", ports.sh_rd, pipe["shadow_read"], Issue.UPD_WEIGHT, lambda r: r.waddr)

    m.submodules.wupd = wupd = WeightUpdate(cfg=cfg)
    m.submodules.bupd = bupd = BiasUpdate(cfg=cfg)
    ru = rec[pipe["mac"]]
    lr = Signal(LR_SHIFT_BITS)
    with m.Switch(ru.layer):
        for l in range(L):
            with m.Case(l):
                m.d.comb += lr.eq(lr_shift[l])
    row_lane_a, row_lane_b = Signal(sb), Signal(sb)
    with m.Switch(ru.lane):
        for i in range(p):
            with m.Case(i):
                m.d.comb += [row_lane_a.eq(row_a.word_select(i, sb)), row_lane_b.eq(row_b.word_select(i, sb))]
    m.d.comb += [
        wupd.layer.eq(ru.layer), wupd.lr_shift.eq(lr), wupd.pos_row.eq(row_lane_a), wupd.neg_row.eq(row_lane_b),
        wupd.pos.eq(col_a), wupd.neg.eq(col_b), wupd.shadow.eq(shadow_data),
        bupd.layer.eq(ru.layer), bupd.lr_shift.eq(lr), bupd.pos.eq(row_a), bupd.neg.eq(row_b), bupd.bias.eq(upd_bias),
    ]
    rwu, rbu = rec[pipe["weight_write"]], rec[pipe["bias_write"]]
    for l in range(L):
        with m.If((rwu.issue == Issue.UPD_WEIGHT) & (rwu.layer == l)):
            m.d.comb += [ports.sh_wr[l].addr.eq(rwu.waddr), ports.sh_wr[l].data.eq(wupd.shadow_new),
                         ports.sh_wr[l].en.eq(-1), ports.w_wr[l].addr.eq(rwu.waddr),
                         ports.w_wr[l].data.eq(wupd.weight_new), ports.w_wr[l].en.eq(-1)]
        with m.If((rbu.issue == Issue.UPD_BIAS) & (rbu.layer == l)):
            m.d.comb += [ports.b_wr[l].addr.eq(rbu.block), ports.b_wr[l].data.eq(bupd.bias_new),
                         ports.b_wr[l].en.eq(-1)]
