"""The core's controller: the FSM that runs a command and issues one memory word per cycle.

The FSM is generated from the tables of `rtl.schedule`, the same ones its cycle model adds up: each
`Run` of `RELAX_BLOCK` and `UPDATE_LAYER` is one state, which issues the run's `Issue` every cycle
while a down-counter, loaded on entry with the run's length in that layer (and block), counts to zero;
a run of length 0 is skipped. `command_phases` chains the phases of a command, each with one set-up
cycle, and each step and the update end with the pipeline's drain (`rtl.schedule.pipeline`). With
``cfg.cache_drive`` a command begins with the drive pass (`DRIVE_BLOCK` for each block of layer 0); with
``cfg.early_exit`` a phase ends after the first step in which the datapath reported no changed state.
With ``cfg.zero_skip`` the Relax-Top-Down run walks the set bits of the datapath's ``nonzero`` bitmap of
the upper layer (the states the step reads), lowest first, one per cycle, instead of counting down: its
length is their count, and a block whose upper states are all zero skips the run.

What each cycle issues leaves on the ``issue`` stream as a control record (`issue_layout`): the
issue, the layer and block, the addresses of the words to read, and the flags the later stages need.
The counter decides when a run ends; the address walks (`_walks`) decide what it reads.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.formats import Mode, memory_layout
from eqprop.hw.hwconfig import HwConfig
from rtl.mac import max_align_shift
from rtl.pipe import per_layer
from rtl.schedule import (
    BANKS,
    DRIVE_BLOCK,
    RELAX_BLOCK,
    SETUP,
    UPDATE_LAYER,
    Issue,
    Phase,
    block_rows,
    blocks,
    command_phases,
    phase_steps,
    pipeline,
    words,
)

__all__ = ["Controller", "issue_layout", "nonzero_offset", "nonzero_width"]

_SETUP_STATE = {Phase.FREE: "Free-Phase", Phase.PLUS: "Nudge-Plus", Phase.MINUS: "Nudge-Minus"}


def issue_layout(cfg: HwConfig) -> data.StructLayout:
    """The control record of one issue, which travels beside its data through the pipeline."""
    L, p = cfg.n_layers, cfg.mac_lanes
    max_words = max(r.depth for r in memory_layout(cfg).values())
    return data.StructLayout({
        "issue": Issue,
        "layer": range(L),                     # weight layer l
        "block": range(max(blocks(cfg, l) for l in range(L)) + 1),   # neuron block (relaxation, bias update)
        "tail": 1,                             # the block is the layer's last
        "lane": range(p),                      # accumulator lane (bottom-up row, top-down state lane, update row)
        "waddr": range(max_words + 1),         # weight and shadow word
        "sword": range(max(words(cfg, k) for k in range(L + 1)) + 1),   # state word (columns of the update)
        "rword": range(max(words(cfg, k) for k in range(L + 1)) + 1),   # the update's row word, of state l+1
        "wl": range(L),                        # weight memory the word comes from
        "sk": range(L + 1),                    # state memory the word comes from
        "zero": 1,                             # states of layers >= 1 read as zero (the free phase's start)
        "dst": range(BANKS),                   # state bank the step writes
        "sign": signed(2),                     # the phase's nudge: 0, +1, -1
        "shift": range(max_align_shift(cfg) + 1),   # left shift of the products into the accumulator
        "drive": 1,                            # the drive pass (its LOAD reads the bias, not the drive memory)
    })


def nonzero_width(cfg: HwConfig) -> int:
    """Bits of the controller's ``nonzero`` input: one per state of layers 2 .. L (at least one)."""
    return max(1, sum(cfg.sizes[2:]))


def nonzero_offset(cfg: HwConfig, k: int) -> int:
    """The first bit of state layer k (>= 2) in the ``nonzero`` bitmap."""
    return sum(cfg.sizes[2:k])


def result_shape(cfg: HwConfig):
    """The shape of the controller's ``best`` and ``result``: an output index, or B of them side by side."""
    index = range(cfg.sizes[-1])
    return index if cfg.samples == 1 else unsigned(cfg.samples * Shape.cast(index).width)


class Controller(wiring.Component):
    """The FSM of `rtl.core.Core`: runs INFER, RELAX and TRAIN as `rtl.schedule` describes.

    Parameters
    ----------
    cfg : HwConfig

    Members
    -------
    start, mode, clear : in
        As `rtl.core.Core`'s (a ``mode`` other than INFER, TRAIN or RELAX is ignored).
    nonzero : Signal(n_2 + .. + n_L), in
        With ``cfg.zero_skip``: bit j of state layer k (from bit n_2 + .. + n_{k-1}) is set when state j of
        layer k is nonzero (in any sample) in the bank the step reads (`src`); stable during a step.
    best : Signal(range(n_out)), in (B > 1 samples: B such indices, sample 0 in the low bits)
        The datapath's argmax of the output states, valid at the end of each step's drain.
    changed : Signal(1), in
        A strobe from the datapath: a FINISH wrote a state that differs from the old one (the step is
        not at a fixed point). Any strobe before the end of a step's drain counts for that step.
    busy, done, result, cycles, steps, step_done, step_bank, phase, phase_steps, unsettled : out
        As `rtl.core.Core`'s (``result`` holds B indices as ``best`` does).
    issue : stream (always ready), out
        One `issue_layout` record per cycle; ``valid`` when the cycle issues anything.
    src, m_bank : Signal(2), out
        The bank the step reads (the positive bank in the update), and the negative phase's bank.
    cur, cur_zero : out
        The bank the host's STATE window shows, and whether it reads as zeros (after a clear).
    """

    def __init__(self, *, cfg: HwConfig):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "start": In(1), "mode": In(2), "clear": In(1),
            "best": In(result_shape(cfg)), "changed": In(1), "nonzero": In(nonzero_width(cfg)),
            "busy": Out(1), "done": Out(1), "result": Out(result_shape(cfg)),
            "cycles": Out(32), "steps": Out(32), "step_done": Out(1), "step_bank": Out(range(BANKS)),
            "phase": Out(Phase),
            "phase_steps": Out(data.ArrayLayout(range(max(cfg.free_steps, cfg.nudge_steps) + 1), len(Phase))),
            "unsettled": Out(1),
            "issue": Out(stream.Signature(issue_layout(cfg), always_ready=True)),
            "src": Out(range(BANKS)), "m_bank": Out(range(BANKS)),
            "cur": Out(range(BANKS)), "cur_zero": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        L, p = cfg.n_layers, cfg.mac_lanes
        nw = [words(cfg, k) for k in range(L + 1)]
        pipe = pipeline(cfg)
        out = self.issue.payload

        # phase and banks
        mode = Signal(2)
        phase, sign = Signal(Phase), Signal(signed(2))
        src, dst, alt = Signal(range(BANKS)), Signal(range(BANKS)), Signal(range(BANKS))   # read, write, next write
        f_bank, p_bank, m_bank = Signal(range(BANKS)), Signal(range(BANKS)), Signal(range(BANKS))
        zero_src = Signal()
        steps_left = Signal(range(max(cfg.free_steps, cfg.nudge_steps) + 1))

        # where the schedule is: layer, block, and the cycles left in the current run (or drain)
        layer = Signal(range(L))
        block = Signal.like(out.block)
        longest = max(max(run.count(cfg, l, rows) for l in range(L) for rows in block_rows(cfg, l)
                          for run in RELAX_BLOCK + UPDATE_LAYER),
                      max(run.count(cfg, 0, rows) for rows in block_rows(cfg, 0) for run in DRIVE_BLOCK),
                      pipe["step_drain"], pipe["update_drain"], pipe["drive_drain"])
        drive = Signal()           # in the drive pass
        step_changed = Signal()    # a state changed in this step
        left = Signal(range(longest))

        # the address walks
        waddr, td_addr = Signal.like(out.waddr), Signal.like(out.waddr)   # running weight word; top-down word
        j_word, j_lane = Signal.like(out.sword), Signal(range(p))          # top-down: upper state j
        word, row = Signal.like(out.sword), Signal(range(p))               # column word, row in the block
        row_word, row_lane = Signal.like(out.rword), Signal(range(p))      # the update's row
        skip = cfg.zero_skip and L > 1       # zero-skipping: the top-down run walks the nonzero upper states
        td_rem = Signal(max(cfg.sizes[2:], default=1))                     # the upper states still to issue

        def of_layer(values):
            return per_layer(m, values, layer)

        last_block = of_layer([blocks(cfg, l) - 1 for l in range(L)])
        last_word = of_layer([nw[l] - 1 for l in range(L)])
        wpr_up = of_layer([nw[l + 1] if l + 1 < L else 1 for l in range(L)])     # words per row of W_{l+1}
        td_shift = of_layer([cfg.acc_align(l) - cfg.weight_frac[l + 1] if l + 1 < L else 0 for l in range(L)])
        bu_shift = of_layer([cfg.acc_align(l) - cfg.weight_frac[l] for l in range(L)])
        tail = Signal()
        m.d.comb += tail.eq(block == last_block)

        # ------------------------------------------------------------------------------------------
        # the record of this cycle (an issue's state below adds what it reads)

        m.d.comb += [out.layer.eq(layer), out.block.eq(block), out.tail.eq(tail), out.waddr.eq(waddr),
                     out.zero.eq(zero_src), out.dst.eq(dst), out.sign.eq(sign), out.shift.eq(bu_shift),
                     out.drive.eq(drive), self.issue.valid.eq(out.issue != Issue.NONE)]

        def issue_td():     # W_{l+1}[j, block] * s_{l+2}[j]: weight word j * words(l+1) + block, state word j // P
            m.d.comb += [out.wl.eq(layer + 1), out.sk.eq(layer + 2), out.sword.eq(j_word), out.lane.eq(j_lane),
                         out.waddr.eq(td_addr), out.shift.eq(td_shift)]
            m.d.sync += td_addr.eq(td_addr + wpr_up)
            with m.If(j_lane == p - 1):
                m.d.sync += [j_lane.eq(0), j_word.eq(j_word + 1)]
            with m.Else():
                m.d.sync += j_lane.eq(j_lane + 1)

        def nonzero_of(l):
            """The nonzero upper states of layer l's top-down run (s_{l+2}), none on a zero start."""
            k = l + 2
            return Mux(zero_src, 0, self.nonzero[nonzero_offset(cfg, k):nonzero_offset(cfg, k) + cfg.sizes[k]])

        def issue_td_skip():    # as issue_td, for the lowest upper state j still in td_rem
            sword, lane, toff = Signal.like(out.sword), Signal(range(p)), Signal.like(out.waddr)
            with m.Switch(layer):
                for l in range(L - 1):
                    with m.Case(l):
                        for j in reversed(range(cfg.sizes[l + 2])):    # the last assignment (the lowest j) wins
                            with m.If(td_rem[j]):
                                m.d.comb += [sword.eq(j // p), lane.eq(j % p), toff.eq(j * nw[l + 1])]
            m.d.comb += [out.wl.eq(layer + 1), out.sk.eq(layer + 2), out.sword.eq(sword), out.lane.eq(lane),
                         out.waddr.eq(toff + block), out.shift.eq(td_shift)]
            m.d.sync += td_rem.eq(td_rem & (td_rem - 1))

        def issue_bu():     # W_l[r, word] . s_l[word] into acc[r - block * P]; weight words in address order
            m.d.comb += [out.wl.eq(layer), out.sk.eq(layer), out.sword.eq(word), out.lane.eq(row)]
            m.d.sync += [waddr.eq(waddr + 1), word.eq(word + 1)]
            with m.If(word == last_word):
                m.d.sync += [word.eq(0), row.eq(row + 1)]

        def issue_ub():     # b_l[block] += R(s+_{l+1} - s-_{l+1})
            m.d.comb += out.sword.eq(block)
            m.d.sync += block.eq(block + 1)

        def issue_uw():     # shadow_l[r, word]: state l+1 at the row's word, state l at the column word
            m.d.comb += [out.lane.eq(row_lane), out.sword.eq(word), out.rword.eq(row_word)]
            m.d.sync += [waddr.eq(waddr + 1), word.eq(word + 1)]
            with m.If(word == last_word):
                m.d.sync += word.eq(0)
                with m.If(row_lane == p - 1):
                    m.d.sync += [row_lane.eq(0), row_word.eq(row_word + 1)]
                with m.Else():
                    m.d.sync += row_lane.eq(row_lane + 1)

        # each issue's address walk: (a cycle of the run, its reset on entering the run)
        walks = {
            Issue.LOAD: (lambda: None, []),
            Issue.TOP_DOWN: ((issue_td_skip, []) if skip else
                             (issue_td, [j_word.eq(0), j_lane.eq(0), td_addr.eq(block)])),
            Issue.BOTTOM_UP: (issue_bu, [row.eq(0), word.eq(0)]),
            Issue.FINISH: (lambda: None, []),
            Issue.UPD_BIAS: (issue_ub, []),
            Issue.UPD_WEIGHT: (issue_uw, [row_word.eq(0), row_lane.eq(0), word.eq(0)]),
            Issue.STORE: (lambda: None, []),
        }

        # ------------------------------------------------------------------------------------------
        # moving through the runs

        def enter(group, k, sel, tail_of, otherwise):
            """Enter the first run of `group` from index `k` on that is not empty in layer `sel` (an int or
            a Value), loading its length less one; `tail_of(l)`: whether the block entered is the layer's
            last. With no such run, `otherwise()`."""
            def case(l, runs):
                for i, run in enumerate(runs):
                    counts = {run.count(cfg, l, rows) for rows in block_rows(cfg, l)}
                    full, last = run.count(cfg, l, block_rows(cfg, l)[0]), run.count(cfg, l, block_rows(cfg, l)[-1])
                    if counts == {0}:
                        continue
                    assert 0 not in counts, f"run {run.state} is empty in only some blocks of layer {l}"
                    if skip and run.issue == Issue.TOP_DOWN:    # as long as the upper states are nonzero
                        with m.If(nonzero_of(l) != 0):
                            m.d.sync += td_rem.eq(nonzero_of(l))
                            m.next = run.state
                        with m.Else():
                            case(l, runs[i + 1:])
                        return
                    m.d.sync += [left.eq(full - 1 if full == last else Mux(tail_of(l), last - 1, full - 1)),
                                 *walks[run.issue][1]]
                    m.next = run.state
                    return
                otherwise()

            if all(run.count(cfg, l, rows) == 0 for run in group[k:] for l in range(L) for rows in block_rows(cfg, l)):
                otherwise()          # the group's last run: no layer has another
            elif isinstance(sel, int):
                case(sel, group[k:])
            else:
                with m.Switch(sel):
                    for l in range(L):
                        with m.Case(l):
                            case(l, group[k:])

        def start_layer(sel):
            m.d.sync += [layer.eq(sel), block.eq(0), waddr.eq(0)]

        def next_block():
            """After a block's last run: the next block, the next layer, or the step's drain."""
            with m.If(~tail):
                m.d.sync += block.eq(block + 1)
                enter(RELAX_BLOCK, 0, layer, lambda l: block + 1 == blocks(cfg, l) - 1, lambda: None)
            with m.Elif(layer != L - 1):
                start_layer(layer + 1)
                enter(RELAX_BLOCK, 0, layer + 1, lambda l: blocks(cfg, l) == 1, lambda: None)
            with m.Else():
                m.d.sync += left.eq(pipe["step_drain"] - 1)
                m.next = "Relax-Drain"

        def next_drive_block():
            """After a block's last run of the drive pass: the next block, or the pass's drain."""
            with m.If(~tail):
                m.d.sync += block.eq(block + 1)
                enter(DRIVE_BLOCK, 0, 0, lambda l: block + 1 == blocks(cfg, l) - 1, lambda: None)
            with m.Else():
                m.d.sync += left.eq(pipe["drive_drain"] - 1)
                m.next = "Drive-Drain"

        def next_layer():
            """After a layer's last run of the update: the next layer, or the update's drain."""
            with m.If(layer != L - 1):
                start_layer(layer + 1)
                enter(UPDATE_LAYER, 0, layer + 1, lambda l: False, lambda: None)
            with m.Else():
                m.d.sync += left.eq(pipe["update_drain"] - 1)
                m.next = "Update-Drain"

        def begin_phase(which, nudge, start, x, y, zero=0):
            """Set up a phase: steps from bank `start`, alternating writes between banks x and y."""
            m.d.sync += [phase.eq(which), sign.eq(nudge), src.eq(start), dst.eq(x), alt.eq(y),
                         zero_src.eq(zero), steps_left.eq(phase_steps(cfg, which))]
            start_layer(0)
            enter(RELAX_BLOCK, 0, 0, lambda l: blocks(cfg, l) == 1, lambda: None)

        # ------------------------------------------------------------------------------------------
        # the FSM

        busy, cur, cur_zero = Signal(), self.cur, self.cur_zero
        m.d.comb += [self.busy.eq(busy), self.phase.eq(phase), self.step_bank.eq(src), self.src.eq(src),
                     self.m_bank.eq(m_bank)]
        m.d.sync += self.step_done.eq(0)
        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.If(self.changed):
            m.d.sync += step_changed.eq(1)
        clear_counts = [self.cycles.eq(0), self.steps.eq(0), self.unsettled.eq(0),
                        *(self.phase_steps[i].eq(0) for i in range(len(Phase)))]
        with m.If(self.clear & ~busy):
            m.d.sync += [cur_zero.eq(1), self.done.eq(0), *clear_counts]

        # an inference-only core (learning=False) has no nudged phases and no update; it ignores TRAIN
        train = command_phases(cfg, Mode.TRAIN) if cfg.learning else (Phase.FREE,)
        assert train[0] == Phase.FREE and SETUP == 1       # each set-up state is one cycle
        modes = (Mode.INFER, Mode.RELAX, *((Mode.TRAIN,) if cfg.learning else ()))

        def after(which):
            """The set-up state of the phase after `which` in TRAIN, or the update's."""
            i = train.index(which)
            return _SETUP_STATE[train[i + 1]] if i + 1 < len(train) else "Update"

        with m.FSM(init="Idle") as fsm:
            with m.State("Idle"):
                with m.If(self.start & Cat(*[self.mode == md for md in modes]).any()):
                    m.d.sync += [mode.eq(self.mode), self.done.eq(0), *clear_counts]
                    m.next = "Drive" if cfg.cache_drive else _SETUP_STATE[Phase.FREE]

            if cfg.cache_drive:     # the drive pass: W_0 x + b_0 of every block of layer 0 into the drive memory
                with m.State("Drive"):
                    m.d.sync += drive.eq(1)
                    start_layer(0)
                    enter(DRIVE_BLOCK, 0, 0, lambda l: blocks(cfg, l) == 1, lambda: None)
                with m.State("Drive-Drain"):
                    with m.If(left != 0):
                        m.d.sync += left.eq(left - 1)
                    with m.Else():
                        m.d.sync += drive.eq(0)
                        m.next = _SETUP_STATE[Phase.FREE]

            # the bank plan of each phase (see `rtl.schedule`): RELAX continues from the states shown
            with m.State(_SETUP_STATE[Phase.FREE]):
                with m.If((mode == Mode.RELAX) & ~cur_zero):
                    begin_phase(Phase.FREE, 0, cur, Mux(cur == 0, 1, 0), Mux(cur == 0, 0, 1))
                with m.Else():
                    begin_phase(Phase.FREE, 0, 0, 0, 1, zero=1)
            if Phase.PLUS in train:
                with m.State(_SETUP_STATE[Phase.PLUS]):
                    begin_phase(Phase.PLUS, 1, f_bank, 2, 3)
            if Phase.MINUS in train:
                with m.State(_SETUP_STATE[Phase.MINUS]):
                    begin_phase(Phase.MINUS, -1, f_bank, 1 - f_bank[0], 5 - p_bank)

            groups = [(RELAX_BLOCK, next_block)] + ([(UPDATE_LAYER, next_layer)] if cfg.learning else [])
            if cfg.cache_drive:
                groups.append((DRIVE_BLOCK, next_drive_block))
            for group, end_of_group in groups:
                for k, run in enumerate(group):
                    with m.State(run.state):
                        m.d.comb += out.issue.eq(run.issue)
                        walks[run.issue][0]()
                        more = (td_rem & (td_rem - 1)) != 0 if skip and run.issue == Issue.TOP_DOWN else left != 0
                        with m.If(more):
                            m.d.sync += left.eq(left - 1)
                        with m.Else():
                            enter(group, k + 1, 0 if group is DRIVE_BLOCK else layer, lambda l: tail,
                                  end_of_group)

            with m.State("Relax-Drain"):
                # the pipeline's drain: the operations in flight write the states and reach the argmax;
                # in the last cycle the step is done, and the next one reads what it wrote. The phase ends
                # at its limit or, with early exit, after a step that changed no state
                with m.If(left != 0):
                    m.d.sync += left.eq(left - 1)
                with m.Else():
                    m.d.sync += [src.eq(dst), dst.eq(alt), alt.eq(dst), zero_src.eq(0), steps_left.eq(steps_left - 1),
                                 self.steps.eq(self.steps + 1), self.step_done.eq(1), step_changed.eq(0)]
                    with m.Switch(phase):
                        for ph in Phase:
                            with m.Case(ph):
                                m.d.sync += self.phase_steps[ph.value].eq(self.phase_steps[ph.value] + 1)
                    more = (steps_left != 1) & (step_changed if cfg.early_exit else 1)
                    with m.If(~more & step_changed):
                        m.d.sync += self.unsettled.eq(1)    # the phase ended still moving
                    with m.If(more):
                        start_layer(0)
                        enter(RELAX_BLOCK, 0, 0, lambda l: blocks(cfg, l) == 1, lambda: None)
                    with m.Else():
                        with m.Switch(phase):
                            with m.Case(Phase.FREE):
                                m.d.sync += [f_bank.eq(dst), cur.eq(dst), cur_zero.eq(0), self.result.eq(self.best)]
                                with m.If(mode == Mode.TRAIN):   # never on an inference-only core
                                    if len(train) > 1:
                                        m.next = after(Phase.FREE)
                                with m.Else():
                                    m.d.sync += self.done.eq(1)
                                    m.next = "Idle"
                            if Phase.PLUS in train:
                                with m.Case(Phase.PLUS):
                                    m.d.sync += [p_bank.eq(dst), m_bank.eq(f_bank)]
                                    m.next = after(Phase.PLUS)
                            if Phase.MINUS in train:
                                with m.Case(Phase.MINUS):
                                    m.d.sync += m_bank.eq(dst)
                                    m.next = after(Phase.MINUS)

            if cfg.learning:
                with m.State("Update"):
                    m.d.sync += src.eq(p_bank)
                    start_layer(0)
                    enter(UPDATE_LAYER, 0, 0, lambda l: False, lambda: None)

                with m.State("Update-Drain"):
                    # the last update writes reach the memories
                    with m.If(left != 0):
                        m.d.sync += left.eq(left - 1)
                    with m.Else():
                        m.d.sync += [self.done.eq(1), src.eq(f_bank)]
                        m.next = "Idle"

        m.d.comb += busy.eq(~fsm.ongoing("Idle"))
        return m
