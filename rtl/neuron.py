"""Activation and mixing of P neurons: the tail of `eqprop.hw.golden.step`, from accumulator to new state.

Per lane, for the layer being computed (weight layer l, state s_{l+1})::

    acc   += sign * R(t - s, beta_shift - A_{L-1})        # output nudge, top layer only
    rho    = clip(R(acc, A_l), 0, 2**state_bits - 1)      # hard sigmoid
    s_new  = s + R(rho - s, eps_shift)                     # mixing, eps = 2**-eps_shift

with R the right shift under ``cfg.rounding`` (`rtl.fixed.shift_round`). Every shift is a constant
per layer, so the layer input only selects among L wired copies; there is no barrel shifter.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes, saturate, shift_round

__all__ = ["NeuronLanes"]


class NeuronLanes(wiring.Component):
    """P activation-and-mixing lanes (combinational, latency 0).

    Parameters
    ----------
    cfg : HwConfig
        Supplies P, ``state_bits``, ``acc_bits``, ``eps_shift``, the nudge shift, the per-layer
        alignment ``acc_align`` and the rounding mode.

    Members
    -------
    layer : Signal(range(L)), in
        Weight layer l whose output states s_{l+1} are being computed.
    nudge : Signal(signed(2)), in
        +1 or -1 adds the nudge of that sign on the top layer; 0 (and any lower layer) adds none.
    acc : Signal(ArrayLayout(signed(acc_bits), P)), in
        The accumulators of the block (bias and both sums already in).
    s_old : Signal(P * state_bits), in
        The block's states before the step (one state-memory word).
    target : Signal(P * state_bits), in
        The block's target codes (used by the nudge only).
    s_new : Signal(P * state_bits), out
        The block's states after the step.

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

    Implements the ``rho`` and mixing lines of `eqprop.hw.golden.step`, bit for bit.
    """

    def __init__(self, *, cfg: HwConfig):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        self.cfg = cfg
        p, sb = cfg.mac_lanes, cfg.state_bits
        super().__init__({
            "layer": In(range(cfg.n_layers)),
            "nudge": In(signed(2)),
            "acc": In(data.ArrayLayout(signed(cfg.acc_bits), p)),
            "s_old": In(p * sb),
            "target": In(p * sb),
            "s_new": Out(p * sb),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, p, sb = self.cfg, self.cfg.mac_lanes, self.cfg.state_bits
        top = cfg.n_layers - 1
        s_old = lanes(self.s_old, sb, p, signed=False)
        target = lanes(self.target, sb, p, signed=False)
        for i in range(p):
            # beta (t - s) at the output accumulator's fraction; its sign is the phase's
            diff = Signal(signed(sb + 1), name=f"diff{i}")
            pull = Signal(signed(cfg.acc_bits), name=f"pull{i}")
            m.d.comb += [
                diff.eq(target[i] - s_old[i]),
                pull.eq(shift_round(diff, cfg.nudge_shift(), cfg.rounding)),
            ]
            total = Signal(signed(cfg.acc_bits + 1), name=f"total{i}")   # acc + nudge, exact
            rho = Signal(unsigned(sb), name=f"rho{i}")                    # hard sigmoid, clipped
            step = Signal(signed(sb + 1), name=f"step{i}")                # R(rho - s, eps_shift)
            with m.Switch(self.layer):
                for l in range(cfg.n_layers):
                    with m.Case(l):
                        if l == top:
                            # add or subtract in parallel: no negation in series on the critical path
                            m.d.comb += total.eq(Mux(self.nudge == 0, self.acc[i],
                                                     Mux(self.nudge < 0, self.acc[i] - pull, self.acc[i] + pull)))
                        else:
                            m.d.comb += total.eq(self.acc[i])
                        scaled = Signal(signed(cfg.acc_bits + 1), name=f"scaled{i}_{l}")   # R(acc, A_l)
                        m.d.comb += [scaled.eq(shift_round(total, cfg.acc_align(l), cfg.rounding)),
                                     rho.eq(saturate(scaled, 0, cfg.state_max))]
            m.d.comb += [
                step.eq(shift_round(rho - s_old[i], cfg.eps_shift, cfg.rounding)),
                self.s_new.word_select(i, sb).eq(s_old[i] + step),   # stays in 0 .. state_max
            ]
        return m
