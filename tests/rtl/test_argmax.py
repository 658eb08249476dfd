"""`rtl.argmax.tournament` against numpy's first-index argmax, with ties and invalid entries, P = 1 to 9."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal

from rtl.argmax import tournament
from tests.rtl._sim import run

WIDTH = 3   # few values, so ties are common


def ref_argmax(valid, values):
    """(any valid, value, index) of the first maximum among the valid entries."""
    masked = np.where(valid, values, -1)
    if not valid.any():
        return False, None, 0
    i = int(np.argmax(masked))
    return True, int(values[i]), i


def rtl_argmax(cases, count, registered=()):
    """The tree's answer for each case; with a register after a level, one case per cycle and each
    answer a cycle later."""
    m = Module()
    valid = [Signal(name=f"valid{i}") for i in range(count)]
    values = [Signal(WIDTH, name=f"value{i}") for i in range(count)]
    ok, val, idx = tournament(m, valid, values, WIDTH, registered=registered)
    latency = sum(1 for level in registered if level <= (count - 1).bit_length())
    got = []

    async def tb(ctx):
        for v_ok, v_val in cases:
            for i in range(count):
                ctx.set(valid[i], int(v_ok[i]))
                ctx.set(values[i], int(v_val[i]))
            if latency:
                await ctx.tick()     # the register takes this case; its answer shows after the edge
            got.append((bool(ctx.get(ok)), ctx.get(val), ctx.get(idx)))

    run(m, tb, clock=bool(latency))
    return got


@pytest.mark.parametrize("registered", [(), (1,)])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9])
def test_tournament_matches_first_argmax(count, registered):
    rng = np.random.default_rng(count)
    cases = [(rng.random(count) < 0.8, rng.integers(0, 1 << WIDTH, count)) for _ in range(300)]
    cases.append((np.ones(count, bool), np.full(count, 5)))          # all tied: index 0
    cases.append((np.arange(count) > 0, np.full(count, 7)))          # lane 0 invalid: index 1 (or none)
    for n, (got, (v_ok, v_val)) in enumerate(zip(rtl_argmax(cases, count, registered), cases, strict=True)):
        want = ref_argmax(v_ok, v_val)
        if not want[0]:
            assert not got[0], f"case {n}: no valid entry, got {got}"
            continue
        assert got == want, f"case {n}: valid={v_ok.astype(int).tolist()} values={v_val.tolist()}: {got} != {want}"


def test_registers_every_second_comparator_level():
    """At most two comparator levels between registers (the core registers the tree's output), and the
    lane counts up to 8 keep the one register they had (the default core's drain does not change)."""
    from rtl.argmax import argmax_latency, registered_levels

    for lanes in range(1, 65):
        levels = (lanes - 1).bit_length()
        cuts = [0, *registered_levels(lanes), levels]
        assert all(b - a <= 2 for a, b in zip(cuts, cuts[1:], strict=False)), (lanes, cuts)
    assert [registered_levels(p) for p in (2, 4, 8, 16, 64)] == [(), (1,), (1,), (1, 3), (1, 3, 5)]
    assert argmax_latency(8) == 3 and argmax_latency(64) == 5
