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

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.formats import LR_SHIFT_MAX
from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes, saturate, shift_round, shift_round_var

__all__ = ["LR_SHIFT_BITS", "BiasUpdate", "WeightUpdate", "derive_weight"]

LR_SHIFT_BITS = LR_SHIFT_MAX.bit_length()   # a learning-rate shift register holds 0 .. LR_SHIFT_MAX


def derive_weight(cfg: HwConfig, shadow):
    """The forward weight code of one shadow code (`eqprop.hw.golden.derive_weights`), as a `Value`."""
    if cfg.weight_format == "ternary":
        thr = cfg.ternary_threshold_code
        return Mux(shadow >= thr, 1, Mux(shadow <= -thr, -1, 0))
    return saturate(shift_round(shadow, cfg.shadow_extra, cfg.rounding), -cfg.weight_max, cfg.weight_max)


def _check(cfg) -> None:
    if not isinstance(cfg, HwConfig):
        raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")


class WeightUpdate(wiring.Component):
    """P shadow-weight update lanes with weight re-derivation (combinational, latency 0).

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
        The shadow word before the update.
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
        lr_max = (1 << LR_SHIFT_BITS) - 1
        pos, neg = lanes(self.pos, sb, p, signed=False), lanes(self.neg, sb, p, signed=False)
        shadow = lanes(self.shadow, cfg.shadow_bits, p, signed=True)
        # constant part of each layer's shift: weight_update_shift(l) without its learning rate
        bases = [cfg.weight_update_shift(l) - cfg.lr_shifts[l] for l in range(cfg.n_layers)]
        left_max = max(0, -min(bases))
        for i in range(p):
            contrast = Signal(signed(2 * sb + 1), name=f"contrast{i}")        # fraction 2 state_bits, exact
            delta = Signal(signed(2 * sb + 2 + left_max), name=f"delta{i}")  # shadow LSBs
            new = Signal(signed(cfg.shadow_bits), name=f"shadow{i}")
            m.d.comb += contrast.eq(self.pos_row * pos[i] - self.neg_row * neg[i])
            with m.Switch(self.layer):
                for l, base in enumerate(bases):
                    with m.Case(l):
                        k = Signal(signed(8), name=f"k{i}_{l}")
                        m.d.comb += [
                            k.eq(base + self.lr_shift),
                            delta.eq(shift_round_var(contrast, k, cfg.rounding, k_min=base, k_max=base + lr_max)),
                        ]
            m.d.comb += [
                new.eq(saturate(shadow[i] + delta, -cfg.shadow_max, cfg.shadow_max)),
                self.shadow_new.word_select(i, cfg.shadow_bits).eq(new),
                self.weight_new.word_select(i, cfg.weight_bits).eq(derive_weight(cfg, new)),
            ]
        return m


class BiasUpdate(wiring.Component):
    """P bias update lanes (combinational, latency 0).

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
        lr_max = (1 << LR_SHIFT_BITS) - 1
        pos, neg = lanes(self.pos, sb, p, signed=False), lanes(self.neg, sb, p, signed=False)
        bias = lanes(self.bias, cfg.bias_bits, p, signed=True)
        bases = [cfg.bias_update_shift(l) - cfg.lr_shifts[l] for l in range(cfg.n_layers)]
        left_max = max(0, -min(bases))
        for i in range(p):
            contrast = Signal(signed(sb + 1), name=f"contrast{i}")          # state fraction, exact
            delta = Signal(signed(sb + 2 + left_max), name=f"delta{i}")     # bias LSBs
            m.d.comb += contrast.eq(pos[i] - neg[i])
            with m.Switch(self.layer):
                for l, base in enumerate(bases):
                    with m.Case(l):
                        k = Signal(signed(8), name=f"k{i}_{l}")
                        m.d.comb += [
                            k.eq(base + self.lr_shift),
                            delta.eq(shift_round_var(contrast, k, cfg.rounding, k_min=base, k_max=base + lr_max)),
                        ]
            m.d.comb += self.bias_new.word_select(i, cfg.bias_bits).eq(
                saturate(bias[i] + delta, -cfg.bias_max, cfg.bias_max))
        return m

