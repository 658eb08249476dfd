"""The weight-update lanes of on-chip learning: `eqprop.hw.golden.contrast_update` and `derive_weights`.

For one weight-memory word of layer l (row r, P columns c) and the biases of one state word::

    c        = s+_{l+1}[r] s+_l[c] - s-_{l+1}[r] s-_l[c]                 # exact, 2 state_bits fraction
    shadow  <- sat(shadow + R(c, weight_update_shift(l)), +-shadow_max)
    w        = derive(shadow)                                             # round + saturate, or threshold
    b       <- sat(b + R(s+_{l+1} - s-_{l+1}, bias_update_shift(l)), +-bias_max)

Both shifts contain the layer's learning-rate shift, which is a run-time register (LR_SHIFT) so the
host can anneal it; the rest of each shift is a constant of the layer taken from `HwConfig`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.formats import LR_SHIFT_MAX
from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes, round_addend_var, round_half_var, saturate, shift_amount, shift_by_amount, shift_round
from rtl.pipe import delay

__all__ = ["BIAS_DELAY", "BIAS_UPDATE_LATENCY", "LR_SHIFT_BITS", "SHADOW_DELAY", "WEIGHT_UPDATE_LATENCY",
           "BiasUpdate", "WeightUpdate", "derive_weight"]

# inputs | operands | products (two stages) | contrast | rounding addend | shift | shadow sum | saturated | weight
WEIGHT_UPDATE_LATENCY = 10
SHADOW_DELAY = 7            # the shadow word comes this many cycles after the rest, when it is added
BIAS_UPDATE_LATENCY = 6     # operands | contrast | rounding addend | shift | bias sum | saturated
BIAS_DELAY = 4              # the bias word comes this many cycles after the rest, when it is added

LR_SHIFT_BITS = LR_SHIFT_MAX.bit_length()   # a learning-rate shift register holds 0 .. LR_SHIFT_MAX


def derive_weight(cfg: HwConfig, shadow):
    """The forward weight code of one shadow code (`eqprop.hw.golden.derive_weights`), as a `Value`."""
    if cfg.weight_format == "ternary":
        thr = cfg.ternary_threshold_code
        return Mux(shadow >= thr, 1, Mux(shadow <= -thr, -1, 0))
    return saturate(shift_round(shadow, cfg.shadow_extra, cfg.rounding), -cfg.weight_max, cfg.weight_max)


def _shift(m: Module, layer, lr_shift, bases: list[int]):
    """The run-time shift of an update, ``bases[layer] + lr_shift`` (each layer's constant part plus its
    LR_SHIFT register), and the range it lies in: ``(k, k_registered, k_min, k_max)``."""
    k_min, k_max = min(bases), max(bases) + (1 << LR_SHIFT_BITS) - 1
    k = Signal(signed(max(k_max.bit_length(), (-k_min).bit_length()) + 2), name="k1")
    with m.Switch(layer):
        for l, base in enumerate(bases):
            with m.Case(l):
                m.d.comb += k.eq(base + lr_shift)
    return k, delay(m, k, name="k2"), k_min, k_max


def _halves(m: Module, k, k_max: int):
    """`rtl.fixed.round_half_var` of `k` and one less, registered: the rounding addend's decoder and
    decrement a stage ahead of its adder."""
    half = Signal(k_max + 1, name="half")
    less = Signal(k_max + 1, name="half_less_one")
    # 2**(k-1) - 1 as a thermometer code (bit j: j + 1 < k; every bit when k <= 0, as the decrement of
    # a zero half wraps), a comparison per bit rather than a decoder and a carry chain
    m.d.sync += [half.eq(round_half_var(k, k_max=k_max)),
                 less.eq(Cat(*[(k <= 0) | (k > j + 1) for j in range(k_max + 1)]))]
    return half, less


def _amount(m: Module, k, k_min: int, k_max: int):
    """`rtl.fixed.shift_amount` of `k`, registered: the shifter's select lines come from this register,
    with the offset adder of the amount a stage ahead (the shift amount fans out to every lane's
    shifter, so its net is long; nothing but the shifter may lie after it)."""
    amount = Signal(max(1, (k_max + max(0, -k_min)).bit_length()), name="shift_amount")
    m.d.sync += amount.eq(shift_amount(k, k_min=k_min, k_max=k_max))
    return amount


def _product_in_logic(m: Module, a, b, name: str):
    """``a * b`` for unsigned `a` and `b`, as a sum of partial products in logic rather than in a DSP
    block, in two register stages: the first two levels of the adder tree, then the rest.

    On ECP5 the DSP blocks spread over the whole die once most of them are used, and nextpnr places
    the registers around a multiplier far from it (about 3 ns of routing each way, 10.5 ns in all
    with the multiply), so the update's 2P products are made in logic, next to the rest of the lane.
    """
    level = [Mux(b[j], a, 0) << j for j in range(len(b))]     # the partial products, unsigned
    width = len(a) + len(b)
    first = min(2, (len(level) - 1).bit_length())
    for stage, levels in enumerate((first, (len(level) - 1).bit_length() - first)):
        for _ in range(levels):
            level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        regs = [Signal(width, name=f"{name}_s{stage}_{i}") for i in range(len(level))]
        m.d.sync += [r.eq(v) for r, v in zip(regs, level, strict=True)]
        level = regs
    assert len(level) == 1
    return level[0]


def _check(cfg) -> None:
    if not isinstance(cfg, HwConfig):
        raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")


class WeightUpdate(wiring.Component):
    """P shadow-weight update lanes with weight re-derivation, pipelined: one word per cycle, the new
    shadow and weight words `WEIGHT_UPDATE_LATENCY` cycles after the inputs.

    Parameters
    ----------
    cfg : HwConfig

    Members
    -------
    layer : Signal(range(L)), in
        Weight layer l of the word.
    lr_shift : Signal(5), in
        The layer's learning-rate shift (the LR_SHIFT register).
    pos_row, neg_row : Signal(state_bits), in
        s+_{l+1}[r] and s-_{l+1}[r]: the row's upper state after the positive and negative phase.
    pos, neg : Signal(P * state_bits), in
        s+_l and s-_l at the word's P columns.
    shadow : Signal(P * shadow_bits), in
        The shadow word before the update, presented `SHADOW_DELAY` cycles after the word's other
        inputs, when the update adds to it (the core reads the shadow memory late rather than carry
        the word through the stages before).
    shadow_new : Signal(P * shadow_bits), out
    weight_new : Signal(P * weight_bits), out
        The updated shadow word and the forward weights derived from it.

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

    Implements the weight half of `eqprop.hw.golden.contrast_update` and `eqprop.hw.golden.derive_weights`.
    """

    def __init__(self, *, cfg: HwConfig):
        _check(cfg)
        self.cfg = cfg
        p, sb = cfg.mac_lanes, cfg.state_bits
        super().__init__({
            "layer": In(range(cfg.n_layers)),
            "lr_shift": In(LR_SHIFT_BITS),
            "pos_row": In(sb), "neg_row": In(sb),
            "pos": In(p * sb), "neg": In(p * sb),
            "shadow": In(p * cfg.shadow_bits),
            "shadow_new": Out(p * cfg.shadow_bits),
            "weight_new": Out(p * cfg.weight_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, p, sb = self.cfg, self.cfg.mac_lanes, self.cfg.state_bits

        def later(value, name, count=1):
            return delay(m, value, count, name=name)

        # stage 0: the inputs, registered where they arrive; stage 1: the operands; stages 2 and 3: the
        # products (`_product_in_logic`), and beside the second the shift: the layer's constant part of
        # weight_update_shift(l) plus LR_SHIFT
        pos_row, neg_row = later(self.pos_row, "pos_row", 2), later(self.neg_row, "neg_row", 2)
        pos = lanes(later(self.pos, "pos", 2), sb, p, signed=False)
        neg = lanes(later(self.neg, "neg", 2), sb, p, signed=False)
        _, k3, k_min, k_max = _shift(m, later(self.layer, "layer", 3), later(self.lr_shift, "lr", 3),
                                     [cfg.weight_update_shift(l) - cfg.lr_shifts[l] for l in range(cfg.n_layers)])
        left_max = max(0, -k_min)
        k4 = later(k3, "k4")
        half4, half4m = _halves(m, k3, k_max)    # stage 4: the rounding half of k, ready for stage 5
        amount5 = _amount(m, k4, k_min, k_max)   # stage 5: the shifter's amount, ready for stage 6
        shadow = lanes(self.shadow, cfg.shadow_bits, p, signed=True)   # late (SHADOW_DELAY), for stage 7
        for i in range(p):
            # stages 2 and 3: the products, in logic
            prod_p = _product_in_logic(m, pos_row, pos[i], f"prod_pos{i}")
            prod_n = _product_in_logic(m, neg_row, neg[i], f"prod_neg{i}")
            # stage 4: the contrast, exact (fraction 2 state_bits)
            contrast = Signal(signed(2 * sb + 1), name=f"contrast{i}")
            m.d.sync += contrast.eq(prod_p - prod_n)
            # stage 5: the rounding addend of R(contrast, k); stage 6: the shift, in shadow LSBs
            total = Signal(signed(max(contrast.shape().width, k_max + 1) + 2), name=f"total{i}")
            m.d.sync += total.eq(contrast + round_addend_var(contrast, k4, cfg.rounding, k_max=k_max,
                                                             half=half4, half_less_one=half4m))
            delta = Signal(signed(2 * sb + 2 + left_max), name=f"delta{i}")
            m.d.sync += delta.eq(shift_by_amount(total, amount5, k_min=k_min))
            # stage 7: the shadow plus its update; stage 8: saturated; stage 9: the weight derived from it
            added = Signal(signed(max(cfg.shadow_bits, delta.shape().width) + 1), name=f"shadow_sum{i}")
            m.d.sync += added.eq(shadow[i] + delta)
            new = Signal(signed(cfg.shadow_bits), name=f"shadow{i}")
            m.d.sync += new.eq(saturate(added, -cfg.shadow_max, cfg.shadow_max))
            weight = Signal(signed(cfg.weight_bits), name=f"weight{i}")
            m.d.sync += weight.eq(derive_weight(cfg, new))
            m.d.comb += [self.shadow_new.word_select(i, cfg.shadow_bits).eq(later(new, f"shadow_out{i}")),
                         self.weight_new.word_select(i, cfg.weight_bits).eq(weight)]
        return m


class BiasUpdate(wiring.Component):
    """P bias update lanes, pipelined: one word per cycle, the new biases `BIAS_UPDATE_LATENCY` cycles after
    the inputs.

    Parameters
    ----------
    cfg : HwConfig

    Members
    -------
    layer : Signal(range(L)), in
        Weight layer l (the biases of s_{l+1}).
    lr_shift : Signal(5), in
        The layer's learning-rate shift.
    pos, neg : Signal(P * state_bits), in
        s+_{l+1} and s-_{l+1} at the word's P neurons.
    bias : Signal(P * bias_bits), in
        The bias word before the update, presented `BIAS_DELAY` cycles after the other inputs.
    bias_new : Signal(P * bias_bits), out

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

    Implements the bias half of `eqprop.hw.golden.contrast_update`.
    """

    def __init__(self, *, cfg: HwConfig):
        _check(cfg)
        self.cfg = cfg
        p, sb = cfg.mac_lanes, cfg.state_bits
        super().__init__({
            "layer": In(range(cfg.n_layers)),
            "lr_shift": In(LR_SHIFT_BITS),
            "pos": In(p * sb), "neg": In(p * sb),
            "bias": In(p * cfg.bias_bits),
            "bias_new": Out(p * cfg.bias_bits),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, p, sb = self.cfg, self.cfg.mac_lanes, self.cfg.state_bits

        def later(value, name, count=1):
            return delay(m, value, count, name=name)

        # stage 1: the operands, and beside them the shift, as in WeightUpdate
        pos = lanes(later(self.pos, "pos"), sb, p, signed=False)
        neg = lanes(later(self.neg, "neg"), sb, p, signed=False)
        bias = lanes(self.bias, cfg.bias_bits, p, signed=True)     # late (BIAS_DELAY), for stage 5
        _, k1, k_min, k_max = _shift(m, self.layer, self.lr_shift,
                                     [cfg.bias_update_shift(l) - cfg.lr_shifts[l] for l in range(cfg.n_layers)])
        left_max = max(0, -k_min)
        k2 = later(k1, "k2")
        half2, half2m = _halves(m, k1, k_max)    # stage 2: the rounding half of k, ready for stage 3
        amount3 = _amount(m, k2, k_min, k_max)   # stage 3: the shifter's amount, ready for stage 4
        for i in range(p):
            # stage 2: the contrast, at the state fraction, exact
            contrast = Signal(signed(sb + 1), name=f"contrast{i}")
            m.d.sync += contrast.eq(pos[i] - neg[i])
            # stage 3: the rounding addend of R(contrast, k); stage 4: the shift, in bias LSBs; stage 5:
            # the bias plus its update; stage 6: saturated
            total = Signal(signed(max(contrast.shape().width, k_max + 1) + 2), name=f"total{i}")
            m.d.sync += total.eq(contrast + round_addend_var(contrast, k2, cfg.rounding, k_max=k_max,
                                                             half=half2, half_less_one=half2m))
            delta = Signal(signed(sb + 2 + left_max), name=f"delta{i}")
            m.d.sync += delta.eq(shift_by_amount(total, amount3, k_min=k_min))
            added = Signal(signed(max(cfg.bias_bits, delta.shape().width) + 1), name=f"bias_sum{i}")
            m.d.sync += added.eq(bias[i] + delta)
            new = Signal(signed(cfg.bias_bits), name=f"bias{i}")
            m.d.sync += new.eq(saturate(added, -cfg.bias_max, cfg.bias_max))
            m.d.comb += self.bias_new.word_select(i, cfg.bias_bits).eq(new)
        return m
