"""Pipeline registers: the one way the datapath delays a value by whole cycles.

Every pipelined block (`rtl.mac`, `rtl.neuron`, `rtl.update`) and the core's control record use
`delay`, and each block states its latency as a named constant that `rtl.schedule.cycle_model` adds
up, so the cycle model and the registers cannot disagree.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

__all__ = ["delay"]


def delay(m: Module, value, count: int = 1, *, name: str) -> Value:
    """`value` `count` cycles later: a chain of `count` registers in `m`'s ``sync`` domain (none for 0)."""
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, not {count!r}")
    if not hasattr(value, "shape"):       # an int; a Signal or a View keeps its shape or layout
        value = Value.cast(value)
    shape = value.shape()
    for k in range(count):
        reg = Signal(shape, name=f"{name}_d{k + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
