"""P multiply-accumulate lanes streaming over fan-in: the ``W s`` and ``W^T s`` sums of `eqprop.hw.golden.step`.

One weight-memory word holds P weights of one row of W_l (`eqprop.hw.formats.memory_layout`), and the
lanes use it in one of two orders, so W and W^T come from the same memory:

- bottom-up (``W_l s_l``): the word times P lower states, summed by an adder tree into the one
  accumulator selected by ``lane`` (one neuron of the block being computed);
- top-down (``W_{l+1}^T s_{l+2}``): the word times one broadcast upper state, into all P accumulators
  (P neurons of the block).

Each product sum is shifted left by the alignment ``A_l - fw`` before it is added, so that the
accumulator holds ``state_bits + A_l`` fraction bits (`HwConfig.acc_align`). Ternary lanes add,
subtract or skip the state; there is no multiplier. The accumulator is `HwConfig.acc_bits` wide,
the worst case over all layers, so no sum can overflow (contract 4 of the design).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes
from rtl.issue import Issue
from rtl.pipe import delay

__all__ = ["MacLanes", "bias_delay", "mac_latency", "max_align_shift"]

TREE_LEVELS_PER_STAGE = 2   # adder-tree levels between two registers


def tree_stages(cfg: HwConfig) -> int:
    """Register stages of the bottom-up adder tree: ceil(log2 P) levels, `TREE_LEVELS_PER_STAGE` per stage
    (one stage when P = 1, which only registers the product)."""
    levels = (cfg.mac_lanes - 1).bit_length()
    return max(1, -(-levels // TREE_LEVELS_PER_STAGE))


def mac_latency(cfg: HwConfig) -> int:
    """Cycles from an operation at the inputs of `MacLanes` to the accumulators that include it: operand
    select, the operands beside the multipliers, product, the product beside the multiplier, the adder
    tree, the alignment shift, the accumulator (each registered)."""
    return 5 + tree_stages(cfg) + 1


def bias_delay(cfg: HwConfig) -> int:
    """Cycles after a LOAD at which `MacLanes` takes its bias word: when the LOAD reaches the accumulators."""
    return mac_latency(cfg) - 1


def max_align_shift(cfg: HwConfig) -> int:
    """The largest alignment shift of any layer, bottom-up or top-down (the ``shift`` port's range)."""
    shifts = [cfg.acc_align(l) - cfg.weight_frac[l] for l in range(cfg.n_layers)]
    shifts += [cfg.acc_align(l) - cfg.weight_frac[l + 1] for l in range(cfg.n_layers - 1)]
    return max(shifts)


class MacLanes(wiring.Component):
    """P MAC lanes and their P accumulators, pipelined: `mac_latency` register stages, one operation per
    cycle, never stalling (``op`` = ``Issue.NONE`` is a bubble).

    Parameters
    ----------
    cfg : HwConfig
        Supplies P (``mac_lanes``), the weight format and widths, ``state_bits`` and ``acc_bits``.

    Members
    -------
    op : Signal(rtl.schedule.Issue), in
        The schedule's issue, the one encoding of it: ``LOAD`` (acc[i] <- load[i]), ``BOTTOM_UP``
        (acc[lane] += (sum_i w[i] * states[i]) << shift), ``TOP_DOWN`` (acc[i] += (w[i] * states[lane])
        << shift, every lane); any other issue holds the accumulators.
    weights : Signal(P * weight_bits), in
        One weight-memory word, lane 0 in the low bits (signed codes).
    states : Signal(P * state_bits), in
        One state-memory word: the P lower states (bottom-up) or the word holding the broadcast upper
        state, lane ``lane`` (top-down).
    lane : Signal(range(P)), in
        The accumulator a bottom-up sum goes into; the broadcast state's lane top-down.
    shift : Signal(range(max_align_shift + 1)), in
        Left shift of this operation's products (``A_l - weight_frac``).
    load : Signal(ArrayLayout(signed(acc_bits), P)), in
        What a LOAD puts in the accumulators: a bias word (each lane sign-extended) or, for layer 0 with
        ``cache_drive``, a stored drive W_0 x + b_0. Presented `bias_delay` cycles after the LOAD, when it
        reaches the accumulators (the core reads the memory late rather than carry the word through every
        stage).
    acc : Signal(ArrayLayout(signed(acc_bits), P)), out
        The accumulators. They include an operation `mac_latency` cycles after it is presented, and
        hold until the next operation reaches them.

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

    Stages: operand select (the top-down broadcast lane) | the operands beside the multipliers | product
    (a multiplier with registered inputs and output, for the DSP blocks) | the product again | adder
    tree (`tree_stages`) | alignment shift | accumulate. The
    operation and its lane travel with the data through the same registers.

    Implements the sums of `eqprop.hw.golden.step` (``matmul_exact(...) << (a - weight_frac)``, plus the bias).
    """

    def __init__(self, *, cfg: HwConfig):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        self.cfg = cfg
        p = cfg.mac_lanes
        super().__init__({
            "op": In(Issue),
            "weights": In(p * cfg.weight_bits),
            "states": In(p * cfg.state_bits),
            "lane": In(range(p)),
            "shift": In(range(max_align_shift(cfg) + 1)),
            "load": In(data.ArrayLayout(signed(cfg.acc_bits), p)),
            "acc": Out(data.ArrayLayout(signed(cfg.acc_bits), p)),
        })

    def _product(self, w, x):
        """w * x for a signed weight code and an unsigned state code; ternary lanes only select."""
        cfg = self.cfg
        if cfg.weight_format == "ternary":
            # codes 0b01 = +1, 0b11 = -1, 0b00 = 0: add, subtract or skip the state
            return Mux(w == 0, 0, Mux(w[-1], -x, x))
        return w * x

    def elaborate(self, platform):
        m = Module()
        cfg, p = self.cfg, self.cfg.mac_lanes
        sb = cfg.state_bits
        prod_shape = signed(cfg.weight_bits + sb + 1)   # |w * s| <= weight_max * state_max
        dot_shape = signed(prod_shape.width + max(0, (p - 1).bit_length()))
        # No sum can overflow, for any weights and inputs (contract 4), asserted on the widths: a product, a
        # dot product of P, its aligned addend, and the accumulator hold their worst cases. The accumulator's:
        # bottom-up + top-down (or nudge) + bias at the largest |code| of each (`HwConfig._acc_worst_case`).
        product_max = (1 if cfg.weight_format == "ternary" else cfg.weight_max) * cfg.state_max
        assert product_max < 2 ** (prod_shape.width - 1) and p * product_max < 2 ** (dot_shape.width - 1)
        assert p * product_max << max_align_shift(cfg) < 2 ** (dot_shape.width + max_align_shift(cfg) - 1)
        assert all(cfg._acc_worst_case(l) < 2 ** (cfg.acc_bits - 1) for l in range(cfg.n_layers)), \
            f"acc_bits {cfg.acc_bits} cannot hold the worst-case sums {cfg.acc_bits_required}"
        ctrl = data.StructLayout({"op": Issue, "lane": range(p), "shift": range(max_align_shift(cfg) + 1)})

        def stage(value, name):
            return delay(m, value, name=name)

        # the control record of each stage, beside the data
        c = [Signal(ctrl, name="ctrl0")]
        m.d.comb += [c[0].op.eq(self.op), c[0].lane.eq(self.lane), c[0].shift.eq(self.shift)]

        def advance():
            c.append(stage(c[-1], f"ctrl{len(c)}"))
            return c[-1]

        # operand select: each lane's state, or the one broadcast state (top-down)
        w = lanes(self.weights, cfg.weight_bits, p, signed=True)
        s = lanes(self.states, sb, p, signed=False)
        bcast = Signal(sb)
        with m.Switch(self.lane):
            for i in range(p):
                with m.Case(i):
                    m.d.comb += bcast.eq(s[i])
        bottom_up = self.op == Issue.BOTTOM_UP
        w1 = [stage(w[i], f"w{i}") for i in range(p)]
        x1 = [stage(Mux(bottom_up, s[i], bcast), f"x{i}") for i in range(p)]
        advance()

        # the operands again, beside the multipliers: the DSP blocks sit in a few rows of the chip, and the
        # route to them should not share a cycle with the multiply
        w1 = [stage(v, f"w{i}_dsp") for i, v in enumerate(w1)]
        x1 = [stage(v, f"x{i}_dsp") for i, v in enumerate(x1)]
        advance()

        # products
        products = []
        for i in range(p):
            prod = Signal(prod_shape, name=f"prod{i}")
            m.d.sync += prod.eq(self._product(w1[i], x1[i]))
            products.append(prod)
        advance()
        # the products again, beside the multipliers, before they travel to the adder tree
        products = [stage(v, f"prod{i}_dsp") for i, v in enumerate(products)]
        advance()

        # adder tree for the bottom-up dot product, TREE_LEVELS_PER_STAGE levels per register; the
        # top-down products go through the same registers beside it
        level, tops = list(products), list(products)
        for t in range(tree_stages(cfg)):
            for _ in range(TREE_LEVELS_PER_STAGE):
                if len(level) > 1:
                    nxt = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
                    level = nxt + ([level[-1]] if len(level) % 2 else [])
            level = [stage(v, f"sum{t}_{i}") for i, v in enumerate(level)]
            tops = [stage(v, f"top{t}_{i}") for i, v in enumerate(tops)]
            advance()
        dot = Signal(dot_shape)
        m.d.comb += dot.eq(level[0])

        # alignment shift of this operation's addend(s)
        cs = c[-1]
        add_shape = signed(dot_shape.width + max_align_shift(cfg))
        addend = [Signal(add_shape, name=f"addend{i}") for i in range(p)]
        with m.If(cs.op == Issue.BOTTOM_UP):
            for i in range(p):
                m.d.sync += addend[i].eq(Mux(cs.lane == i, dot << cs.shift, 0))
        with m.Else():
            for i in range(p):
                m.d.sync += addend[i].eq(tops[i] << cs.shift)
        ca = advance()

        # accumulate
        with m.Switch(ca.op):
            with m.Case(Issue.LOAD):       # late: the load word comes with the LOAD at this stage
                for i in range(p):
                    m.d.sync += self.acc[i].eq(self.load[i])
            with m.Case(Issue.BOTTOM_UP, Issue.TOP_DOWN):
                for i in range(p):
                    m.d.sync += self.acc[i].eq(self.acc[i] + addend[i])
        assert len(c) == mac_latency(cfg), (len(c), mac_latency(cfg))
        return m
