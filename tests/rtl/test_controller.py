# amaranth: UnusedElaboratable=no
"""The controller issues exactly what `rtl.schedule.issues` lists, cycle by cycle: the FSM and the cycle
model are generated from the same tables, and this is the check that they agree (the whole core's
CYCLES register against `cycle_model` is checked in test_core)."""

import random

import pytest

from eqprop.hw.formats import Mode
from rtl.controller import Controller, nonzero_offset
from rtl.schedule import Issue, Phase, command_cycles, command_phases, cycle_model, issues, phase_steps
from tests.rtl._sim import run
from tests.rtl.test_core import CONFIGS


def nonzero(cfg, phase, step, k):
    """A made-up bitmap of the nonzero states of layer k that step `step` of phase `phase` (an index into
    `command_phases`) reads, for the zero-skipping runs: none at the free phase's zero start, else a seeded
    random pattern (sometimes empty, sometimes full)."""
    if phase == 0 and step == 0:
        return 0
    rng = random.Random(1000 * phase + 10 * step + k)
    return rng.choice([0, (1 << cfg.sizes[k]) - 1, rng.getrandbits(cfg.sizes[k]), rng.getrandbits(cfg.sizes[k])])


def rtl_issues(cfg, mode, steps=None, moving=False):
    """Run one command on the controller alone; its record each cycle until DONE, and CYCLES. The
    datapath's ``changed`` strobe is played at each FINISH of a step that must not end its phase, so that
    phase p takes ``steps[p]`` steps (default: every phase to its limit), and, if `moving`, in every
    step (each phase runs to its limit still moving). With zero-skipping, the datapath's ``nonzero``
    bitmaps are `nonzero`'s for the step that runs."""
    dut = Controller(cfg=cfg)
    phases = command_phases(cfg, mode)
    steps = steps or tuple(phase_steps(cfg, ph) for ph in phases)
    got, out = [], {}

    async def tb(ctx):
        ctx.set(dut.mode, mode)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        done_in_phase = 0
        for _ in range(cycle_model(cfg)["train"] + 10):
            pl = dut.issue.payload
            kind = Issue(ctx.get(pl.issue))
            assert ctx.get(dut.issue.valid) == (kind != Issue.NONE)
            got.append((kind, ctx.get(pl.layer), ctx.get(pl.block)))
            want = steps[phases.index(Phase(ctx.get(dut.phase)))]
            if cfg.zero_skip:
                ph = phases.index(Phase(ctx.get(dut.phase)))
                ctx.set(dut.nonzero, sum(nonzero(cfg, ph, done_in_phase, k) << nonzero_offset(cfg, k)
                                         for k in range(2, cfg.n_layers + 1)))
            ctx.set(dut.changed, kind == Issue.FINISH and (done_in_phase + 1 < want or moving))
            await ctx.tick()
            if ctx.get(dut.step_done):
                done_in_phase += 1
                if done_in_phase == steps[phases.index(Phase(ctx.get(dut.phase)))]:
                    done_in_phase = 0
            if ctx.get(dut.done):
                break
        out["cycles"] = ctx.get(dut.cycles)
        out["phase_steps"] = tuple(ctx.get(dut.phase_steps[ph.value]) for ph in phases)
        out["unsettled"] = ctx.get(dut.unsettled)

    run(dut, tb)
    return got, out


def comparable(trace):
    """What the schedule defines: the issue; its layer; its block, except in the set-up and drain
    cycles and the weight words of the update."""
    return [(kind, layer if kind != Issue.NONE else None,
             block if kind not in (Issue.NONE, Issue.UPD_WEIGHT) else None) for kind, layer, block in trace]


@pytest.mark.parametrize("mode", [Mode.INFER, Mode.TRAIN])
@pytest.mark.parametrize("name", CONFIGS)
def test_controller_issues_the_schedule(name, mode):
    """Every phase to its limit (the strobe at every FINISH; the last step still changes states), and
    with early exit every phase ending early, after a step without the strobe."""
    cfg = CONFIGS[name]
    limits = tuple(phase_steps(cfg, ph) for ph in command_phases(cfg, mode))
    cases = [limits] + ([tuple(max(1, s // 2 + i % 2) for i, s in enumerate(limits))] if cfg.early_exit else [])
    for steps in cases:
        compare(name, cfg, mode, steps, limits)


def compare(name, cfg, mode, steps, limits):
    got, out = rtl_issues(cfg, mode, steps, moving=steps == limits)
    want = list(issues(cfg, mode, steps, lambda ph, t, k: nonzero(cfg, ph, t, k)))
    skips = len(list(issues(cfg, mode, steps))) - len(want)
    assert not skips or cfg.zero_skip
    assert out["cycles"] == len(want) == command_cycles(cfg, mode, steps, skips=skips)
    assert out["phase_steps"] == steps, f"case {name} mode {mode.name}: steps per phase"
    assert out["unsettled"] == (steps == limits), f"case {name}: unsettled"
    got, want = comparable(got), comparable(want)
    for t, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"case {name} mode {mode.name} cycle {t}: expected {w}, actual {g}"
