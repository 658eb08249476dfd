"""Pipeline registers: the one way the datapath delays a value by whole cycles; and `per_layer`, the
constant of the layer a record belongs to.

Every pipelined block (`rtl.mac`, `rtl.neuron`, `rtl.update`) and the core's control record use
`delay`, and each block states its latency as a named constant that `rtl.schedule.cycle_model` adds
up, so the cycle model and the registers cannot disagree.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed, unsigned

__all__ = ["delay", "per_layer"]


def delay(m: Module, value, count: int = 1, *, name: str, reset_less: bool = False) -> Value:
    """`value` `count` cycles later: a chain of `count` registers in `m`'s ``sync`` domain (none for 0).
    `reset_less` registers keep their value through a reset (a data path whose valid bit travels beside it
    in a register that has one: no reset fan-out to route to every data bit)."""
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative int, not {count!r}")
    if not hasattr(value, "shape"):       # an int; a Signal or a View keeps its shape or layout
        value = Value.cast(value)
    shape = value.shape()
    for k in range(count):
        reg = Signal(shape, name=f"{name}_d{k + 1}", reset_less=reset_less)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def per_layer(m: Module, values: list[int], sel) -> Signal:
    """``values[sel]``: a constant of the layer `sel` selects (a small mux over the L constants in `m`)."""
    lo, hi = min(min(values), 0), max(max(values), 0)     # (bit lengths: a range of 2**64 values overflows len())
    out = Signal(signed(max(lo.bit_length(), hi.bit_length()) + 1) if lo < 0 else unsigned(max(1, hi.bit_length())))
    with m.Switch(sel):
        for l, v in enumerate(values):
            with m.Case(l):
                m.d.comb += out.eq(v)
    return out
