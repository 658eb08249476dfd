# amaranth: UnusedElaboratable=no
"""The controller issues exactly what `rtl.schedule.issues` lists, cycle by cycle: the FSM and the cycle
model are generated from the same tables, and this is the check that they agree (the whole core's
CYCLES register against `cycle_model` is checked in test_core)."""

import pytest

from eqprop.hw.formats import Mode
from rtl.controller import Controller
from rtl.schedule import Issue, cycle_model, issues
from tests.rtl._sim import run
from tests.rtl.test_core import CONFIGS


def rtl_issues(cfg, mode):
    """Run one command on the controller alone; its record each cycle until DONE, and CYCLES."""
    dut = Controller(cfg=cfg)
    got, out = [], {}

    async def tb(ctx):
        ctx.set(dut.mode, mode)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(cycle_model(cfg)["train"] + 10):
            pl = dut.issue.payload
            kind = Issue(ctx.get(pl.issue))
            assert ctx.get(dut.issue.valid) == (kind != Issue.NONE)
            got.append((kind, ctx.get(pl.layer), ctx.get(pl.block)))
            await ctx.tick()
            if ctx.get(dut.done):
                break
        out["cycles"] = ctx.get(dut.cycles)

    run(dut, tb)
    return got, out["cycles"]


def comparable(trace):
    """What the schedule defines: the issue; its layer; its block, except in the set-up and drain
    cycles and the weight words of the update."""
    return [(kind, layer if kind != Issue.NONE else None,
             block if kind not in (Issue.NONE, Issue.UPD_WEIGHT) else None) for kind, layer, block in trace]


@pytest.mark.parametrize("mode", [Mode.INFER, Mode.TRAIN])
@pytest.mark.parametrize("name", CONFIGS)
def test_controller_issues_the_schedule(name, mode):
    cfg = CONFIGS[name]
    got, cycles = rtl_issues(cfg, mode)
    want = list(issues(cfg, mode))
    assert cycles == len(want) == cycle_model(cfg)["train" if mode == Mode.TRAIN else "infer"]
    got, want = comparable(got), comparable(want)
    for t, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"case {name} mode {mode.name} cycle {t}: expected {w}, actual {g}"
