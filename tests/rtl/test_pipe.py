# amaranth: UnusedElaboratable=no
"""`rtl.pipe.delay`: a value `count` cycles later, a record keeping its layout, and bad counts refused;
`rtl.pipe.per_layer`: the constant of the selected layer."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data

from rtl.pipe import delay, per_layer
from tests.rtl._sim import run


def test_delay_is_count_cycles_and_keeps_a_layout():
    m = Module()
    x = Signal(8)
    rec = Signal(data.StructLayout({"a": 3, "b": 5}))
    m.d.comb += [rec.a.eq(x[:3]), rec.b.eq(x[3:])]
    outs = {n: delay(m, x, n, name=f"x{n}") for n in (0, 1, 3)}
    rec2 = delay(m, rec, 2, name="rec")
    assert outs[0] is x and rec2.shape() == rec.shape()
    seen = []

    async def tb(ctx):
        for t in range(8):
            ctx.set(x, 10 + t)
            await ctx.tick()
            seen.append((ctx.get(outs[1]), ctx.get(outs[3]), ctx.get(rec2.a) | ctx.get(rec2.b) << 3))

    run(m, tb)
    # after tick t (t = 0 ..): the 1-cycle copy holds input t, the 3-cycle one input t - 2 (0 before)
    assert [s[0] for s in seen] == [10 + t for t in range(8)]
    assert [s[1] for s in seen] == [0, 0] + [10 + t for t in range(6)]
    assert [s[2] for s in seen] == [0] + [10 + t for t in range(7)]


@pytest.mark.parametrize("count", [-1, 1.5])
def test_bad_count_is_refused(count):
    with pytest.raises(ValueError, match=r"^count must be a non-negative int, not "):
        delay(Module(), Signal(4), count, name="x")


def test_per_layer_selects_the_layers_constant():
    m = Module()
    sel = Signal(2)
    values = [3, -2, 5]
    out = per_layer(m, values, sel)
    seen = []

    async def tb(ctx):
        for layer in range(len(values)):
            ctx.set(sel, layer)
            seen.append(ctx.get(out))

    run(m, tb, clock=False)
    assert seen == values and out.shape().signed


def test_per_layer_holds_wide_constants():
    """A 64-lane mask (2**64 - 1) and negative constants get a shape that holds them."""
    from amaranth.hdl import Module, Signal

    from rtl.pipe import per_layer

    m = Module()
    wide = per_layer(m, [(1 << 64) - 1, 3], Signal(1))
    assert wide.shape().width == 64 and not wide.shape().signed
    neg = per_layer(m, [-5, 7], Signal(1))
    assert neg.shape().signed and neg.shape().width == 4
