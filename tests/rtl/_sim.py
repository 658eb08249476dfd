"""Shared simulator helpers for the RTL tests: run one async testbench on a component."""

from __future__ import annotations

from amaranth.sim import Simulator


def run(dut, testbench, *, clock: bool = True) -> None:
    """Simulate `dut` with `testbench` (an ``async def tb(ctx)``), with a clock on ``sync`` if asked."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
