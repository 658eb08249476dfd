"""A PE x SIMD weight tile per cycle, reduced by rows or by columns: the tiled datapath's multiply-accumulate stage.

The tiled datapath (docs/tiled-datapath.md; the folding of the FINN compiler's matrix-vector unit, Umuroglu et
al. 2017) reads one weight word per cycle that holds a PE x SIMD tile ``w[i][j]`` (i < PE, j < SIMD) and reduces
it one of two ways, so that W and W^T come from the same memory:

- `TileMode.ROWS` (reduction A): PE outputs, ``out_i = sum_j w[i][j] * x_j``, x a SIMD-wide state vector;
- `TileMode.COLUMNS` (reduction B): SIMD outputs, ``out_j = sum_i w[i][j] * y_i``, y a PE-wide state vector:
  the same tile read transposed.

Which reduction a layer's sums use is fixed by the layout (`rtl.tiled_schedule`): neuron blocks alternate
between PE and SIMD neurons from one layer to the next and the weight tiles of every second layer are stored
transposed, so both the bottom-up and the top-down sums of a block come from the one reduction of its layer.

The tile accumulates across the tiles of a block: an operation flagged ``first`` starts from the ``load``
word (a bias word, or a cached input drive W_0 x + b_0), one flagged ``last`` emits the block's sums, so one
output vector comes out per block. Each tile's sums are shifted left by the operation's alignment
``A_l - weight_frac`` before they are added (`eqprop.hw.golden.step`), and the accumulator is
`HwConfig.acc_bits` wide, the worst case of every layer's sums, so no sum can overflow (the golden model's
accumulator is exact and unsaturated; the neuron lanes clip afterwards).

How both reductions share one set of adders: the ``max(PE, SIMD)`` adder trees are indexed by output t and
input k. In ROWS mode tree t reduces ``w[t][k] * v[k]``; in COLUMNS mode ``w[k][t] * v[k]``, with ``v`` the
state vector either way. Only the weight is transposed, by a multiplexer in front of the multipliers (2 bits a
product for ternary tiles); the states reach every product unchanged. A product that neither mode uses does
not exist, so a square tile has PE x SIMD multipliers and adder inputs, and a tile of PE != SIMD has
``2 PE SIMD - min(PE, SIMD)**2`` (docs/tiled-datapath.md weighs this against two sets of trees).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.hwconfig import HwConfig
from rtl.mac import max_align_shift
from rtl.pipe import delay

__all__ = ["TileMac", "TileMode", "tile_inputs", "tile_latency", "tile_load_delay", "tile_products",
           "tile_tree_stages"]


class TileMode(enum.Enum, shape=1):
    """Which way a tile is reduced (one per operation)."""

    ROWS = 0      # reduction A: out_i = sum_j w[i][j] x_j, PE outputs from a SIMD-wide x
    COLUMNS = 1   # reduction B: out_j = sum_i w[i][j] y_i, SIMD outputs from a PE-wide y (the tile transposed)


SELECT_LATENCY = 1          # the transposing weight multiplexer, registered with the states
INT_PRODUCT_LATENCY = 3     # INT8 and wider: the operands beside the multipliers, the product, the product again
TERNARY_PRODUCT_LATENCY = 0  # ternary: add, subtract or skip, in front of the first adder (no multiplier)
ALIGN_LATENCY = 1           # the alignment shift of a tile's sums
ACCUMULATE_LATENCY = 1      # the accumulator (and the output's valid)
# Adder-tree levels between two registers. One: each stage is then a plain two-input adder, which Yosys maps to
# an ECP5 carry chain (CCU2C, one LUT a bit), with its register in the same slice. With two levels (`rtl.mac`'s
# choice) a stage is a four-operand sum, which Yosys's alumacc/maccmap builds from carry-save full adders in
# LUTs: the ternary 32 x 10 tile alone synthesised to 18,288 LUTs that way and to 13,612 with one level
# (synth_ecp5, docs/tiled-datapath.md).
TREE_LEVELS_PER_STAGE = 1


def _check_shape(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value!r}")
    return value


def tile_inputs(pe: int, simd: int, t: int) -> list[int]:
    """The inputs k of adder tree t that some mode uses: k < SIMD if t < PE (ROWS), k < PE if t < SIMD (COLUMNS)."""
    return list(range(max(simd if t < pe else 0, pe if t < simd else 0)))


def tile_products(pe: int, simd: int) -> int:
    """Multipliers (ternary: add/subtract/skip selects) of a PE x SIMD tile: ``2 PE SIMD - min(PE, SIMD)**2``."""
    return sum(len(tile_inputs(pe, simd, t)) for t in range(max(pe, simd)))


def tile_tree_stages(pe: int, simd: int) -> int:
    """Register stages of the adder trees: ceil(log2 max(PE, SIMD)) levels, `TREE_LEVELS_PER_STAGE` per
    stage (one stage when the tree is a single product, which only registers it)."""
    levels = (max(pe, simd) - 1).bit_length()
    return max(1, -(-levels // TREE_LEVELS_PER_STAGE))


def tile_latency(cfg: HwConfig, pe: int, simd: int) -> int:
    """Cycles from a ``last`` operation at `TileMac`'s input to its block's sums at the output (``o.valid``):
    the sum of the stages' latency constants."""
    product = TERNARY_PRODUCT_LATENCY if cfg.weight_format == "ternary" else INT_PRODUCT_LATENCY
    return SELECT_LATENCY + product + tile_tree_stages(pe, simd) + ALIGN_LATENCY + ACCUMULATE_LATENCY


def tile_load_delay(cfg: HwConfig, pe: int, simd: int) -> int:
    """Cycles after a ``first`` operation at which `TileMac` takes its ``load`` word: when the operation reaches
    the accumulator (the caller reads the bias or drive memory late rather than carry the word through every
    stage, as `rtl.mac.bias_delay` does for the P lanes)."""
    return tile_latency(cfg, pe, simd) - ACCUMULATE_LATENCY


def _select_sum(w, x):
    """w * x for a signed `w` and an unsigned `x`, without a multiplication: the sum of ``w << b`` over the set
    bits b of x (a shift-and-add multiplier that the synthesiser builds in logic)."""
    terms = [Mux(x[b], w, 0) << b for b in range(len(x))]
    return sum(terms[1:], terms[0])


class TileMac(wiring.Component):
    """A PE x SIMD tile multiply-accumulate stage, pipelined: `tile_latency` register stages, one tile per
    cycle, never stalling (``i.valid`` low is a bubble; its payload is ignored).

    Parameters
    ----------
    cfg : HwConfig
        Supplies the weight format (``int``: signed ``weight_bits`` codes multiplied with ``*``, which the
        synthesiser maps to DSP blocks; ``ternary``: 2-bit codes 0b01 = +1, 0b11 = -1, 0b00 = 0, which add,
        subtract or skip the state), ``state_bits``, ``acc_bits`` and the alignment shifts' range
        (`rtl.mac.max_align_shift`).
    pe, simd : int
        The tile's rows and columns.
    tag : ShapeLike
        A record that travels beside the data from a ``last`` operation to its block's output (the core's
        sample, layer and block); none (0 bits) by default.
    dsp_products : int, optional
        INT tiles: how many products stay multiplications (``*``, which the synthesiser maps to DSP blocks);
        the others are built in logic, for a tile with more products than the device has DSP blocks: each
        split into two products of half the state's bits, each a sum of the weight's shifted copies selected
        by the state's bits (no ``*``, so no synthesiser maps it to a DSP block), registered, then added, in
        the stages a DSP block uses; the latency is the same. Default (None): every product. Ignored by
        ternary tiles, which have no multipliers.

    Members
    -------
    i : stream (always ready), in
        One operation per cycle with ``valid``; payload ``weights`` (ArrayLayout: ``weights[i][j]``, i < PE,
        j < SIMD, signed codes), ``states`` (``max(PE, SIMD)`` unsigned state codes: x in lanes 0 .. SIMD-1 for
        ROWS, y in lanes 0 .. PE-1 for COLUMNS; the lanes past them must be zero), ``mode`` (`TileMode`),
        ``first`` (start from ``load``), ``last`` (emit the block), ``shift`` (left shift of this tile's sums,
        ``A_l - weight_frac``) and ``tag``.
    load : Signal(ArrayLayout(signed(acc_bits), max(PE, SIMD))), in
        A ``first`` operation's starting sums (a bias word or a cached drive, each lane sign-extended),
        presented `tile_load_delay` cycles after the operation; read at no other time.
    o : stream (always ready), out
        ``valid`` for one cycle per ``last`` operation, `tile_latency` cycles after it; payload ``acc``
        (``max(PE, SIMD)`` signed ``acc_bits`` sums: lanes 0 .. PE-1 for ROWS, 0 .. SIMD-1 for COLUMNS; the
        lanes past them are unspecified), ``mode`` and ``tag`` of that operation.

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`, or `pe` or `simd` is not an int.
    ValueError
        If `pe` or `simd` is less than 1.

    Stages: transposing weight select (registered with the states; ternary: and each state's negation)
    | [INT: operands beside the multipliers | product | product again] | adder trees (`tile_tree_stages`, one
    level each; a ternary select feeds the first level in its cycle) | alignment shift | accumulate. The
    control record (valid, mode, first, last, shift, tag) travels through the same registers.

    Implements the sums of `eqprop.hw.golden.step` for a block of neurons (``matmul_exact(...) << (a -
    weight_frac)`` of each weight layer, plus the bias), one tile at a time.
    """

    def __init__(self, *, cfg: HwConfig, pe: int, simd: int, tag=0, dsp_products: int | None = None):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        self.cfg = cfg
        self.pe, self.simd = _check_shape("pe", pe), _check_shape("simd", simd)
        if dsp_products is not None and (not isinstance(dsp_products, int) or isinstance(dsp_products, bool)
                                         or dsp_products < 0):
            raise ValueError(f"dsp_products must be None or an int of at least 0, not {dsp_products!r}")
        self.dsp_products = dsp_products
        v = max(pe, simd)
        w_shape = signed(cfg.weight_bits)      # ternary: weight_bits is 2
        self.shift_range = range(max_align_shift(cfg) + 1)
        self.in_layout = data.StructLayout({
            "weights": data.ArrayLayout(data.ArrayLayout(w_shape, simd), pe),   # w[i][j]
            "states": data.ArrayLayout(unsigned(cfg.state_bits), v),
            "mode": TileMode, "first": 1, "last": 1, "shift": self.shift_range, "tag": tag,
        })
        self.out_layout = data.StructLayout({
            "acc": data.ArrayLayout(signed(cfg.acc_bits), v), "mode": TileMode, "tag": tag,
        })
        super().__init__({
            "i": In(stream.Signature(self.in_layout, always_ready=True)),
            "load": In(data.ArrayLayout(signed(cfg.acc_bits), v)),
            "o": Out(stream.Signature(self.out_layout, always_ready=True)),
        })

    # the two readings of the tile, by tree t and input k (a test overrides one to check that it is needed)

    def _rows(self, w, t: int, k: int):
        """Reduction A's weight for tree t, input k: w[t][k] (None where ROWS has no such product)."""
        return w[t][k] if t < self.pe and k < self.simd else None

    def _columns(self, w, t: int, k: int):
        """Reduction B's weight for tree t, input k: w[k][t], the tile transposed (None where COLUMNS has none)."""
        return w[k][t] if k < self.pe and t < self.simd else None

    def _product(self, w, x, neg_x):
        """w * x for a signed weight code and an unsigned state code; ternary tiles only select among 0, x and
        `neg_x` (-x, computed once per state lane and shared by every tree: a 3-way multiplexer a bit, one LUT4
        on ECP5, and no carry chain per product)."""
        if self.cfg.weight_format == "ternary":
            # codes 0b01 = +1, 0b11 = -1, 0b00 = 0: add, subtract or skip the state
            return Mux(w == 0, 0, Mux(w[-1], neg_x, x))
        return w * x

    def elaborate(self, platform):
        m = Module()
        cfg, pe, simd = self.cfg, self.pe, self.simd
        v, sb = max(pe, simd), cfg.state_bits
        ternary = cfg.weight_format == "ternary"
        max_shift = max_align_shift(cfg)
        # |w * s| <= weight_max * state_max: a signed product of weight_bits + state_bits, or for ternary +-s
        prod_shape = signed(sb + 1) if ternary else signed(cfg.weight_bits + sb)
        dot_shape = signed(prod_shape.width + (v - 1).bit_length())
        add_shape = signed(dot_shape.width + max_shift)
        # No sum can overflow, for any weights and states (contract 4), asserted on the widths: a product, a
        # tree's sum of max(PE, SIMD), its aligned addend, and the accumulator hold their worst cases. The
        # accumulator's: a block of any layer of `cfg` (bottom-up + top-down or nudge + bias,
        # `HwConfig._acc_worst_case`); a caller that feeds a block more tiles than a layer has is out of contract.
        product_max = (1 if ternary else cfg.weight_max) * cfg.state_max
        assert product_max < 2 ** (prod_shape.width - 1) and v * product_max < 2 ** (dot_shape.width - 1)
        assert v * product_max << max_shift < 2 ** (add_shape.width - 1) and add_shape.width <= cfg.acc_bits + 1
        assert all(cfg._acc_worst_case(l) < 2 ** (cfg.acc_bits - 1) for l in range(cfg.n_layers)), \
            f"acc_bits {cfg.acc_bits} cannot hold the worst-case sums {cfg.acc_bits_required}"

        ctrl = data.StructLayout({"valid": 1, "mode": TileMode, "first": 1, "last": 1, "shift": self.shift_range,
                                  "tag": self.in_layout["tag"].shape})
        c = [Signal(ctrl, name="ctrl0")]
        p = self.i.payload
        m.d.comb += [c[0].valid.eq(self.i.valid), c[0].mode.eq(p.mode), c[0].first.eq(p.first),
                     c[0].last.eq(p.last), c[0].shift.eq(p.shift), c[0].tag.eq(p.tag)]

        def stage(value, name):     # data: no reset (the control record beside it has one)
            return delay(m, value, name=name, reset_less=True)

        def advance():
            c.append(delay(m, c[-1], name=f"ctrl{len(c)}"))
            return c[-1]

        inputs = [tile_inputs(pe, simd, t) for t in range(v)]

        # the transposing select: tree t's weight for input k in this operation's mode, registered beside the
        # states. Only a product that both modes use needs a multiplexer: one that only ROWS uses is in a tree
        # t >= SIMD, whose output COLUMNS leaves unspecified, or on a state lane k >= PE, which is zero in
        # COLUMNS (the contract on ``states``); the same the other way round.
        rows_mode = p.mode == TileMode.ROWS
        w1 = {}
        for t in range(v):
            for k in inputs[t]:
                a, b = self._rows(p.weights, t, k), self._columns(p.weights, t, k)
                sel = b if a is None else a if b is None else Mux(rows_mode, a, b)
                w1[t, k] = stage(sel, f"w{t}_{k}")
        x1 = [stage(p.states[k], f"x{k}") for k in range(v)]
        # ternary: each state's negation, once per lane (every tree's input k shares it)
        neg1 = [stage(-p.states[k], f"neg_x{k}") if ternary else None for k in range(v)]
        advance()

        if not ternary:
            # the operands again, beside the multipliers (DSP blocks sit in a few rows of the chip)
            w1 = {key: stage(val, f"w{key[0]}_{key[1]}_dsp") for key, val in w1.items()}
            x1 = [stage(val, f"x{k}_dsp") for k, val in enumerate(x1)]
            advance()

        # products: a multiplier with registered inputs and output (INT8), or a ternary select that feeds the
        # first adder level in the same cycle (one LUT4 a bit before the carry chain; a register here would
        # cost 9 flip-flops a product for nothing)
        prods = {}
        if ternary:
            for (t, k), w in w1.items():
                prod = Signal(prod_shape, name=f"prod{t}_{k}", reset_less=True)
                m.d.comb += prod.eq(self._product(w, x1[k], neg1[k]))
                prods[t, k] = prod
        else:
            keys = list(w1)
            n_dsp = len(keys) if self.dsp_products is None else min(self.dsp_products, len(keys))
            half = (sb + 1) // 2
            for i, (t, k) in enumerate(keys):
                w = w1[t, k]
                if i < n_dsp:
                    # a multiplier (a DSP block): registered product, registered again
                    prod = Signal(prod_shape, name=f"prod{t}_{k}", reset_less=True)
                    m.d.sync += prod.eq(self._product(w, x1[k], None))
                    prods[t, k] = stage(prod, f"prod{t}_{k}_dsp")
                else:
                    # in logic: w * x as w * x_lo + (w * x_hi << half), each half a sum of w's shifted copies
                    # selected by the state's bits, half the depth of the whole, registered, then added
                    lo, hi = (Signal(prod_shape, name=f"prod{t}_{k}_{h}", reset_less=True) for h in ("lo", "hi"))
                    m.d.sync += [lo.eq(_select_sum(w, x1[k][:half])), hi.eq(_select_sum(w, x1[k][half:]))]
                    prods[t, k] = stage(lo + (hi << half), f"prod{t}_{k}_sum")
            advance()
            advance()

        # max(PE, SIMD) adder trees, TREE_LEVELS_PER_STAGE levels between registers
        levels = [[prods[t, k] for k in inputs[t]] for t in range(v)]
        for s in range(tile_tree_stages(pe, simd)):
            for t in range(v):
                level = levels[t]
                for _ in range(TREE_LEVELS_PER_STAGE):
                    if len(level) > 1:
                        level = ([level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
                                 + ([level[-1]] if len(level) % 2 else []))
                levels[t] = [stage(val, f"sum{s}_{t}_{i}") for i, val in enumerate(level)]
            advance()
        dots = []
        for t in range(v):
            assert len(levels[t]) == 1
            dot = Signal(dot_shape, name=f"dot{t}")
            m.d.comb += dot.eq(levels[t][0])
            dots.append(dot)

        # the alignment shift of this tile's sums
        cs = c[-1]
        addend = [Signal(add_shape, name=f"addend{t}", reset_less=True) for t in range(v)]
        m.d.sync += [addend[t].eq(dots[t] << cs.shift) for t in range(v)]
        ca = advance()

        # accumulate: a first tile starts from the load word, a last one emits the block
        acc = Signal(data.ArrayLayout(signed(cfg.acc_bits), v), reset_less=True)
        with m.If(ca.valid):
            for t in range(v):
                m.d.sync += acc[t].eq(Mux(ca.first, self.load[t], acc[t]) + addend[t])
        m.d.sync += [self.o.valid.eq(ca.valid & ca.last), self.o.payload.mode.eq(ca.mode),
                     self.o.payload.tag.eq(ca.tag)]
        m.d.comb += self.o.payload.acc.eq(acc)
        assert len(c) - 1 + ACCUMULATE_LATENCY == tile_latency(cfg, pe, simd), (len(c), tile_latency(cfg, pe, simd))
        return m
