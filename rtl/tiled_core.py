"""The tiled core: one PE x SIMD tile per cycle (`rtl.tile.TileMac`), B samples interleaved on it, and on-chip
training with the same tile layout.

The P-lane core (`rtl.core.Core`) streams P MAC lanes over one dimension of a weight matrix and ends every
relaxation step in a drain. This core reads a whole PE x SIMD tile of a weight matrix per cycle, in the layout
of `rtl.tiled_schedule` (state blocks alternate between SIMD and PE neurons, every second weight layer is stored
transposed, so every sum into a block is one reduction of the tile), and keeps the tile busy across step
boundaries by interleaving the B samples of a command round-robin: while one sample's step drains, another's
issues. It runs the free phase of `eqprop.hw.golden.settle` of each sample, bit for bit, with its own early
exit per sample (a sample stops after the first step that changed none of its states, or after T steps), and
the argmax of each sample's output states.

The schedule is the one `rtl.tiled_schedule` models, and the controller is generated from it: the issues of a
unit (the drive pass W_0 x + b_0 of a sample, or one relaxation step) are a table, `unit_program`, held in a
small ROM; the FSM only picks the next slot round-robin among those that are ready and steps through the
table. A sample's next unit may issue no sooner than G = `tiled_latency` cycles after its previous unit's
last issue, when that unit's last state write, its early-exit flag and its argmax are done. `command_cycles`
is the exact cycle model: `rtl.tiled_schedule.interleave` with that G, plus the start cycle.

Pipeline, from the controller's pick (stage 0)::

    pick ─ ROM (2: read, register) ─ weight and state reads (3: read, register, select + register) ─ TileMac
         ─┬ drive pass: the block's sums to the drive memory
          └ step: NeuronLanes (NEURON_LATENCY) ─┬ state write (the other bank), the sample's changed flag
                                                └ argmax of the output layer, per sample (argmax_levels)

The bias (or, for layer 0 with a cached drive, the sample's stored drive) is read late, to arrive at the
tile's accumulator with the block's first tile; a FINISH's old states are read late, to arrive at the neuron
lanes with the block's sums. Every state memory holds, per sample, two banks (each step reads one and writes
the other) of blocks of N_k states.

Learning (``cfg.learning``). A TRAIN trains on the first sample (one a command, as the chip trains online;
INFER relaxes every sample as above). It runs the free phase of the sample on slot 0 (state sample 0); when it
stops, two slots take the nudged phases at +beta and -beta (state samples 1 and 2; the one-sided estimator's
one phase on one slot), whose first step reads the free phase's last states and which interleave as two
samples do, the nudge added in the neuron lanes from the target memory; when both have stopped, the
contrastive update (`update_program`) issues a tile row a cycle (or `update_rows`): the row's SIMD shadow
weights updated with the row's outer product of the two phases' states (`rtl.update.WeightUpdate`: a state of
the odd layer times a block of the even one, whichever of s_l and s_{l+1} that is, so one update lane
structure serves both the stored and the transposed tiles), its weights derived again and written into the
tile word's row, and with a block's first row the block's biases (`rtl.update.BiasUpdate`). Every shadow
weight, weight and bias equals `eqprop.hw.golden.train_sample`'s; `train_cycles` is the exact cycle model.

The host port reads and writes the memories a row at a time while the core is idle (``load``, ``patch``, a row
write); `rtl.tiled_bus.TiledWindows` builds the register map's element windows on it, so that `rtl.axil` puts this
core behind the same AXI4-Lite slave as the P-lane core. The default design is still the P-lane core
(docs/tiled-datapath.md).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, MemoryData
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_words
from rtl.argmax import tournament
from rtl.fixed import lanes
from rtl.mac import max_align_shift
from rtl.neuron import NEURON_LATENCY, NeuronLanes
from rtl.pipe import delay
from rtl.tile import TileMac, TileMode, tile_latency, tile_load_delay
from rtl.tiled_schedule import TilePlan, block_tiles, interleave, tile_memory
from rtl.update import (
    BIAS_DELAY,
    BIAS_UPDATE_LATENCY,
    LR_SHIFT_BITS,
    SHADOW_DELAY,
    WEIGHT_UPDATE_LATENCY,
    BiasUpdate,
    WeightUpdate,
)

__all__ = ["FETCH_LATENCY", "PICK_LATENCY", "READ_LATENCY", "TiledCore", "command_cycles", "plan_of", "stages",
           "infer_cycles", "tiled_cycle_model", "tiled_latency", "train_cycles", "unit_program", "update_program"]

# The pick to the record: out of the program ROM, then a register, so that no memory's address comes
# from the ROM's read data (the ROM to the 784-input design's input memory was its critical path).
FETCH_LATENCY = 2
# An address to its registered data: the synchronous read, a register of the raw data, then the select and a
# register (a block RAM's read data into the select was the critical path of every design: 6.5 ns of logic, most
# of it the DP16KD's clock to output, and 3.5 ns of routing).
READ_LATENCY = 3
# The weight memories in block RAM, however shallow: a tile row is hundreds of bits wide, which distributed RAM
# builds from 4-bit slices (the ternary 32 x 10 design did not place with them) and Yosys otherwise from flip-flops.
BLOCK_RAM = {"ram_style": "block"}
REFILL_LATENCY = 1   # a slot whose sample stopped takes the next one in that cycle; it may issue in the next
# The round-robin choice is registered: a pick takes the slot chosen from the flags of the cycle before, so that
# the pick's logic starts at a register (the choice over 8 slots was the critical path of the 24 x 10 and 10 x 10
# designs). A slot is seen ready a cycle later (G counts it), and no pick follows a pick in the next cycle (a
# one-tile unit holds the tile two cycles, `rtl.tiled_schedule.interleave`'s ``occupancy``).
PICK_LATENCY = 1


def _check(cfg, pe, simd, samples, slots):
    if not isinstance(cfg, HwConfig):
        raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
    for name, value in (("pe", pe), ("simd", simd), ("samples", samples), ("slots", slots)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value!r}")
    if cfg.zero_skip:
        raise ValueError("the tiled core has no zero-skipping: cfg.zero_skip must be False")
    if slots > samples:
        raise ValueError(f"slots must be at most samples ({samples}), not {slots!r}")
    if max(pe, simd) > max(cfg.sizes):
        raise ValueError(f"max(pe, simd) must be at most the widest layer ({max(cfg.sizes)}), not {max(pe, simd)}")


def stages(cfg: HwConfig, pe: int, simd: int) -> dict[str, int]:
    """The pipeline's positions, in cycles after the controller's pick: ``tile_in`` (the tile's operands),
    ``load_read`` (the bias or drive address), ``out`` (a block's sums), ``old_read`` (a FINISH's old states'
    address), ``write`` (the new states and the changed flag), ``best`` (the argmax register readable)."""
    tile_in = FETCH_LATENCY + READ_LATENCY
    out = tile_in + tile_latency(cfg, pe, simd)
    write = out + NEURON_LATENCY
    return {"tile_in": tile_in, "load_read": tile_in + tile_load_delay(cfg, pe, simd) - READ_LATENCY,
            "out": out, "old_read": out - READ_LATENCY, "write": write,
            "best": write + max(1, len(argmax_levels(simd if cfg.n_layers % 2 == 0 else pe))) + 2}


def argmax_levels(lanes: int) -> tuple[int, ...]:
    """The comparator levels of the output block's argmax tree with a register after them: every one but the
    last, which the core registers itself, so that one comparator lies between two registers (with
    `rtl.argmax.registered_levels`' two a level, the tree was the ternary 24 x 10 design's critical path:
    87.9 MHz, 92.6 with a register a level; it waits once a command, in `end_drain`)."""
    return tuple(range(1, (lanes - 1).bit_length()))


def tiled_latency(cfg: HwConfig, pe: int, simd: int) -> int:
    """G: cycles from a unit's last pick to the earliest pick of the same sample's next unit. Its reads (at
    ``FETCH_LATENCY``) must see the last state write (at ``write``), and the pick must see the early-exit flag
    (registered at ``write``), which the controller registers once more into its ``stop`` flag, so that the
    pick's logic starts at registers; the choice of the pick is registered too (`PICK_LATENCY`). The argmax
    (``best``) is waited for once, at the command's end (`end_drain`)."""
    return _wait_latency(cfg, pe, simd) + PICK_LATENCY


def _wait_latency(cfg: HwConfig, pe: int, simd: int) -> int:
    """The slots' wait counters: cycles from a unit's last pick to the cycle its slot's flags say ready."""
    return stages(cfg, pe, simd)["write"] + 2


def end_drain(cfg: HwConfig, pe: int, simd: int) -> int:
    """Cycles the core waits, once every sample has stopped, for the last argmax before it sets DONE: the last
    sample stops G cycles after its last issue, is seen stopped a cycle later, and DONE is readable a cycle
    after that, at least ``best`` cycles after the last issue."""
    return max(0, stages(cfg, pe, simd)["best"] - _wait_latency(cfg, pe, simd) - 2)


def plan_of(cfg: HwConfig, pe: int, simd: int) -> TilePlan:
    """The `TilePlan` of the core: `cfg`'s sizes and cached drive, G = `tiled_latency`."""
    return TilePlan(sizes=cfg.sizes, pe=pe, simd=simd, cache_drive=cfg.cache_drive,
                    latency=tiled_latency(cfg, pe, simd))


def command_cycles(cfg: HwConfig, pe: int, simd: int, steps, slots: int | None = None) -> int:
    """Cycles from START to DONE of a command whose samples take `steps` free steps each (with early exit, up
    to and including the first step that changed no state; `eqprop.hw.golden.settle`'s ``steps``), `slots` of
    them in flight (default all): the interleaved timeline (`rtl.tiled_schedule.interleave`, a slot given a new
    sample ready `REFILL_LATENCY` cycles after the old one stopped), the cycle in which the last sample is seen
    stopped, `end_drain` and the cycle that sets DONE. Exact: the core's ``cycles``."""
    run = interleave(plan_of(cfg, pe, simd), [int(s) for s in steps], slots, refill=REFILL_LATENCY,
                     occupancy=1 + PICK_LATENCY)
    return run.cycles + 2 + end_drain(cfg, pe, simd)


def infer_cycles(cfg: HwConfig, steps) -> int:
    """`command_cycles` of an INFER of the core of the tiled `cfg` (its ``pe``, ``simd``, ``samples`` and ``slots``)
    whose samples take `steps` free steps, one per sample given: with fewer than ``cfg.samples``, the others are
    copies of the first (a host fills a short command so; the co-simulation does)."""
    steps = [int(s) for s in np.ravel(steps)]
    steps += steps[:1] * (cfg.samples - len(steps))
    return command_cycles(cfg, cfg.pe, cfg.simd, steps, cfg.slots or cfg.samples)


def tiled_cycle_model(cfg: HwConfig, update_rows: int = 1) -> dict[str, int]:
    """The tiled core's cycle figures for a tiled `cfg` (``pe``, ``simd``, ``samples``, ``slots``), as an export's
    manifest records them: ``step`` (S, a relaxation step's issues), ``drive`` (D, a drive pass's), ``latency``
    (G, `tiled_latency`), ``update`` (a TRAIN's update issues, `update_rows` tile rows a cycle), ``infer`` (an
    INFER whose samples all run to T steps: the most one takes) and ``train`` (a TRAIN at T, K and K; learning
    cores), and ``tile_bound_step``: the multiply-adds of one sample's step over PE x SIMD. Exact cycles of a
    command with early exit: `command_cycles` of each sample's steps, `train_cycles` of each phase's."""
    from rtl.tiled_schedule import drive_cycles, step_cycles

    pe, simd = cfg.pe, cfg.simd
    plan = plan_of(cfg, pe, simd)
    out = {"step": step_cycles(plan), "drive": drive_cycles(plan), "latency": plan.latency,
           "infer": infer_cycles(cfg, [cfg.free_steps]),
           "tile_bound_step": -(-cfg.macs_per_cached_step() // (pe * simd))}
    if cfg.learning:
        minus = cfg.nudge_steps if cfg.estimator == "symmetric" else None
        out |= {"update": len(update_program(cfg, plan, update_rows)),
                "train": train_cycles(cfg, pe, simd, cfg.free_steps, cfg.nudge_steps, minus, update_rows=update_rows)}
    return out


# The contrastive update of a learning core, in cycles after the issue of a tile row (stage 0): the program ROM and a
# register (FETCH_LATENCY), the two phases' states read as a step reads them (READ_LATENCY), then
# `rtl.update.WeightUpdate` on the row's SIMD weights and `rtl.update.BiasUpdate` on a block's biases.
UPDATE_IN = FETCH_LATENCY + READ_LATENCY
UPDATE_WRITE = UPDATE_IN + WEIGHT_UPDATE_LATENCY     # the new shadow and weight row written
BIAS_WRITE = UPDATE_IN + BIAS_UPDATE_LATENCY         # the new bias block written


def train_cycles(cfg: HwConfig, pe: int, simd: int, free: int, plus: int, minus: int | None = None, *,
                 update_rows: int = 1) -> int:
    """Cycles from START to DONE of a TRAIN command of a learning core whose phases take `free`, `plus` and
    `minus` steps (`eqprop.hw.golden.run_phases`' ``steps``; `minus` None for the one-sided estimator, whose one
    nudged phase is `plus`). Exact: the core's ``cycles``.

    The free phase is `command_cycles`' timeline of one sample on one slot. When it stops, its slot takes the
    positive phase and (symmetric) a second slot the negative one, both from the free states, ready
    `REFILL_LATENCY` cycles later and interleaved round-robin from the second slot: two samples' steps hide each
    other's waits, with no drive pass (the drive is the free phase's). When both have stopped, the update
    issues `update_program` back to back, `update_rows` tile rows a cycle, and DONE follows its last write."""
    plan = plan_of(cfg, pe, simd)
    occupancy = 1 + PICK_LATENCY
    first = interleave(plan, [int(free)], 1, refill=REFILL_LATENCY, occupancy=occupancy)
    nudged = [int(plus)] if minus is None else [int(minus), int(plus)]
    second = interleave(plan, nudged, len(nudged), occupancy=occupancy, drive=False)
    # the cycle that sees both stopped issues the first row; DONE is set in the cycle of the last row's write
    rows = len(update_program(cfg, plan, update_rows))
    return first.cycles + REFILL_LATENCY + second.cycles + 1 + rows + UPDATE_WRITE


def update_program(cfg: HwConfig, plan: TilePlan, rows: int = 1) -> list[dict]:
    """The contrastive update's issues, `rows` tile rows a cycle (a divisor of PE), in the order of the shadow
    memory's words: for every weight layer l, every tile (a, c) of W_l in word order and every group of `rows`
    rows from row i, the word (``word``, in the one weight memory), the group's first row, the blocks a of
    s_{l+1} and c of s_l whose states the update reads, and ``bias``: the issue that also updates the biases of
    block a of s_{l+1} (the first of the block's first tile, which reads that block). A row's SIMD weights are
    the outer product of a state of the odd layer (block element i) and a block of the even one, whichever of
    s_l and s_{l+1} that is."""
    if not isinstance(rows, int) or rows < 1 or plan.pe % rows:
        raise ValueError(f"update_rows must be a divisor of pe ({plan.pe}), not {rows!r}")
    ops = []
    for l in range(plan.n_layers):
        for a in range(plan.blocks(l + 1)):
            for c in range(plan.blocks(l)):
                for i in range(0, plan.pe, rows):
                    ops.append(dict(l=l, word=weight_base(plan, l) + a * plan.blocks(l) + c, i=i, a=a, c=c,
                                    bias=int(c == 0 and i == 0)))
    return ops


def _update_layout(cfg: HwConfig, plan: TilePlan) -> data.StructLayout:
    blocks = max(2, max(plan.blocks(k) for k in range(plan.n_layers + 1)))
    words = max(2, weight_base(plan, plan.n_layers))
    return data.StructLayout({"l": range(max(2, plan.n_layers)), "word": range(words),
                              "i": range(max(2, plan.pe)), "a": range(blocks), "c": range(blocks), "bias": 1})


def _op_layout(cfg: HwConfig, plan: TilePlan) -> data.StructLayout:
    L = cfg.n_layers
    return data.StructLayout({
        "word": range(max(2, weight_base(plan, L))),     # the row of the one weight memory
        "sk": range(L + 1), "sword": range(max(2, max(plan.blocks(k) for k in range(L + 1)))),
        "bl": range(L), "block": range(max(2, max(plan.blocks(k) for k in range(L + 1)))),
        "mode": TileMode, "shift": range(max_align_shift(cfg) + 1),
        "first": 1, "last": 1, "empty": 1, "drive": 1,
    })


def unit_program(cfg: HwConfig, plan: TilePlan) -> list[dict]:
    """The issues of the two kinds of unit, in order: the drive pass (``drive`` 1; none without a cached drive),
    then one relaxation step (`rtl.tiled_schedule.block_tiles` of every block of every layer). Each issue is a
    dict of `_op_layout`'s fields."""
    ops = []
    if plan.cache_drive:
        for a in range(plan.blocks(1)):
            for c in range(plan.blocks(0)):
                ops.append(dict(word=a * plan.blocks(0) + c, sk=0, sword=c, bl=0, block=a, mode=TileMode.ROWS,
                                shift=cfg.acc_align(0) - cfg.weight_frac[0], first=c == 0,
                                last=c == plan.blocks(0) - 1, empty=0, drive=1))
    for l in range(plan.n_layers):
        for a in range(plan.blocks(l + 1)):
            for t in block_tiles(plan, l, a):
                shift = cfg.acc_align(l) - cfg.weight_frac[t.layer]
                ops.append(dict(word=weight_base(plan, t.layer) + t.word, sk=t.state_layer, sword=t.state_word,
                                bl=l, block=a, mode=plan.mode(l), shift=shift, first=t.first, last=t.last,
                                empty=t.kind == "empty", drive=0))
    return ops


def weight_base(plan: TilePlan, l: int) -> int:
    """The first row of W_l's tiles in the one weight memory: the layers' tiles follow each other."""
    return sum(plan.words(j) for j in range(l))


def _pack(layout: data.StructLayout, values: dict) -> int:
    word = 0
    for name, field in layout:
        v = values[name]
        v = v.value if hasattr(v, "value") else int(v)
        word |= (v & ((1 << field.width) - 1)) << field.offset
    return word


class TiledCore(wiring.Component):
    """The tiled core (see the module's docstring): inference, and with ``cfg.learning`` on-chip training.

    Parameters
    ----------
    cfg : HwConfig
        Widths, sizes, T (``free_steps``), K (``nudge_steps``), ``early_exit``, ``cache_drive``, the estimator
        and, in a tiled configuration, ``pe``, ``simd``, ``samples`` and ``slots``; ``zero_skip`` must be False.
        ``mac_lanes`` is not used (the tile replaces it).
    pe, simd : int, optional
        The weight tile's rows and columns (default: ``cfg.pe`` and ``cfg.simd``).
    samples : int, optional
        N, the samples of a command (the input, state and drive memories hold them all; default
        ``cfg.samples``). A learning core's INFER relaxes them all, its TRAIN the first.
    slots : int, optional
        B, the samples in flight at once, interleaved round-robin on the one tile (default: ``cfg.slots``, else
        `samples`); when a sample stops, its slot takes the next sample waiting. A TRAIN's two nudged phases run
        on slots 0 and 1 whatever B is.
    params : IntParams, optional
        The weight, bias and (learning) shadow memories' contents (zeros if None).
    inputs : array of int, optional
        (samples, n_0) input codes, the input memory's contents (zeros if None).
    targets : array of int, optional
        A learning core's (1, n_out) target codes, the target memory's contents (zeros if None).
    dsp_products : int, optional
        INT tiles: the products left to DSP blocks, the others built in logic (`rtl.tile.TileMac`); default all.
    update_rows : int, optional
        Learning cores: the tile rows the update takes a cycle (a divisor of PE; default 1), each with its own
        SIMD update lanes.

    Members
    -------
    start : Signal(1), in
        Starts a command when idle: the free phase of every sample, or in a learning core with ``train`` set, a
        TRAIN (free phase, nudged phases, update; `train_cycles`).
    train : Signal(1), in
        Learning cores: the command ``start`` starts is a TRAIN (1) or an INFER (0).
    lr_shift : Signal(ArrayLayout(5, L)), in
        Learning cores: each layer's learning-rate shift (the P-lane core's LR_SHIFT registers).
    busy, done : Signal(1), out
        ``done`` is set when a command finishes and stays set until the next start.
    results : Signal(ArrayLayout(range(n_out), N)), out
        argmax of each sample's output states after its free phase (lowest index on ties).
    steps : Signal(ArrayLayout(range(max steps + 1), max(N, 3))), out
        The free steps each sample took (its final states are in bank ``steps % 2``); after a TRAIN, the first
        three are its phases': the free phase's, then the nudged phases' (+beta, then -beta).
    free_steps : Signal(range(max steps + 1)), out
        The most free steps a sample of the last command took (a register, kept as the samples stop).
    unsettled : Signal(1), out
        A sample or phase of the last command stopped at its step limit with a step that still changed a state.
    trained : Signal(1), out
        The last command was a TRAIN.
    clear : Signal(1), in
        While idle: ``done``, ``cycles``, the steps and ``unsettled`` cleared (the bus's RESET).
    cycles : Signal(32), out
        Clock cycles of the last (or running) command: `command_cycles`, `train_cycles`.

    The memories (`MemoryData`, for testbenches): ``weight_mem`` (a tile a row, every layer's in turn from
    `weight_base`), ``bias_mem[l]``, ``input_mem``, ``state_mem[k]`` (k = 1 .. L; `state_address`; a learning
    core's phases are its samples 0, 1 and 2) and in a learning core ``target_mem`` and ``shadow_mem`` (a tile row
    a row).

    host : in
        Writes while idle, a row at a time: with ``we`` and not ``commit``, ``wdata`` goes to 32-bit chunk
        ``lane`` of a staging row; with ``we`` and ``commit`` the staging row is written to row ``addr`` of the
        memory ``sel`` (`host_target`; `host_chunks` packs a row). A minimal port, so that the memories are RAMs
        that a host fills with whole-row writes (block RAM has no 2-bit write enables) and place and route
        counts them as such; the register map's windows are not built yet.
    """

    def __init__(self, *, cfg: HwConfig, pe: int | None = None, simd: int | None = None, samples: int | None = None,
                 slots: int | None = None, params: IntParams | None = None, inputs=None,
                 dsp_products: int | None = None, targets=None, update_rows: int = 1):
        if isinstance(cfg, HwConfig):     # the tile and slots of a tiled configuration, unless given
            if (pe is None or simd is None) and not cfg.tiled:
                raise ValueError("the tiled core needs a tile: set pe and simd in the HwConfig, or pass them")
            pe, simd = cfg.pe if pe is None else pe, cfg.simd if simd is None else simd
            samples = cfg.samples if samples is None else samples
            slots = (cfg.slots or samples) if slots is None else slots
        _check(cfg, pe, simd, samples, slots)
        self.dsp_products = dsp_products
        if params is not None and not isinstance(params, IntParams):
            raise TypeError(f"Parameters must be an IntParams or None, not {params!r}")
        self.cfg, self.pe, self.simd, self.samples = cfg, pe, simd, samples
        self.learning = cfg.learning
        # a learning core's TRAIN relaxes its first sample; its nudged phases run as further samples of the state
        # memories (1 and 2), on slots of their own (0 and 1); its INFER relaxes every sample on `slots` slots
        self.nudged = (2 if cfg.estimator == "symmetric" else 1) if cfg.learning else 0
        self.state_samples = max(samples, 1 + self.nudged) if cfg.learning else samples
        self.infer_slots = slots
        self.slots = max(slots, self.nudged)
        self.max_steps = max(cfg.free_steps, cfg.nudge_steps) if cfg.learning else cfg.free_steps
        self.plan = plan = plan_of(cfg, pe, simd)
        L, n, B, sb = cfg.n_layers, cfg.sizes, samples, cfg.state_bits
        self.v = max(pe, simd)
        self.op_layout = _op_layout(cfg, plan)
        self.program = unit_program(cfg, plan)
        self.update_rows = update_rows
        self.update_program = update_program(cfg, plan, update_rows) if cfg.learning else []
        self.drive_len = plan.words(0) if plan.cache_drive else 0
        self.step_len = len(self.program) - self.drive_len
        self.block_bits = [ceil_log2(plan.blocks(k)) for k in range(L + 1)]

        wb = cfg.weight_bits
        given = params is not None or inputs is not None or targets is not None
        rows = self.host_rows(params, inputs, targets) if given else {}

        def image(sel, depth):
            """The initial contents of memory `sel`: its rows packed (zero where not given)."""
            if sel not in rows:
                return []
            words = [0] * depth
            for addr, codes in rows[sel].items():
                words[addr] = self.row_word(sel, codes)
            return words

        # the host's memories (`host_target`): the weights, biases, inputs, a learning core's targets and shadow
        # weights, then the state memories of layers 1 .. L (read-only)
        self.state_sel = (4 if cfg.learning else 2) + L
        self.lane_bits = ({0: wb} | {1 + l: cfg.bias_bits for l in range(L)} | {1 + L: sb}
                          | ({2 + L: sb, 3 + L: cfg.shadow_bits} if cfg.learning else {})
                          | {self.state_sel + k: sb for k in range(L)})
        self.signed_sels = (0, *(1 + l for l in range(L)), *((3 + L,) if cfg.learning else ()))
        words = weight_base(plan, L)
        self.weight_mem = MemoryData(shape=unsigned(pe * simd * wb), depth=words, init=image(0, words))
        self.bias_mem = [MemoryData(shape=unsigned(plan.block_size(l + 1) * cfg.bias_bits), depth=plan.blocks(l + 1),
                                    init=image(1 + l, plan.blocks(l + 1))) for l in range(L)]
        self.input_mem = MemoryData(shape=unsigned(simd * sb), depth=B << self.block_bits[0],
                                    init=image(1 + L, B << self.block_bits[0]))
        self.state_mem = [None] + [MemoryData(shape=unsigned(plan.block_size(k) * sb),
                                              depth=(2 * self.state_samples) << self.block_bits[k], init=[])
                                   for k in range(1, L + 1)]
        self.drive_mem = (MemoryData(shape=unsigned(pe * cfg.acc_bits), depth=B << self.block_bits[1], init=[])
                          if plan.cache_drive else None)
        # a learning core: the target (blocks of the output layer) and the shadow weights, a tile row a row
        self.target_mem = self.shadow_mem = None
        if cfg.learning:
            self.target_mem = MemoryData(shape=unsigned(plan.block_size(L) * sb), depth=plan.blocks(L),
                                         init=image(2 + L, plan.blocks(L)))
            self.shadow_mem = MemoryData(shape=unsigned(update_rows * simd * cfg.shadow_bits),
                                         depth=words * pe // update_rows, init=image(3 + L, words * pe // update_rows))
        members = {
            "start": In(1),
            "clear": In(1),
            "busy": Out(1),
            "done": Out(1),
            "results": Out(data.ArrayLayout(range(n[-1]), B)),
            "steps": Out(data.ArrayLayout(range(self.max_steps + 1), self.state_samples)),
            "free_steps": Out(range(self.max_steps + 1)),
            "cycles": Out(32),
            "unsettled": Out(1),
            "trained": Out(1),
            "host": In(wiring.Signature({
                "we": Out(1), "commit": Out(1), "load": Out(1), "patch": Out(1),
                "sel": Out(range(self.state_sel + L)),
                "addr": Out(range(max(2, self._max_depth()))),
                "lane": Out(range(max(2, -(-self._staging_bits() // 32)))), "wdata": Out(32),
                "elem": Out(range(max(2, self._max_elements()))), "rdata": In(32),
            })),
        }
        if cfg.learning:
            members |= {"train": In(1), "lr_shift": In(data.ArrayLayout(LR_SHIFT_BITS, L))}
        super().__init__(members)

    def _host_memories(self) -> list[MemoryData]:
        """The memories by ``host.sel`` (`host_target`)."""
        return ([self.weight_mem, *self.bias_mem, self.input_mem]
                + ([self.target_mem, self.shadow_mem] if self.learning else []) + self.state_mem[1:])

    def _max_depth(self) -> int:
        return max(md.depth for md in self._host_memories())

    def _staging_bits(self) -> int:
        return max(md.shape.width for md in self._host_memories())

    def _max_elements(self) -> int:
        return max(md.shape.width // self.lane_bits[sel] for sel, md in enumerate(self._host_memories()))

    def row_word(self, sel: int, codes) -> int:
        """A row of memory `sel`, its element codes packed lane 0 lowest (`eqprop.hw.memimage.pack_words`; weights,
        biases and shadow weights signed, inputs and targets unsigned; a code that does not fit raises ValueError)."""
        return pack_words(codes, self.lane_bits[sel], len(codes), signed=sel in self.signed_sels)[0]

    def host_chunks(self, sel: int, codes) -> list[int]:
        """A row of memory `sel` as the host writes it (`row_word`), in 32-bit chunks, the lowest first."""
        word = self.row_word(sel, codes)
        return [(word >> (32 * i)) & 0xFFFFFFFF for i in range(-(-len(codes) * self.lane_bits[sel] // 32))]

    def host_rows(self, params: IntParams | None, inputs=None, targets=None) -> dict[int, dict[int, list[int]]]:
        """What the memories hold for `params`, `inputs` ((samples, n_0) codes) and, in a learning core, `targets`
        ((1, n_out) codes), as the host writes it: {``host.sel``: {row: [element codes]}} (`host_target`; the tiles
        in `rtl.tiled_schedule.tile_memory`'s layout, each flattened ``i * SIMD + j``; the biases in blocks of
        N_{l+1}; the inputs in blocks of SIMD, at `input_address`; the targets in blocks of N_L; the shadow
        weights of a learning core a tile row a row, row i of word w at ``w * PE + i``). Any may be None (then
        its memories are left out)."""
        plan, L, n = self.plan, self.cfg.n_layers, self.cfg.sizes
        out = {}
        if params is not None:
            out[0] = {}
            if self.learning:
                out[3 + L] = {}
            for l in range(L):
                out[0] |= {weight_base(plan, l) + a: tile.reshape(-1).tolist() for a, tile in
                           enumerate(tile_memory(plan, params.weights[l], l))}
                if self.learning:     # `update_rows` rows of a tile a word
                    r = self.update_rows
                    for a, tile in enumerate(tile_memory(plan, params.shadow[l], l)):
                        base = (weight_base(plan, l) + a) * self.pe
                        out[3 + L] |= {(base + i) // r: tile[i:i + r].reshape(-1).tolist()
                                       for i in range(0, self.pe, r)}
                out[1 + l] = self._blocks(params.biases[l], l + 1)
        if inputs is not None:
            x = np.asarray(inputs, dtype=np.int64)
            if x.shape != (self.samples, n[0]):
                raise ValueError(f"inputs must have shape {(self.samples, n[0])}, not {x.shape}")
            out[1 + L] = {a: row for s in range(self.samples) for a, row in self.input_rows(s, x[s]).items()}
        if targets is not None:
            if not self.learning:
                raise ValueError("targets need a learning core (cfg.learning True)")
            t = np.asarray(targets, dtype=np.int64)
            if t.shape != (1, n[-1]):
                raise ValueError(f"targets must have shape {(1, n[-1])}, not {t.shape}")
            out[2 + L] = self._blocks(t[0], L)
        return out

    def parameter_memories(self) -> dict[int, MemoryData]:
        """The weight, bias and (learning) shadow memories, by ``host.sel``."""
        L = self.cfg.n_layers
        return {0: self.weight_mem, **{1 + l: self.bias_mem[l] for l in range(L)},
                **({3 + L: self.shadow_mem} if self.learning else {})}

    def images(self, params: IntParams) -> dict[str, tuple[int, list[int]]]:
        """The parameter memories' contents for `params`: {name: (``host.sel``, every row's word)}, named
        ``weight`` (every layer's tiles), ``bias.l`` and ``shadow`` (a learning core; `host_rows`' layouts)."""
        rows, L = self.host_rows(params), self.cfg.n_layers
        names = {0: "weight", **{1 + l: f"bias.{l}" for l in range(L)}, 3 + L: "shadow"}
        out = {}
        for sel, md in self.parameter_memories().items():
            words = [0] * md.depth
            for a, codes in rows[sel].items():
                words[a] = self.row_word(sel, codes)
            out[names[sel]] = (sel, words)
        return out

    def params_from_words(self, words: dict[int, list[int]]) -> IntParams:
        """The parameters the parameter memories hold, from their words by ``host.sel`` (`parameter_memories`;
        the inverse of `images`); an inference-only core's shadows are its weights in shadow format."""
        from eqprop.hw.golden import shadow_of_weights
        from eqprop.hw.memimage import unpack_words
        from rtl.tiled_schedule import tile_matrix

        cfg, plan, pe, simd, L = self.cfg, self.plan, self.pe, self.simd, self.cfg.n_layers
        r = self.update_rows
        shadow, weights, biases = [], [], []
        for l in range(L):
            base, n_words = weight_base(plan, l), plan.words(l)
            tiles = [unpack_words([words[0][base + w]], cfg.weight_bits, pe * simd, signed=True,
                                  count=pe * simd).reshape(pe, simd) for w in range(n_words)]
            weights.append(tile_matrix(plan, np.array(tiles), l))
            if self.learning:
                tiles = [np.concatenate([unpack_words([words[3 + L][((base + w) * pe + i) // r]], cfg.shadow_bits,
                                                      r * simd, signed=True, count=r * simd).reshape(r, simd)
                                         for i in range(0, pe, r)]) for w in range(n_words)]
                shadow.append(tile_matrix(plan, np.array(tiles), l))
            else:
                shadow.append(shadow_of_weights(cfg, weights[-1]))
            biases.append(unpack_words(words[1 + l][:plan.blocks(l + 1)], cfg.bias_bits, plan.block_size(l + 1),
                                       signed=True, count=cfg.sizes[l + 1]))
        return IntParams(shadow, weights, biases)

    def input_rows(self, sample: int, codes) -> dict[int, list[int]]:
        """The rows of ``input_mem`` holding `sample`'s input `codes` (n_0 of them), as `host_rows` gives them."""
        return {self.input_address(sample, c): row for c, row in self._blocks(codes, 0).items()}

    def _blocks(self, values, k: int) -> dict[int, list[int]]:
        """`values` (one per neuron of state layer k) in blocks of N_k, zero past the last neuron."""
        size = self.plan.block_size(k)
        pad = np.zeros(self.plan.blocks(k) * size, dtype=np.int64)
        pad[:self.cfg.sizes[k]] = values
        return {a: pad[a * size:(a + 1) * size].tolist() for a in range(self.plan.blocks(k))}

    def host_target(self, what: str, layer: int = 0) -> int:
        """``host.sel`` of a memory: "weight" (every layer's tiles), "bias" of `layer`, "input", in a learning
        core "target" and "shadow" (every layer's shadow weights, a tile row a row), and "state" of layer `layer`
        (1 .. L; read-only: `state_address`)."""
        L = self.cfg.n_layers
        sels = {"weight": 0, "bias": 1 + layer, "input": 1 + L} | ({"target": 2 + L, "shadow": 3 + L}
                                                                     if self.learning else {})
        sels["state"] = self.state_sel + layer - 1
        if what not in sels:
            raise ValueError(f"what must be one of {', '.join(sels)}, not {what!r}")
        return sels[what]

    def input_address(self, sample: int, block: int) -> int:
        """Row of ``input_mem`` holding `block` (SIMD inputs) of `sample`."""
        return (sample << self.block_bits[0]) | block

    def state_address(self, k: int, sample: int, bank: int, block: int) -> int:
        """Row of ``state_mem[k]`` holding `block` (N_k states) of `sample` in `bank` (0 or 1)."""
        return (((sample << 1) | bank) << self.block_bits[k]) | block

    def elaborate(self, platform):
        m = Module()
        cfg, plan, N, B, v = self.cfg, self.plan, self.samples, self.slots, self.v
        NS, learning = self.state_samples, self.learning
        END_DRAIN = end_drain(cfg, self.pe, self.simd)
        L, n, sb = cfg.n_layers, cfg.sizes, cfg.state_bits
        G = _wait_latency(cfg, self.pe, self.simd)
        pos_ = stages(cfg, self.pe, self.simd)
        D, S = self.drive_len, self.step_len

        # ------------------------------------------------------------------------------------------
        # the controller: pick a ready slot round-robin, step through its unit's program

        busy, issuing = Signal(), Signal()
        cur, last = Signal(range(B)), Signal(range(B), init=B - 1)
        pc, end = Signal(range(D + S)), Signal(range(D + S))
        active, need_drive, changed, bank = (Signal(B, name=nm) for nm in ("active", "need_drive", "changed", "bank"))
        steps = [Signal(range(self.max_steps + 1), name=f"steps{k}") for k in range(B)]
        wait = [Signal(range(max(2, G)), name=f"wait{k}") for k in range(B)]
        sample = [Signal(range(NS), name=f"sample{k}") for k in range(B)]     # the sample each slot runs
        pending = Signal(range(N + 1))          # the next sample waiting for a slot
        drain = Signal(range(END_DRAIN + 1))
        u_zero, u_drive, u_src = Signal(), Signal(), Signal()
        steps_out = [Signal(range(self.max_steps + 1), name=f"steps_out{s}") for s in range(NS)]
        # a learning core: the command (TRAIN or INFER), the bank each phase ended in (the free phase's is the
        # nudged phases' start; the update reads the others), the update's next row
        train = Signal()
        fbank, pbank, nbank = Signal(), Signal(), Signal()
        U = len(self.update_program)
        upc = Signal(range(U + 1))
        udrain = Signal(range(UPDATE_WRITE))
        u_valid = Signal()      # stage 0 of the update: row upc issues

        # this cycle's issue (stage 0): the program position and the tag (slot, sample, bank, first step)
        pick_valid, pick_slot, pick_sample = Signal(), Signal(range(B)), Signal(range(NS))
        pick_first, pick_drive = Signal(), Signal()     # a unit's first issue (a pick), and of a drive pass
        pick_zero, pick_bank = Signal(), Signal()
        pick_src = Signal()     # a nudged phase's first step: it reads the free phase's last states

        m.d.comb += [self.busy.eq(busy), self.steps.eq(Cat(*steps_out)), self.trained.eq(train)]
        with m.If(busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        for k in range(B):
            with m.If(wait[k] != 0):
                m.d.sync += wait[k].eq(wait[k] - 1)

        # a slot is ready G cycles after its unit's last issue; its sample has then stopped (the step limit, or
        # with early exit a step that changed none of its states) or it goes on; a stopped sample's slot takes
        # the next sample waiting, which is ready in the next cycle (`REFILL_LATENCY`)
        # (the pick's inputs are registers: `waited` that the wait is over, `stepped` that the sample has taken a
        # step, `stop` whether it has stopped, registered a cycle after the flags it is made of, which G allows)
        ready, finished = Signal(B), Signal(B)
        waited, stepped, stop = Signal(B, init=-1), Signal(B), Signal(B)
        for k in range(B):
            limit = Mux(train & (sample[k] != 0), cfg.nudge_steps, cfg.free_steps) if learning else cfg.free_steps
            m.d.sync += stop[k].eq((steps[k] == limit) | (~changed[k] if cfg.early_exit else 0))
            with m.If(wait[k] == 1):
                m.d.sync += waited[k].eq(1)
            m.d.comb += [ready[k].eq(active[k] & waited[k] & ~(issuing & (cur == k))),
                         finished[k].eq(ready[k] & ~need_drive[k] & stepped[k] & stop[k])]
        go = Signal(B)
        m.d.comb += go.eq(ready & ~finished)
        chosen = Signal(range(B))
        with m.Switch(last):       # round-robin: the first ready slot after the last one picked
            for lst in range(B):
                with m.Case(lst):
                    for k in reversed([(lst + 1 + i) % B for i in range(B)]):
                        with m.If(go[k]):
                            m.d.comb += chosen.eq(k)
        # the choice, registered (`PICK_LATENCY`): a slot ready in this cycle stays ready until it is picked, and
        # none is chosen in the cycle of a pick (the slot picked is not ready in the next cycle)
        pre_valid, pre_slot, picked = Signal(), Signal(range(B)), Signal()
        m.d.sync += [pre_valid.eq(busy & go.any() & ~picked), pre_slot.eq(chosen)]

        def unit_end(slot, drive):
            m.d.sync += [wait[slot].eq(G - 1), waited[slot].eq(0)]
            if not drive:
                m.d.sync += bank.bit_select(slot, 1).eq(~bank.bit_select(slot, 1))

        def slot_value(values, slot):
            out = Signal.like(values[0])
            with m.Switch(slot):
                for k, v in enumerate(values):
                    with m.Case(k):
                        m.d.comb += out.eq(v)
            return out

        with m.If(self.start & ~busy):
            # the slots an INFER starts on (a learning core's INFER: `infer_slots` of them; its TRAIN: slot 0, the
            # free phase, the nudged phases taking the slots when it stops)
            first = Mux(self.train, 1, (1 << self.infer_slots) - 1) if learning else (1 << B) - 1
            m.d.sync += [busy.eq(1), self.done.eq(0), self.cycles.eq(0), self.unsettled.eq(0), issuing.eq(0),
                         self.free_steps.eq(0), last.eq(B - 1),
                         active.eq(first), need_drive.eq(first if D else 0), changed.eq(0), bank.eq(0),
                         pending.eq(self.infer_slots), drain.eq(END_DRAIN)]
            if learning:
                m.d.sync += [train.eq(self.train), upc.eq(0), udrain.eq(UPDATE_WRITE - 1)]
            m.d.sync += [s.eq(0) for s in steps] + [w.eq(0) for w in wait] + [sample[k].eq(k) for k in range(B)]
            m.d.sync += [waited.eq(-1), stepped.eq(0)]
        with m.Elif(busy):
            # a stopped sample: its steps kept, its slot given the next sample waiting (at most one slot a cycle
            # is ready: their units' last issues differ) or idle
            def refill(k):     # slot k takes the next sample waiting, if any
                with m.If(pending < N):
                    m.d.sync += [sample[k].eq(pending), pending.eq(pending + 1), steps[k].eq(0), stepped[k].eq(0),
                                 need_drive.bit_select(k, 1).eq(1 if D else 0), bank.bit_select(k, 1).eq(0)]
                with m.Else():
                    m.d.sync += active.bit_select(k, 1).eq(0)

            def take(k, s_):     # slot k takes a nudged phase, sample s_, from the free phase's states
                m.d.sync += [sample[k].eq(s_), steps[k].eq(0), stepped[k].eq(0), need_drive.bit_select(k, 1).eq(0),
                             bank.bit_select(k, 1).eq(0), active.bit_select(k, 1).eq(1)]

            for k in range(B):
                with m.If(finished[k]):
                    with m.Switch(sample[k]):
                        for s_ in range(NS):
                            with m.Case(s_):
                                m.d.sync += steps_out[s_].eq(steps[k])
                    with m.If(changed[k]):     # it stopped at its step limit, its last step still moving
                        m.d.sync += self.unsettled.eq(1)
                    free_phase = ~(train & (sample[k] != 0)) if learning else 1
                    with m.If(free_phase & (steps[k] > self.free_steps)):    # the most free steps a sample took
                        m.d.sync += self.free_steps.eq(steps[k])
                    if learning:
                        with m.If(train & (sample[k] == 0)):     # the free phase: on to the nudged phases
                            m.d.sync += fbank.eq(bank[k])
                            for j in range(self.nudged):
                                take(j, 1 + j)
                        with m.Elif(train):
                            m.d.sync += active.bit_select(k, 1).eq(0)
                            with m.If(sample[k] == 1):
                                m.d.sync += pbank.eq(bank[k])
                            with m.Else():
                                m.d.sync += nbank.eq(bank[k])
                        with m.Else():
                            refill(k)
                    else:
                        refill(k)
            with m.If(issuing):
                m.d.comb += [pick_valid.eq(1), pick_slot.eq(cur), pick_zero.eq(u_zero), pick_src.eq(u_src),
                             pick_bank.eq(slot_value([bank[k] for k in range(B)], cur)),
                             pick_sample.eq(slot_value(sample, cur))]
                m.d.sync += pc.eq(pc + 1)
                with m.If(pc == end):
                    m.d.sync += issuing.eq(0)
                    with m.Switch(cur):
                        for k in range(B):
                            with m.Case(k):
                                with m.If(u_drive):
                                    unit_end(k, True)
                                with m.Else():
                                    unit_end(k, False)
            if learning:
                with m.Elif(~active.any() & train):
                    # a TRAIN command's phases have stopped: the update, a tile row a cycle, then its last write
                    with m.If(upc != U):
                        m.d.comb += u_valid.eq(1)
                        m.d.sync += upc.eq(upc + 1)
                    with m.Elif(udrain == 0):
                        m.d.sync += [busy.eq(0), self.done.eq(1)]
                    with m.Else():
                        m.d.sync += udrain.eq(udrain - 1)
            with m.Elif(~active.any()):
                # every sample has stopped: the last argmax settles, then DONE
                with m.If(drain == 0):
                    m.d.sync += [busy.eq(0), self.done.eq(1)]
                with m.Else():
                    m.d.sync += drain.eq(drain - 1)
            with m.Elif(pre_valid):
                m.d.comb += picked.eq(1)
                m.d.sync += last.eq(pre_slot)
                with m.Switch(pre_slot):
                    for k in range(B):
                        with m.Case(k):
                            drive = need_drive[k]
                            # a sample's first step reads zero states; a nudged phase's, the free phase's last
                            nudged = train & (sample[k] != 0) if learning else 0
                            zero = ~drive & (steps[k] == 0) & ~nudged
                            src = ~drive & (steps[k] == 0) & nudged
                            m.d.comb += [pick_valid.eq(1), pick_slot.eq(k), pick_bank.eq(bank[k]),
                                         pick_sample.eq(sample[k]), pick_zero.eq(zero), pick_src.eq(src),
                                         pick_first.eq(1), pick_drive.eq(drive)]
                            m.d.sync += [cur.eq(k), u_drive.eq(drive), u_zero.eq(zero), u_src.eq(src)]
                            with m.If(drive):
                                m.d.sync += need_drive.bit_select(k, 1).eq(0)
                                if D > 1:
                                    m.d.sync += [issuing.eq(1), pc.eq(1), end.eq(D - 1)]
                                else:
                                    unit_end(k, True)
                            with m.Else():
                                m.d.sync += [steps[k].eq(steps[k] + 1), changed.bit_select(k, 1).eq(0),
                                             stepped[k].eq(1)]
                                if S > 1:
                                    m.d.sync += [issuing.eq(1), pc.eq(D + 1), end.eq(D + S - 1)]
                                else:
                                    unit_end(k, False)

        # ------------------------------------------------------------------------------------------
        # the record: the program's op out of the ROM, with the sample's tag; rec[k] k cycles after the pick

        op_layout = self.op_layout
        rom = Memory(shape=unsigned(op_layout.size), depth=len(self.program),
                     init=[_pack(op_layout, op) for op in self.program])
        m.submodules.program = rom
        rom_rd = rom.read_port(domain="sync")
        # The ROM is addressed by the program counter register alone: a unit's first issue (a pick) takes its
        # op from two constants instead, so that the pick's logic ends at registers, not in the ROM's address.
        m.d.comb += rom_rd.addr.eq(pc)
        first_d, drive_d = delay(m, pick_first, name="first"), delay(m, pick_drive, name="first_drive")
        first_op = Mux(drive_d, _pack(op_layout, self.program[0]), _pack(op_layout, self.program[D]))
        rec_layout = data.StructLayout({"valid": 1, "slot": range(B), "sample": range(NS), "bank": 1, "zero": 1,
                                        "src": 1, "op": op_layout})
        rec1 = Signal(rec_layout, name="rec1")
        tag1 = delay(m, Cat(pick_valid, pick_slot, pick_sample, pick_bank, pick_zero, pick_src), name="tag")
        m.d.comb += [rec1.as_value()[:len(tag1)].eq(tag1), rec1.op.eq(Mux(first_d, first_op, rom_rd.data))]
        rec = [None, rec1]
        for k in range(2, pos_["best"] + 1):
            rec.append(delay(m, rec[-1], name=f"rec{k}"))

        # ------------------------------------------------------------------------------------------
        # the memories

        def add(name, mdata, attrs=None):
            m.submodules[name] = mem = Memory(data=mdata, attrs=attrs)
            return mem

        host, bias = self.host, []
        staging = Signal(-(-self._staging_bits() // 32) * 32)
        with m.If(host.we & ~host.commit & ~busy):
            m.d.sync += staging.word_select(host.lane, 32).eq(host.wdata)

        writes = {}     # a learning core's update writes the weight, bias and shadow memories through these ports

        def host_port(mem, sel, granularity=None):
            """The host's write port of a memory: the staging row, while idle (every lane)."""
            writes[sel] = port = mem.write_port(granularity=granularity)
            m.d.comb += [port.addr.eq(host.addr), port.data.eq(staging[:len(port.data)])]
            with m.If(host.we & host.commit & ~busy & (host.sel == sel)):
                m.d.comb += port.en.eq((1 << len(port.en)) - 1)
            return mem

        # a learning core writes the weights a tile row at a time (the update's row of SIMD weights)
        w_rd = host_port(add("weight", self.weight_mem, BLOCK_RAM), 0,
                         self.simd * cfg.weight_bits if learning else None).read_port(domain="sync")
        for l in range(L):
            bias.append(host_port(add(f"bias{l}", self.bias_mem[l]), 1 + l).read_port(domain="sync"))
        inp = host_port(add("input", self.input_mem), 1 + L).read_port(domain="sync")
        if learning:
            tgt = host_port(add("target", self.target_mem), 2 + L).read_port(domain="sync")
            shd = host_port(add("shadow", self.shadow_mem, BLOCK_RAM), 3 + L).read_port(domain="sync")
        st_a, st_b, st_w = [inp], [None], [None]
        for k in range(1, L + 1):
            mem = add(f"state{k}", self.state_mem[k])
            st_a.append(mem.read_port(domain="sync"))
            st_b.append(mem.read_port(domain="sync"))
            st_w.append(mem.write_port())
        if plan.cache_drive:
            dmem = add("drive", self.drive_mem)
            dr_rd, dr_wr = dmem.read_port(domain="sync"), dmem.write_port()

        def address(k, slot, bank_, block):
            bits = self.block_bits[k]
            return Cat(block[:bits] if bits else Const(0, 0), bank_, slot) if k else Cat(block[:bits], slot)

        def raw(port, name):
            """A memory's read data, registered as it leaves the memory (no logic between)."""
            return delay(m, port.data, name=name, reset_less=True)

        def source(r):
            """The sample and bank a step reads: a nudged phase's first step reads the free phase's last states."""
            if not learning:
                return r.sample, r.bank
            return Mux(r.src, 0, r.sample), Mux(r.src, fbank, r.bank)

        def one_input(sample_):     # a TRAIN's phases all relax its first sample's input (and drive)
            bits = ceil_log2(N)
            return (Mux(train, 0, sample_) if learning else sample_)[:bits]

        # the tile's operands: weight word and state word, addressed at FETCH_LATENCY, their raw read data
        # registered, then selected and registered (READ_LATENCY)
        assert READ_LATENCY == 3
        r1, r2 = rec[FETCH_LATENCY], rec[FETCH_LATENCY + 2]
        m.d.comb += w_rd.addr.eq(r1.op.word)
        m.d.comb += inp.addr.eq(Cat(r1.op.sword[:self.block_bits[0]], one_input(r1.sample)))
        for k in range(1, L + 1):
            m.d.comb += st_a[k].addr.eq(address(k, *source(r1), r1.op.sword))
        w_sel = Signal(self.pe * self.simd * cfg.weight_bits)
        s_sel = Signal(v * sb)
        m.d.comb += w_sel.eq(raw(w_rd, "w_raw"))
        s_raw = [raw(inp, "s_raw0")] + [raw(st_a[k], f"s_raw{k}") for k in range(1, L + 1)]
        with m.Switch(r2.op.sk):     # zero states on a sample's first step, and for an empty tile (any weights)
            for k in range(L + 1):
                with m.Case(k):
                    m.d.comb += s_sel.eq(Mux(r2.op.empty | (r2.zero if k else 0), 0, s_raw[k]))
        w_data = delay(m, w_sel, name="w_data", reset_less=True)      # data: no reset (the record has one)
        s_data = delay(m, s_sel, name="s_data", reset_less=True)

        m.submodules.tile = tile = TileMac(cfg=cfg, pe=self.pe, simd=self.simd, dsp_products=self.dsp_products)
        ri = rec[pos_["tile_in"]]
        m.d.comb += [tile.i.valid.eq(ri.valid), tile.i.payload.weights.eq(w_data),
                     tile.i.payload.states.eq(s_data), tile.i.payload.mode.eq(ri.op.mode),
                     tile.i.payload.first.eq(ri.op.first), tile.i.payload.last.eq(ri.op.last),
                     tile.i.payload.shift.eq(ri.op.shift)]

        # the load word, read late: the bias of the block, or layer 0's stored drive outside the drive pass
        rl, rl2 = rec[pos_["load_read"]], rec[pos_["load_read"] + 2]
        for l in range(L):
            m.d.comb += bias[l].addr.eq(rl.op.block)
        if plan.cache_drive:
            m.d.comb += dr_rd.addr.eq(Cat(rl.op.block[:self.block_bits[1]], one_input(rl.sample)))
        load_sel = Signal(data.ArrayLayout(tile.load.shape().elem_shape, v))
        bias_raw = [raw(bias[l], f"bias_raw{l}") for l in range(L)]
        drive_raw = raw(dr_rd, "drive_raw") if plan.cache_drive else None
        with m.Switch(rl2.op.bl):
            for l in range(L):
                with m.Case(l):
                    size = plan.block_size(l + 1)
                    for i, b in enumerate(lanes(bias_raw[l], cfg.bias_bits, size, signed=True)):
                        m.d.comb += load_sel[i].eq(b)
                    if l == 0 and plan.cache_drive:
                        with m.If(~rl2.op.drive):
                            for i, d in enumerate(lanes(drive_raw, cfg.acc_bits, self.pe, signed=True)):
                                m.d.comb += load_sel[i].eq(d)
        m.d.comb += tile.load.eq(delay(m, load_sel, name="load_word", reset_less=True))

        # a FINISH's old states, read late from the bank the step reads (zero in a sample's first step)
        ro, ro2 = rec[pos_["old_read"]], rec[pos_["old_read"] + 2]
        for k in range(1, L + 1):
            m.d.comb += st_b[k].addr.eq(address(k, *source(ro), ro.op.block))
        old_sel = Signal(v * sb)
        old_raw = [None] + [raw(st_b[k], f"old_raw{k}") for k in range(1, L + 1)]
        with m.Switch(ro2.op.bl):
            for l in range(L):
                with m.Case(l):
                    m.d.comb += old_sel.eq(Mux(ro2.zero, 0, old_raw[l + 1]))
        s_old = delay(m, old_sel, name="s_old", reset_less=True)

        # the block's sums: to the drive memory (the drive pass), or through the neuron lanes
        rout = rec[pos_["out"]]
        if plan.cache_drive:
            with m.If(tile.o.valid & rout.op.drive):
                m.d.comb += [dr_wr.addr.eq(Cat(rout.op.block[:self.block_bits[1]], one_input(rout.sample))),
                             dr_wr.data.eq(Cat(*(tile.o.payload.acc[i] for i in range(self.pe)))), dr_wr.en.eq(1)]
        m.submodules.neuron = neuron = NeuronLanes(cfg=cfg.replace(mac_lanes=v, acc_bits=cfg.acc_bits,
                                                                   weight_frac=cfg.weight_frac))
        m.d.comb += [neuron.layer.eq(rout.op.bl), neuron.acc.eq(tile.o.payload.acc), neuron.s_old.eq(s_old)]
        if learning:
            # the nudge of the phase (sample 1: +beta, sample 2: -beta), with the target's block, read as the old
            # states are (the neuron lanes add it on the output layer only)
            m.d.comb += tgt.addr.eq(ro.op.block)
            m.d.comb += [neuron.nudge.eq(Mux(~train, 0, Mux(rout.sample == 1, 1, Mux(rout.sample == 2, -1, 0)))),
                         neuron.target.eq(delay(m, raw(tgt, "target_raw"), name="target_word", reset_less=True))]

        rw = rec[pos_["write"]]
        finish = rw.valid & rw.op.last & ~rw.op.drive
        rows = []     # per layer and block: the neurons in it
        for l in range(L):
            size = plan.block_size(l + 1)
            rows.append([min(size, n[l + 1] - a * size) for a in range(plan.blocks(l + 1))])
        mask_next, rw0 = Signal(v), rec[pos_["write"] - 1]     # decoded a cycle early, registered
        with m.Switch(Cat(rw0.op.block, rw0.op.bl)):
            for l in range(L):
                for a, r in enumerate(rows[l]):
                    with m.Case(a | (l << len(rw0.op.block))):
                        m.d.comb += mask_next.eq((1 << r) - 1)
        mask = delay(m, mask_next, name="mask")
        s_new = Signal(v * sb)
        m.d.comb += s_new.eq(Cat(*(Mux(mask[i], neuron.s_new.word_select(i, sb), 0) for i in range(v))))
        for k in range(1, L + 1):
            size = plan.block_size(k)
            with m.If(finish & (rw.op.bl == k - 1)):
                m.d.comb += [st_w[k].addr.eq(address(k, rw.sample, ~rw.bank, rw.op.block)),
                             st_w[k].data.eq(s_new[:size * sb]), st_w[k].en.eq(1)]
        with m.If(finish & (neuron.changed & mask).any()):
            with m.Switch(rw.slot):
                for k in range(B):
                    with m.Case(k):
                        m.d.sync += changed.bit_select(k, 1).eq(1)

        # argmax of each sample's output layer: the block's winner, then against the sample's best so far
        n_out = plan.block_size(L)      # the output layer's block: its lanes are the only ones the argmax sees
        inner = argmax_levels(n_out)
        tree = max(1, len(inner))
        win_ok = delay(m, finish & (rw.op.bl == L - 1), tree + 1, name="win_ok")
        win_first = delay(m, rw.op.block == 0, tree + 1, name="win_first")
        win_sample = delay(m, rw.sample, tree + 1, name="win_sample")
        # the block's first lane index, from a table (a product with the block size would be a multiplier,
        # which synthesis maps to a DSP block)
        bases = Array(Const(b * plan.block_size(L), range(n[-1] + plan.block_size(L))) for b in range(plan.blocks(L)))
        win_base = delay(m, bases[rw.op.block], tree, name="win_base")
        ok_t, val_t, lane_t = tournament(m, [mask[i] for i in range(n_out)], lanes(s_new, sb, n_out, signed=False), sb,
                                         registered=inner)
        _, win_val, win_lane = (delay(m, x, tree - len(inner), name=f"win_{i}") for i, x in
                                enumerate((ok_t, val_t, lane_t)))
        win_val_r = delay(m, win_val, name="win_val")
        best_idx = [Signal(range(n[-1]), name=f"best_idx{k}") for k in range(N)]
        best_val = [Signal(sb, name=f"best_val{k}") for k in range(N)]
        win_idx_r = delay(m, (win_base + win_lane)[:len(best_idx[0])], name="win_idx")
        if learning:     # a TRAIN's result is its free phase's (sample 0), not a nudged phase's
            win_ok = win_ok & ~(train & (win_sample != 0))
        with m.Switch(win_sample):
            for k in range(N):
                with m.Case(k):
                    with m.If(win_ok & (win_first | (win_val_r > best_val[k]))):
                        m.d.sync += [best_val[k].eq(win_val_r), best_idx[k].eq(win_idx_r)]
        m.d.comb += self.results.eq(Cat(*best_idx))
        assert pos_["best"] == pos_["write"] + tree + 2
        if learning:
            names = ("upc", "u_valid", "address", "raw", "writes", "active", "train", "fbank", "pbank", "nbank", "shd",
                     "st_a", "st_b", "inp", "s_raw", "old_raw", "bias", "bias_raw")
            here = locals()
            self._update(m, {k: here[k] for k in names})

        # RESET (``clear``, while idle): DONE, CYCLES, the steps and UNSETTLED cleared (the states are left; the bus
        # reads them as zero until the next command)
        with m.If(self.clear & ~busy):
            m.d.sync += [self.done.eq(0), self.cycles.eq(0), self.unsettled.eq(0), self.free_steps.eq(0)]
            m.d.sync += [s.eq(0) for s in steps_out]

        # the host's row reads and element writes, while idle (last: its read addresses override the datapath's and
        # the update's, idle then): ``load`` puts row ``addr`` of memory ``sel`` into the staging row (its read port
        # addressed in this cycle, the staging row written two cycles later); ``patch`` replaces element ``elem``
        # of the staging row with ``wdata``; ``rdata`` is element ``elem`` of the staging row, sign-extended for a
        # signed memory
        # (the row is taken from the read data registered as it leaves the memory, as the datapath takes it: the
        # same registers, merged by synthesis; a block RAM's read data into the staging row's select was the
        # critical path of a learning core behind the bus)
        readers = [w_rd, *bias, inp] + ([tgt, shd] if learning else []) + st_a[1:]
        registered = [raw(port, f"host_raw{i}") for i, port in enumerate(readers)]
        load_go, load_sel = delay(m, host.load & ~busy, 2, name="load_go"), delay(m, host.sel, 2, name="load_sel")
        with m.If(host.load & ~busy):
            with m.Switch(host.sel):
                for sel_, port in enumerate(readers):
                    with m.Case(sel_):
                        m.d.comb += port.addr.eq(host.addr)
        with m.If(load_go):
            with m.Switch(load_sel):
                for sel_, data_ in enumerate(registered):
                    with m.Case(sel_):
                        m.d.sync += staging.eq(data_)
        with m.Switch(host.sel):
            for sel_, bits in self.lane_bits.items():
                with m.Case(sel_):
                    with m.If(host.patch & ~busy):
                        m.d.sync += staging.word_select(host.elem, bits).eq(host.wdata[:bits])
                    element = staging.word_select(host.elem, bits)
                    m.d.comb += host.rdata.eq(element.as_signed() if sel_ in self.signed_sels else element)
        return m

    def _update(self, m: Module, e: dict) -> None:     # e: `elaborate`'s signals, ports and helpers it uses
        """The contrastive update of a TRAIN command (`update_program`): when the phases have stopped, `update_rows`
        tile rows a cycle, each row's SIMD shadow weights updated from the positive and negative phases' states
        (`rtl.update.WeightUpdate`, one a row) and its weights derived again, and with a block's first rows the
        block's biases (`rtl.update.BiasUpdate`), read and written through the memories' ports (no relaxation is
        running)."""
        cfg, plan, pe, simd, v, R = self.cfg, self.plan, self.pe, self.simd, self.v, self.update_rows
        L, sb, NS = cfg.n_layers, cfg.state_bits, self.state_samples
        upc, u_valid, address, writes = e["upc"], e["u_valid"], e["address"], e["writes"]
        st_a, st_b, inp, s_raw, old_raw, bias, bias_raw = (e[k] for k in ("st_a", "st_b", "inp", "s_raw", "old_raw",
                                                                           "bias", "bias_raw"))
        layout = _update_layout(cfg, plan)
        rom = Memory(shape=unsigned(layout.size), depth=len(self.update_program),
                     init=[_pack(layout, op) for op in self.update_program])
        m.submodules.update_program = rom
        rom_rd = rom.read_port(domain="sync")
        m.d.comb += rom_rd.addr.eq(upc)
        # ur[k], uv[k]: the row and its valid flag k cycles after its issue (stage 0)
        ur = {FETCH_LATENCY: Signal(layout, name=f"urow{FETCH_LATENCY}")}
        m.d.sync += ur[FETCH_LATENCY].eq(rom_rd.data)
        for k in range(FETCH_LATENCY + 1, UPDATE_WRITE + 1):
            ur[k] = delay(m, ur[k - 1], name=f"urow{k}")
        uv = {k: delay(m, u_valid, k, name=f"uvalid{k}") for k in (BIAS_WRITE, UPDATE_WRITE)}
        updating = Signal()
        m.d.comb += updating.eq(e["train"] & ~e["active"].any())

        # the states: the positive phase's (sample 1) through each memory's first read port, the negative phase's
        # (sample 2; the one-sided estimator's: the free phase's) through its second; memory l + 1 at block a,
        # memory l at block c
        neg = (Const(2, range(NS)), e["nbank"]) if self.nudged == 2 else (Const(0, range(NS)), e["fbank"])
        u = ur[FETCH_LATENCY]
        with m.If(updating):
            for k in range(1, L + 1):
                block = Mux(u.l == k - 1, u.a, u.c)
                m.d.comb += [st_a[k].addr.eq(address(k, Const(1, range(NS)), e["pbank"], block)),
                             st_b[k].addr.eq(address(k, *neg, block))]
            m.d.comb += inp.addr.eq(u.c[:self.block_bits[0]])
        # stage UPDATE_IN: the operands, registered: the rows' SIMD states of the even layer (of s_l and s_{l+1})
        # and states i .. i + R - 1 of the odd layer's block, each of both phases, and the states of block a of
        # s_{l+1}
        u = ur[UPDATE_IN - 1]
        vec_p, vec_n = Signal(simd * sb), Signal(simd * sb)
        row_p = [Signal(sb, name=f"row_p{r}") for r in range(R)]
        row_n = [Signal(sb, name=f"row_n{r}") for r in range(R)]
        blk_p, blk_n = Signal(v * sb), Signal(v * sb)
        with m.Switch(u.l):
            for l in range(L):
                with m.Case(l):
                    even, odd = (l, l + 1) if l % 2 == 0 else (l + 1, l)
                    m.d.sync += [vec_p.eq(s_raw[even]), vec_n.eq(old_raw[even] if even else s_raw[0]),
                                 blk_p.eq(s_raw[l + 1]), blk_n.eq(old_raw[l + 1])]
                    for r in range(R):     # element i + r of the block
                        m.d.sync += [row_p[r].eq(Array(lanes(s_raw[odd], sb, pe, signed=False))[u.i + r]),
                                     row_n[r].eq(Array(lanes(old_raw[odd], sb, pe, signed=False))[u.i + r])]
        u = ur[UPDATE_IN]
        lr = Signal(LR_SHIFT_BITS)
        with m.Switch(u.l):
            for l in range(L):
                with m.Case(l):
                    m.d.comb += lr.eq(self.lr_shift[l])
        wus = []
        for r in range(R):
            m.submodules[f"weight_update{r}"] = wu = WeightUpdate(cfg=cfg.replace(mac_lanes=simd))
            m.d.comb += [wu.layer.eq(u.l), wu.lr_shift.eq(lr), wu.pos_row.eq(row_p[r]), wu.neg_row.eq(row_n[r]),
                         wu.pos.eq(vec_p), wu.neg.eq(vec_n)]
            wus.append(wu)
        m.submodules.bias_update = bu = BiasUpdate(cfg=cfg.replace(mac_lanes=v))
        m.d.comb += [bu.layer.eq(u.l), bu.lr_shift.eq(lr), bu.pos.eq(blk_p), bu.neg.eq(blk_n)]
        # the shadow rows and the bias block, read late to arrive when the update adds to them
        shd = e["shd"]
        m.d.comb += shd.addr.eq(delay(m, upc, UPDATE_IN + SHADOW_DELAY - 2, name="shadow_addr"))
        shadow_old = e["raw"](shd, "shadow_raw")
        for r, wu in enumerate(wus):
            m.d.comb += wu.shadow.eq(shadow_old.word_select(r, simd * cfg.shadow_bits))
        with m.If(updating):
            for l in range(L):
                m.d.comb += bias[l].addr.eq(ur[UPDATE_IN + BIAS_DELAY - 2].a)
        bias_old = Signal(v * cfg.bias_bits)
        with m.Switch(ur[UPDATE_IN + BIAS_DELAY].l):
            for l in range(L):
                with m.Case(l):
                    m.d.comb += bias_old.eq(bias_raw[l])
        m.d.comb += bu.bias.eq(bias_old)
        # the writes: a block's biases, the row's shadow weights and its weights (one row of the tile word)
        u = ur[BIAS_WRITE]
        for l in range(L):
            with m.If(uv[BIAS_WRITE] & u.bias & (u.l == l)):
                port = writes[1 + l]
                m.d.comb += [port.addr.eq(u.a), port.data.eq(bu.bias_new[:len(port.data)]), port.en.eq(1)]
        u = ur[UPDATE_WRITE]
        row = delay(m, upc, UPDATE_WRITE, name="shadow_row")     # (outside the If: its registers always shift)
        with m.If(uv[UPDATE_WRITE]):
            port = writes[3 + L]
            m.d.comb += [port.addr.eq(row), port.data.eq(Cat(*(wu.shadow_new for wu in wus))), port.en.eq(1)]
            port = writes[0]     # rows i .. i + R - 1 of the tile word
            m.d.comb += [port.addr.eq(u.word), port.data.eq(Cat(*[wu.weight_new for wu in wus] * (pe // R))),
                         port.en.eq((Const((1 << R) - 1, pe) << u.i)[:pe])]
