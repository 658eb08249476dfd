# amaranth: UnusedElaboratable=no
"""`rtl.uart`: the transmitter's line into the receiver, back to back, for every byte value at an odd and an even
divisor; a stop bit held low is a framing error and delivers nothing; a glitch shorter than half a bit is not
a start bit."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from rtl.uart import UartRx, UartTx


@pytest.mark.parametrize("div", [4, 7])
def test_loopback_every_byte(div):
    m = Module()
    m.submodules.tx = tx = UartTx(divisor=div)
    m.submodules.rx = rx = UartRx(divisor=div)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def sink(ctx):
        while True:
            await ctx.tick()
            if ctx.get(rx.data.valid):
                got.append(ctx.get(rx.data.payload))
            assert not ctx.get(rx.error), "framing error on a clean line"

    async def source(ctx):
        for byte in range(256):
            ctx.set(tx.data.payload, byte)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
            ctx.set(tx.data.valid, 0)
            await ctx.tick()
        await ctx.tick().repeat(12 * div)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(source)
    sim.run()
    assert got == list(range(256))


def test_framing_error_and_glitch():
    div = 8
    rx = UartRx(divisor=div)
    seen = {"bytes": [], "errors": 0}

    async def monitor(ctx):
        while True:
            await ctx.tick()
            if ctx.get(rx.data.valid):
                seen["bytes"].append(ctx.get(rx.data.payload))
            seen["errors"] += ctx.get(rx.error)

    async def line(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(20)
        ctx.set(rx.rx, 0)                      # a glitch of 2 cycles: not a start bit
        await ctx.tick().repeat(2)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(40)
        for bit in [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]:   # 0x55 with its stop bit low
            ctx.set(rx.rx, bit)
            await ctx.tick().repeat(div)
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(3 * div)
        for bit in [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]:   # 0x55, well formed
            ctx.set(rx.rx, bit)
            await ctx.tick().repeat(div)
        await ctx.tick().repeat(3 * div)

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(line)
    sim.run()
    assert seen == {"bytes": [0x55], "errors": 1}
