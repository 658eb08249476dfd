"""The argmax of the output states: a comparator tree whose ties keep the lowest index, as `numpy.argmax`.

`eqprop.hw.golden.predict` takes ``argmax`` of the output states, which returns the first index of the
maximum. The core finishes P output neurons per block; `tournament` finds the block's winner in
``ceil(log2(P))`` comparator stages (a lower lane wins ties), and the core then compares it, strictly,
with the best of the earlier blocks, which hold lower indices. A scan in index order gives the same answer
but puts P comparators in series on the path from the neuron lanes.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal

__all__ = ["argmax_latency", "registered_levels", "tournament"]


def registered_levels(lanes: int) -> tuple[int, ...]:
    """The comparator levels of a `lanes`-wide tree with a register after them in the core: the first,
    then every second one, but not the last (the core registers the tree's output), so that no more
    than two levels lie between registers."""
    levels = (lanes - 1).bit_length()
    return tuple(k for k in range(1, levels, 2))


def argmax_latency(lanes: int) -> int:
    """Cycles from the new output states to the best-so-far register of the core (`rtl.datapath`): the
    tree's registers (at least one: a tree without inner registers is delayed by one), its output's
    register, and the comparison with the best of the earlier blocks."""
    return max(1, len(registered_levels(lanes))) + 2


def tournament(m: Module, valid, values, width: int, *, name: str = "argmax",
               registered: tuple[int, ...] = ()) -> tuple[Signal, Signal, Signal]:
    """The first maximum among the `valid` entries of `values` (unsigned, `width` bits each).

    Adds the comparator tree to `m` and returns ``(any_valid, value, index)``; `index` is the lowest
    index holding the largest valid value (0 and an undefined value when none is valid). The tree is
    combinational (latency 0), but for a register after each comparator level named in `registered`
    (1 is the first level), so its latency is the number of those levels the tree has.
    """
    count = len(values)

    def node(tag, ok, value, index, sync=False):
        # one signal per node, so that no nested expression is copied into every later stage
        sigs = (Signal(name=f"{name}_ok{tag}"), Signal(width, name=f"{name}_val{tag}"),
                Signal(range(max(count, 1)), name=f"{name}_idx{tag}"))
        domain = m.d.sync if sync else m.d.comb
        domain += [sigs[0].eq(ok), sigs[1].eq(value), sigs[2].eq(index)]
        return sigs

    level = [node(i, valid[i], values[i], i) for i in range(count)]
    depth = 0
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            (a_ok, a_v, a_i), (b_ok, b_v, b_i) = level[k], level[k + 1]
            take_b = b_ok & (~a_ok | (b_v > a_v))      # the higher index must be strictly larger
            nxt.append(node(f"_{depth}_{k}", a_ok | b_ok, Mux(take_b, b_v, a_v), Mux(take_b, b_i, a_i),
                            sync=depth + 1 in registered))
        if len(level) % 2:   # the odd one out waits beside its level's register, if it has one
            last = level[-1]
            nxt.append(node(f"_{depth}_{len(level) - 1}", *last, sync=True) if depth + 1 in registered else last)
        level, depth = nxt, depth + 1
    return level[0]
