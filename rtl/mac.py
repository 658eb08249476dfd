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

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes
from rtl.schedule import Issue

__all__ = ["MacLanes", "max_align_shift"]


def max_align_shift(cfg: HwConfig) -> int:
    """The largest alignment shift of any layer, bottom-up or top-down (the ``shift`` port's range)."""
    shifts = [cfg.acc_align(l) - cfg.weight_frac[l] for l in range(cfg.n_layers)]
    shifts += [cfg.acc_align(l) - cfg.weight_frac[l + 1] for l in range(cfg.n_layers - 1)]
    return max(shifts)


class MacLanes(wiring.Component):
    """P MAC lanes and their P accumulators.

    Parameters
    ----------
    cfg : HwConfig
        Supplies P (``mac_lanes``), the weight format and widths, ``state_bits``, ``bias_bits`` and
        ``acc_bits``.

    Members
    -------
    op : Signal(rtl.schedule.Issue), in
        The schedule's issue of this cycle, the one encoding of it: ``LOAD`` (acc[i] <- bias[i]),
        ``BOTTOM_UP`` (acc[lane] += (sum_i w[i] * states[i]) << shift), ``TOP_DOWN`` (acc[i] +=
        (w[i] * bcast) << shift, every lane); any other issue holds the accumulators.
    weights : Signal(P * weight_bits), in
        One weight-memory word, lane 0 in the low bits (signed codes).
    states : Signal(P * state_bits), in
        One state-memory word (bottom-up).
    bcast : Signal(state_bits), in
        The broadcast upper state (top-down).
    lane : Signal(range(P)), in
        The accumulator a bottom-up sum goes into.
    shift : Signal(range(max_align_shift + 1)), in
        Left shift of this cycle's products (``A_l - weight_frac``).
    bias : Signal(P * bias_bits), in
        One bias-memory word (LOAD).
    acc : Signal(ArrayLayout(signed(acc_bits), P)), out
        The accumulators, updated one cycle after the operation is presented (latency 1).

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

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
            "bcast": In(cfg.state_bits),
            "lane": In(range(p)),
            "shift": In(range(max_align_shift(cfg) + 1)),
            "bias": In(p * cfg.bias_bits),
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

        w = lanes(self.weights, cfg.weight_bits, p, signed=True)
        s = lanes(self.states, sb, p, signed=False)
        bias = lanes(self.bias, cfg.bias_bits, p, signed=True)
        bottom_up = self.op == Issue.BOTTOM_UP

        products = []
        for i in range(p):
            x = Signal(unsigned(sb), name=f"x{i}")
            m.d.comb += x.eq(Mux(bottom_up, s[i], self.bcast))
            prod = Signal(prod_shape, name=f"prod{i}")
            m.d.comb += prod.eq(self._product(w[i], x))
            products.append(prod)

        # Adder tree for the bottom-up dot product: a balanced tree, each level one bit wider.
        level = list(products)
        while len(level) > 1:
            nxt = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        dot = Signal(signed(prod_shape.width + max(0, (p - 1).bit_length())))
        m.d.comb += dot.eq(level[0])

        with m.Switch(self.op):
            with m.Case(Issue.LOAD):
                for i in range(p):
                    m.d.sync += self.acc[i].eq(bias[i])
            with m.Case(Issue.BOTTOM_UP):
                with m.Switch(self.lane):
                    for i in range(p):
                        with m.Case(i):
                            m.d.sync += self.acc[i].eq(self.acc[i] + (dot << self.shift))
            with m.Case(Issue.TOP_DOWN):
                for i in range(p):
                    m.d.sync += self.acc[i].eq(self.acc[i] + (products[i] << self.shift))
        return m
