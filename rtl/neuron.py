"""Activation and mixing of P neurons: the tail of `eqprop.hw.golden.step`, from accumulator to new state.

Per lane, for the layer being computed (weight layer l, state s_{l+1})::

    acc   += sign * R(t - s, beta_shift - A_{L-1})        # output nudge, top layer only
    rho    = clip(R(acc, A_l), 0, 2**state_bits - 1)      # hard sigmoid
    s_new  = s + R(rho - s, eps_shift)                     # mixing, eps = 2**-eps_shift

with R the right shift under ``cfg.rounding`` (`rtl.fixed.shift_round`). Every shift is a constant
per layer, so the layer input only selects among L wired copies; there is no barrel shifter.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.hwconfig import HwConfig
from rtl.fixed import lanes, saturate, shift_round
from rtl.pipe import delay

__all__ = ["NEURON_LATENCY", "NeuronLanes"]

NEURON_LATENCY = 4   # registers from the accumulators to the new states: operands, nudge, rho, mixing


class NeuronLanes(wiring.Component):
    """P activation-and-mixing lanes, pipelined: the new states appear `NEURON_LATENCY` cycles after the
    inputs, one block per cycle, never stalling.

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
        The block's states after the step, `NEURON_LATENCY` cycles after the inputs.
    changed : Signal(P), out
        Per lane, with ``s_new``: the new state differs from the old one (the mixing step is not zero).

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig`.

    Stages: the operands and the nudge term R(t - s) | acc + nudge | rho = clip(R(acc, A_l)) | mixing.
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
            "changed": Out(p),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, p, sb = self.cfg, self.cfg.mac_lanes, self.cfg.state_bits
        top = cfg.n_layers - 1

        def later(value, name, count=1):
            return delay(m, value, count, name=name)

        # the layer and the nudge travel with the data; the old states are needed until the mixing
        layer = [Value.cast(self.layer)]
        nudge = [Value.cast(self.nudge)]
        for k in range(NEURON_LATENCY - 1):
            layer.append(later(layer[-1], f"layer{k}"))
            nudge.append(later(nudge[-1], f"nudge{k}"))
        s_old = lanes(self.s_old, sb, p, signed=False)
        target = lanes(self.target, sb, p, signed=False)
        for i in range(p):
            # stage 1: the operands, and beta (t - s) at the output accumulator's fraction (its sign is the phase's)
            acc1 = later(self.acc[i], f"acc{i}")
            pull1 = Signal(signed(cfg.acc_bits), name=f"pull{i}")
            m.d.sync += pull1.eq(shift_round(target[i] - s_old[i], cfg.nudge_shift(), cfg.rounding))
            # stage 2: acc + nudge, exact; add or subtract in parallel (no negation in series)
            total2 = Signal(signed(cfg.acc_bits + 1), name=f"total{i}")
            add_nudge = (layer[1] == top) & (nudge[1] != 0)
            m.d.sync += total2.eq(Mux(add_nudge, Mux(nudge[1] < 0, acc1 - pull1, acc1 + pull1), acc1))
            # stage 3: hard sigmoid, rho = clip(R(acc, A_l)): the shift is a constant of each layer
            rho3 = Signal(unsigned(sb), name=f"rho{i}")
            with m.Switch(layer[2]):
                for l in range(cfg.n_layers):
                    with m.Case(l):
                        scaled = Signal(signed(cfg.acc_bits + 1), name=f"scaled{i}_{l}")   # R(acc, A_l)
                        m.d.comb += scaled.eq(shift_round(total2, cfg.acc_align(l), cfg.rounding))
                        m.d.sync += rho3.eq(saturate(scaled, 0, cfg.state_max))
            # stage 4: mixing, s + R(rho - s, eps_shift); stays in 0 .. state_max
            old3 = later(s_old[i], f"s_old{i}", 3)
            step = Signal(signed(sb + 1), name=f"step{i}")
            m.d.comb += step.eq(shift_round(rho3 - old3, cfg.eps_shift, cfg.rounding))
            new4 = Signal(unsigned(sb), name=f"s_new{i}")
            m.d.sync += [new4.eq(old3 + step), self.changed[i].eq(step != 0)]
            m.d.comb += self.s_new.word_select(i, sb).eq(new4)
        return m
