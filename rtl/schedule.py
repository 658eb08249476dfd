"""The schedule of the core, in one place: what a command issues, cycle by cycle (`RELAX_BLOCK`,
`UPDATE_LAYER`, `command_phases`), the bank plan of the states, the pipeline's latencies (`pipeline`),
and the exact cycle model (`cycle_model`). `rtl.controller.Controller` is generated from the same
tables, so the FSM and the model cannot drift apart; `issues` lists every cycle of a command, and a test
checks the controller against it cycle by cycle.

One relaxation step visits the weight layers in order; for each block of P neurons of layer l (state
s_{l+1}) the controller runs `RELAX_BLOCK`, one memory word per cycle::

    Relax-Load-Bias   acc[0..P) <- b_l[block]                                        1 cycle
    Relax-Top-Down    acc[0..P) += W_{l+1}[j, block] * s_{l+2}[j]   for each j       n_{l+2} cycles (l < L-1)
    Relax-Bottom-Up   acc[i]    += W_l[r, word] . s_l[word]         for each r, word rows x ceil(n_l / P)
    Relax-Finish      s_{l+1}[block] <- mix(s, rho(acc + nudge))                     1 cycle

and the pipeline's drain ends the step (`pipeline`: the operations issued so far reach the state
memories and the argmax). With ``cfg.cache_drive`` the input layer's drive W_0 x + b_0 is computed once,
before the first phase, by `DRIVE_BLOCK` for each block of layer 0 (load the bias, the bottom-up sums,
store the accumulators in the drive memory); the relaxation's Relax-Load-Bias of layer 0 then loads the
stored drive and its Relax-Bottom-Up is empty. With ``cfg.early_exit`` a phase ends after the first step
that changed no state (`phase_steps` is then its limit, the steps a phase may take; `issues` and
`command_cycles` take the steps a command's phases took). With ``cfg.zero_skip`` a block's Relax-Top-Down
issues only the upper states j that are nonzero in the states the step reads (in any sample of the
command): the run's length is their count, and an empty run is skipped; `zero_skips` counts the issues
saved from the golden model's states, which `command_cycles` subtracts.

Every step reads the states of one bank and writes another (the synchronous update of
`eqprop.hw.golden.step`); each state memory holds `BANKS` banks. The free phase
alternates banks 0 and 1, the positive phase starts from the free states and alternates 2 and 3, and
the negative phase alternates the two banks the other phases left free, so the free states survive
for the negative phase and the update reads both nudged states directly. The update runs
`UPDATE_LAYER` for each layer: every bias word (``Update-Bias``), then every weight word once
(``Update-Weights``). Each phase and the update begin with one set-up cycle (`SETUP`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from amaranth.lib import enum

from eqprop.hw.formats import Mode
from eqprop.hw.hwconfig import HwConfig
from rtl.issue import Issue

__all__ = ["BANKS", "DRIVE_BLOCK", "ISSUE_LATENCY", "MEM_LATENCY", "RELAX_BLOCK", "SETUP",
           "UPDATE_LAYER", "Issue", "Phase", "Run", "block_rows", "blocks", "command_cycles", "command_phases",
           "cycle_model", "golden_steps", "inference_cycles", "issues", "phase_name", "phase_steps", "pipeline",
           "step_skips", "training_cycles", "words", "zero_skips"]

BANKS = 4   # state banks per layer: two for each phase's ping-pong, so the free states survive the nudges
ISSUE_LATENCY = 1    # the control record is registered as it leaves the controller: every address comes from a register
MEM_LATENCY = 2      # address to registered read data: the synchronous read, then the select and a register


class Phase(enum.Enum, shape=2):
    """The phase a relaxation step belongs to (also the core's ``phase`` port, for testbenches)."""

    FREE = 0
    PLUS = 1     # nudged at +beta (the one nudged phase of the one-sided estimator)
    MINUS = 2    # nudged at -beta (symmetric estimator)




SETUP = 1   # the set-up cycle of each phase and of the update


def blocks(cfg: HwConfig, l: int) -> int:
    """Neuron blocks of weight layer l: ceil(n_{l+1} / P)."""
    return -(-cfg.sizes[l + 1] // cfg.mac_lanes)


def words(cfg: HwConfig, k: int) -> int:
    """Memory words of state k (and of one row of weight layer k): ceil(n_k / P)."""
    return -(-cfg.sizes[k] // cfg.mac_lanes)


def block_rows(cfg: HwConfig, l: int) -> list[int]:
    """Neurons in each block of weight layer l: P, and fewer in the last block when P does not divide
    n_{l+1}."""
    p, n = cfg.mac_lanes, cfg.sizes[l + 1]
    return [min(p, n - b * p) for b in range(blocks(cfg, l))]


@dataclass(frozen=True)
class Run:
    """`count` consecutive issues of one kind, one per cycle: one state of the controller's FSM.

    ``count(cfg, l, rows)`` is the length of the run in weight layer l, in a block of ``rows`` neurons
    (`block_rows`; runs of the update ignore it). A run of length 0 is skipped.
    """

    state: str
    issue: Issue
    count: Callable[[HwConfig, int, int], int]


# One block of a relaxation step, in order (see the module's docstring).
RELAX_BLOCK: tuple[Run, ...] = (
    Run("Relax-Load-Bias", Issue.LOAD, lambda cfg, l, rows: 1),
    Run("Relax-Top-Down", Issue.TOP_DOWN, lambda cfg, l, rows: cfg.sizes[l + 2] if l + 1 < cfg.n_layers else 0),
    Run("Relax-Bottom-Up", Issue.BOTTOM_UP,
        lambda cfg, l, rows: 0 if l == 0 and cfg.cache_drive else rows * words(cfg, l)),
    Run("Relax-Finish", Issue.FINISH, lambda cfg, l, rows: 1),
)

# One block of the drive pass (layer 0 only, with cfg.cache_drive), in order.
DRIVE_BLOCK: tuple[Run, ...] = (
    Run("Drive-Load-Bias", Issue.LOAD, lambda cfg, l, rows: 1),
    Run("Drive-Bottom-Up", Issue.BOTTOM_UP, lambda cfg, l, rows: rows * words(cfg, l)),
    Run("Drive-Store", Issue.STORE, lambda cfg, l, rows: 1),
)

# One layer of the update, in order: every bias word, then every weight word once.
UPDATE_LAYER: tuple[Run, ...] = (
    Run("Update-Bias", Issue.UPD_BIAS, lambda cfg, l, rows: blocks(cfg, l)),
    Run("Update-Weights", Issue.UPD_WEIGHT, lambda cfg, l, rows: cfg.sizes[l + 1] * words(cfg, l)),
)


def command_phases(cfg: HwConfig, mode: Mode) -> tuple[Phase, ...]:
    """The relaxation phases a command runs, in order; TRAIN then runs the update."""
    if mode == Mode.TRAIN:
        return (Phase.FREE, Phase.PLUS, Phase.MINUS) if cfg.estimator == "symmetric" else (Phase.FREE, Phase.PLUS)
    return (Phase.FREE,)


def phase_name(cfg: HwConfig, phase: Phase) -> str:
    """The golden model's name of a phase (`eqprop.hw.golden.run_phases`): "free", "plus", "minus", or
    "nudged" for the one nudged phase of the one-sided estimator."""
    if phase == Phase.PLUS and cfg.estimator != "symmetric":
        return "nudged"
    return {Phase.FREE: "free", Phase.PLUS: "plus", Phase.MINUS: "minus"}[phase]


def golden_steps(cfg: HwConfig, mode: Mode, steps: dict) -> tuple[int, ...]:
    """The steps of each phase of `mode` (`command_phases` order) from the golden model's per-phase steps
    of one sample (`eqprop.hw.golden.Trace.steps` or `Settled.steps`, keyed by `phase_name`)."""
    return tuple(int(np.ravel(steps[phase_name(cfg, ph)])[0]) for ph in command_phases(cfg, mode))


def phase_steps(cfg: HwConfig, phase: Phase) -> int:
    """The step limit of a phase: T free, K nudged (with early exit, the most it takes)."""
    return cfg.free_steps if phase == Phase.FREE else cfg.nudge_steps


def _taken(cfg: HwConfig, mode: Mode, steps) -> tuple[int, ...]:
    """The steps each phase of `mode` took: `steps` (one per phase of `command_phases`), or the limits."""
    phases = command_phases(cfg, mode)
    if steps is None:
        return tuple(phase_steps(cfg, ph) for ph in phases)
    steps = tuple(int(s) for s in steps)
    if len(steps) != len(phases) or not all(1 <= s <= phase_steps(cfg, ph)
                                            for s, ph in zip(steps, phases, strict=True)):
        raise ValueError(f"steps must give 1 .. the limit for each phase of {Mode(mode).name} "
                         f"({', '.join(ph.name for ph in phases)}), not {steps!r}")
    return steps


def issues(cfg: HwConfig, mode: Mode, steps=None, nonzero=None) -> Iterator[tuple[Issue, int, int]]:
    """Every clock cycle of a command from the cycle after START to the cycle that sets DONE, as
    ``(issue, layer, block)``: `Issue.NONE` (layer and block 0) in the set-up and drain cycles. `steps`:
    the steps each phase took (`command_phases` order; default their limits). With ``cfg.zero_skip``,
    ``nonzero(phase_index, step, k)`` is the bitmap (an int, bit j for state j) of the nonzero states of
    layer k >= 2 that the step reads (default: all of them). Its length is `command_cycles`'s figure; the
    controller issues exactly this sequence (tests/rtl)."""
    pipe = pipeline(cfg)
    if cfg.cache_drive:
        yield from [(Issue.NONE, 0, 0)] * SETUP
        for b, rows in enumerate(block_rows(cfg, 0)):
            for run in DRIVE_BLOCK:
                yield from [(run.issue, 0, b)] * run.count(cfg, 0, rows)
        yield from [(Issue.NONE, 0, 0)] * pipe["drive_drain"]
    for i, taken in enumerate(_taken(cfg, mode, steps)):
        yield from [(Issue.NONE, 0, 0)] * SETUP
        for t in range(taken):
            for l in range(cfg.n_layers):
                for b, rows in enumerate(block_rows(cfg, l)):
                    for run in RELAX_BLOCK:
                        count = run.count(cfg, l, rows)
                        if run.issue == Issue.TOP_DOWN and count and cfg.zero_skip and nonzero is not None:
                            count = int(nonzero(i, t, l + 2)).bit_count()
                        yield from [(run.issue, l, b)] * count
            yield from [(Issue.NONE, 0, 0)] * pipe["step_drain"]
    if mode == Mode.TRAIN:
        yield from [(Issue.NONE, 0, 0)] * SETUP
        for l in range(cfg.n_layers):
            for run in UPDATE_LAYER:
                for i in range(run.count(cfg, l, 0)):
                    yield run.issue, l, i if run.issue == Issue.UPD_BIAS else 0
        yield from [(Issue.NONE, 0, 0)] * pipe["update_drain"]


def pipeline(cfg: HwConfig) -> dict[str, int]:
    """Where each operation is in the pipeline of `rtl.core.Core`, in cycles after the FSM issues it: the
    sum of the latency constants of the stages (`ISSUE_LATENCY`, `MEM_LATENCY`, `rtl.mac.mac_latency`,
    `rtl.neuron.NEURON_LATENCY`, `rtl.argmax.argmax_latency`, `rtl.update.WEIGHT_UPDATE_LATENCY` and
    `BIAS_UPDATE_LATENCY`), which both the core and `cycle_model` use.

    ``mac``: the MAC lanes take the read data; ``neuron``: the neuron lanes take the accumulators;
    ``state_write``: the new states are written; ``best``: the argmax of the block is in the
    best-so-far register; ``weight_write``, ``bias_write``: the update writes; ``step_drain``: cycles
    after a step's last issue before the next step may read its states (and RESULT may be taken);
    ``update_drain``: cycles after the update's last issue before its last write is done; ``drive_drain``:
    cycles after the drive pass's last STORE (written as it reaches ``neuron``) before the first phase's
    set-up, so that no LOAD reads the drive memory before it is written;
    ``load_bias_read``, ``neuron_read``, ``shadow_read``, ``update_bias_read``: when the core reads a
    LOAD's bias, a FINISH's old states and targets, an update's shadow and bias word, so that the word
    arrives, registered, at the stage that uses it.
    """
    from rtl.argmax import argmax_latency
    from rtl.mac import bias_delay, mac_latency
    from rtl.neuron import NEURON_LATENCY
    from rtl.update import BIAS_DELAY, BIAS_UPDATE_LATENCY, SHADOW_DELAY, WEIGHT_UPDATE_LATENCY

    mac = ISSUE_LATENCY + MEM_LATENCY
    neuron = mac + mac_latency(cfg)
    state_write = neuron + NEURON_LATENCY
    best = state_write + argmax_latency(cfg.mac_lanes)
    weight_write, bias_write = mac + WEIGHT_UPDATE_LATENCY, mac + BIAS_UPDATE_LATENCY
    return {"mac": mac, "neuron": neuron, "state_write": state_write, "best": best,
            "weight_write": weight_write, "bias_write": bias_write,
            "step_drain": best, "update_drain": max(weight_write, bias_write),
            # the drive pass: its last store is written (at ``neuron``) before the first LOAD reads it
            "drive_drain": neuron - (mac + bias_delay(cfg) - MEM_LATENCY),
            # late reads: a word a later stage needs is read then, not carried through the stages before
            "load_bias_read": mac + bias_delay(cfg) - MEM_LATENCY, "neuron_read": neuron - MEM_LATENCY,
            "shadow_read": mac + SHADOW_DELAY - MEM_LATENCY, "update_bias_read": mac + BIAS_DELAY - MEM_LATENCY}


def cycle_model(cfg: HwConfig) -> dict[str, int]:
    """Exact clock cycles of the parts of each command of `rtl.core.Core` for `cfg` (P = ``cfg.mac_lanes``):
    the lengths of the runs of `RELAX_BLOCK`, `DRIVE_BLOCK` and `UPDATE_LAYER`, the set-up cycles and the
    drains (`pipeline`), added up.

    Returns ``step`` (one relaxation step), ``drive`` (the drive pass, 0 without ``cache_drive``),
    ``update`` (the update phase), ``infer`` (INFER and RELAX) and ``train`` (TRAIN) when every phase runs
    to its limit (the most a command takes; with early exit see `command_cycles`), and ``mac_bound_step``:
    the MACs of one step over P (`HwConfig.macs_per_cached_step`), the bound that the step approaches.
    """
    pipe = pipeline(cfg)
    L = cfg.n_layers
    step = pipe["step_drain"] + sum(run.count(cfg, l, rows) for l in range(L) for rows in block_rows(cfg, l)
                                    for run in RELAX_BLOCK)
    update = SETUP + sum(run.count(cfg, l, 0) for l in range(L) for run in UPDATE_LAYER) + pipe["update_drain"]
    drive = (SETUP + sum(run.count(cfg, 0, rows) for rows in block_rows(cfg, 0) for run in DRIVE_BLOCK)
             + pipe["drive_drain"]) if cfg.cache_drive else 0
    parts = {"step": step, "update": update, "drive": drive}
    return {**parts, "infer": command_cycles(cfg, Mode.INFER, parts=parts),
            "train": command_cycles(cfg, Mode.TRAIN, parts=parts),
            "mac_bound_step": -(-cfg.macs_per_cached_step() // cfg.mac_lanes)}


def command_cycles(cfg: HwConfig, mode: Mode, steps=None, *, parts=None, skips: int = 0) -> int:
    """Exact clock cycles from START to DONE of a command whose phases took `steps` steps (one per phase
    of `command_phases`, as the golden model's `eqprop.hw.golden.settle` counts them; default: the
    limits): the drive pass, each phase's set-up and steps, and the update of TRAIN, less `skips`, the
    TOP_DOWN issues that zero-skipping saved (`zero_skips`; 0 without ``cfg.zero_skip``). The same
    figure as ``len(list(issues(cfg, mode, steps, nonzero)))``."""
    if not isinstance(skips, int | np.integer) or skips < 0 or (skips and not cfg.zero_skip):
        raise ValueError(f"skips must be a non-negative int, and 0 without zero_skip, not {skips!r}")
    parts = parts or cycle_model(cfg)
    relax = sum(SETUP + s * parts["step"] for s in _taken(cfg, mode, steps))
    return parts["drive"] + relax + (parts["update"] if mode == Mode.TRAIN else 0) - int(skips)


def step_skips(cfg: HwConfig, src: list[np.ndarray]) -> int:
    """The TOP_DOWN issues a step that reads the states `src` (s_1 .. s_L, each (B, n_k): the samples of
    one command) saves with ``cfg.zero_skip``: in each block of each layer l with a top-down run, one per
    state of s_{l+2} that is zero in every sample. 0 without zero-skipping."""
    if not cfg.zero_skip:
        return 0
    return sum(blocks(cfg, l) * int(np.sum(~np.any(np.asarray(src[l + 1]) != 0, axis=0)))
               for l in range(cfg.n_layers - 1))


def zero_skips(cfg: HwConfig, mode: Mode, trace, rows=slice(None), steps=None) -> int:
    """The TOP_DOWN issues zero-skipping saves in a command of `mode` whose samples are the rows `rows` of
    a golden-model `eqprop.hw.golden.Trace` (its ``states`` of every step of each phase), each phase taking
    `steps` (`command_phases` order; default: the steps the trace holds): `step_skips` of the states each
    step starts from (zeros for the free phase's first, the free phase's last states for a nudged phase's
    first, else the step before's). 0 without ``cfg.zero_skip``."""
    if not cfg.zero_skip:
        return 0
    phases = command_phases(cfg, mode)
    names = [phase_name(cfg, ph) for ph in phases]
    steps = steps or tuple(len(trace.states[name]) for name in names)
    free = trace.states["free"][steps[0] - 1]
    total = 0
    for ph, name, taken in zip(phases, names, steps, strict=True):
        traj = trace.states[name]
        start = [np.zeros_like(s) for s in free] if ph == Phase.FREE else free
        for t in range(taken):
            total += step_skips(cfg, [s[rows] for s in (start if t == 0 else traj[t - 1])])
    return total


def inference_cycles(cfg: HwConfig, params, x: np.ndarray) -> np.ndarray:
    """The exact CYCLES of each INFER command over the rows of `x` (codes, (N, n_0)) with `params`, one per
    ``cfg.samples`` rows in order (one per row when B = 1; the last command holds the rest): the golden
    model's steps to the fixed point (`eqprop.hw.golden.settle`, early exit as ``cfg`` says; with B > 1 the
    most of the command's samples, `eqprop.hw.golden.grouped`) through `command_cycles`. The co-simulation
    checks the RTL's CYCLES against the same figure. A tiled configuration: `rtl.tiled_core.command_cycles` of
    the steps of each of the command's samples (a short last command filled with copies of its first row, as the
    co-simulation fills it)."""
    from eqprop.hw import golden

    if cfg.tiled:
        from rtl.tiled_core import infer_cycles

        steps, B = golden.settle(cfg, params, x, steps=cfg.free_steps).steps, cfg.samples
        return np.array([infer_cycles(cfg, steps[c:c + B]) for c in range(0, len(steps), B)], dtype=np.int64)
    parts, trace = cycle_model(cfg), golden.Trace() if cfg.zero_skip else None
    steps, _ = golden.grouped(golden.settle(cfg, params, x, steps=cfg.free_steps, trace=trace), cfg.samples)
    B = cfg.samples
    return np.array([command_cycles(cfg, Mode.INFER, (int(s),), parts=parts,
                                    skips=zero_skips(cfg, Mode.INFER, trace, slice(c * B, (c + 1) * B), (int(s),)))
                     for c, s in enumerate(steps)], dtype=np.int64)


def training_cycles(cfg: HwConfig, params, x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, object]:
    """The exact CYCLES of TRAIN for each sample of an online pass over `x` with target codes `targets`
    from `params` (`eqprop.hw.golden.run_phases` per sample, then its update); returns (cycles per sample,
    the parameters after the pass). A tiled configuration: `rtl.tiled_core.train_cycles` of each phase's steps."""
    from eqprop.hw import golden

    parts, out = None if cfg.tiled else cycle_model(cfg), []
    for i in range(len(x)):
        trace = golden.Trace() if cfg.zero_skip else None
        phases = golden.run_phases(cfg, params, x[i:i + 1], targets[i:i + 1], trace=trace)
        taken = golden_steps(cfg, Mode.TRAIN, {k: v.steps for k, v in phases.items()})
        if cfg.tiled:
            from rtl.tiled_core import train_cycles

            out.append(train_cycles(cfg, cfg.pe, cfg.simd, *taken))
        else:
            out.append(command_cycles(cfg, Mode.TRAIN, taken, parts=parts,
                                      skips=zero_skips(cfg, Mode.TRAIN, trace, steps=taken)))
        params, _ = golden.contrast_update(cfg, params, np.asarray(x[i:i + 1], dtype=np.int64),
                                           *golden.contrasted(cfg, phases))
    return np.array(out, dtype=np.int64), params


def cycle_table(cfg: HwConfig, lanes=(1, 4, 8, 16)) -> list[dict]:
    """Per P: cycles per inference and per training step next to the MAC bound, and lane utilisation
    (MAC bound / cycles) of the relaxation; the figures of the issue's benchmark."""
    from dataclasses import replace

    rows = []
    for p in lanes:
        c = replace(cfg, mac_lanes=p)
        model = cycle_model(c)
        bound = model["mac_bound_step"]
        rows.append({"P": p, "step": model["step"], "mac_bound_step": bound, "infer": model["infer"],
                     "infer_bound": c.free_steps * bound, "train": model["train"], "update": model["update"],
                     "utilisation": bound / model["step"]})
    return rows
