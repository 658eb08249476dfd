# amaranth: UnusedElaboratable=no
"""Activation and mixing lanes against the golden model's arithmetic, for every rounding mode,
step size and nudge sign, at the accumulator and state extremes and on random values."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_words, unpack_words
from rtl.neuron import NEURON_LATENCY, NeuronLanes
from tests.rtl._sim import run

BASE = HwConfig(sizes=(5, 6, 3), mac_lanes=4, weight_frac=(4, 7))
CONFIGS = {
    f"{rounding}-eps{eps}-beta{beta}": BASE.replace(rounding=rounding, eps_shift=eps, beta_shift=beta)
    for rounding in ("floor", "half_up", "half_away") for eps, beta in ((0, 1), (1, 1), (3, 10))
}


def ref_neuron(cfg, layer, nudge, acc, s_old, target):
    """The rho and mixing lines of `golden.step` for one block (golden's own primitives)."""
    acc = np.asarray(acc, dtype=np.int64)
    s_old, target = np.asarray(s_old, dtype=np.int64), np.asarray(target, dtype=np.int64)
    if layer == cfg.n_layers - 1 and nudge:
        acc = acc + nudge * golden.shift_round(target - s_old, cfg.nudge_shift(), cfg.rounding)
    rho = golden.saturate(golden.shift_round(acc, cfg.acc_align(layer), cfg.rounding), 0, cfg.state_max)
    return s_old + golden.shift_round(rho - s_old, cfg.eps_shift, cfg.rounding)


def rtl_neuron(cfg, vectors, bubbles=None):
    """Each block's new states `NEURON_LATENCY` cycles after it is presented, one block per cycle, with
    idle cycles (random inputs whose outputs are ignored) before a block where `bubbles` says so."""
    dut = NeuronLanes(cfg=cfg)
    p, sb = cfg.mac_lanes, cfg.state_bits
    schedule, when = [], []
    for vec in vectors:
        while bubbles is not None and bubbles.random() < 0.3:
            schedule.append(vectors[int(bubbles.integers(len(vectors)))])
        when.append(len(schedule))
        schedule.append(vec)
    out = {}

    async def tb(ctx):
        for cycle in range(len(schedule) + NEURON_LATENCY):
            layer, nudge, acc, s_old, target = schedule[min(cycle, len(schedule) - 1)]
            ctx.set(dut.layer, layer)
            ctx.set(dut.nudge, nudge)
            for i in range(p):
                ctx.set(dut.acc[i], int(acc[i]))
            ctx.set(dut.s_old, pack_words(s_old, sb, p, False)[0])
            ctx.set(dut.target, pack_words(target, sb, p, False)[0])
            await ctx.tick()
            out[cycle + 1] = unpack_words([ctx.get(dut.s_new)], sb, p, False, p)

    run(dut, tb)
    return np.array([out[t + NEURON_LATENCY] for t in when])


def vectors(cfg, seed):
    """Random blocks plus the corners: accumulator at +-its worst case, around the rounding ties,
    states and targets at 0 and state_max."""
    rng = np.random.default_rng(seed)
    p, smax = cfg.mac_lanes, cfg.state_max
    amax = (1 << (cfg.acc_bits - 2)) - 1   # leaves room for the nudge, as the worst-case width does
    out = []
    for layer in range(cfg.n_layers):
        a = cfg.acc_align(layer)
        for nudge in (-1, 0, 1):
            ties = [(k << a) + (1 << a >> 1) + d for k in (-3, 0, 5, smax) for d in (-1, 0, 1)]
            corner = [amax, -amax, 0, -1, 1, smax << a] + ties
            for j in range(0, len(corner), p):
                acc = (corner[j:j + p] + [0] * p)[:p]
                for s in ([0] * p, [smax] * p, rng.integers(0, smax + 1, p).tolist()):
                    for t in ([0] * p, [smax] * p):
                        out.append((layer, nudge, acc, s, t))
            for _ in range(40):
                acc = rng.integers(-(smax << a) * 2, (smax << a) * 2, p).tolist()
                out.append((layer, nudge, acc, rng.integers(0, smax + 1, p).tolist(),
                            rng.integers(0, smax + 1, p).tolist()))
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("bubbles", [False, True])
def test_neuron_matches_golden(name, bubbles):
    cfg = CONFIGS[name]
    vecs = vectors(cfg, seed=len(name))
    rtl = rtl_neuron(cfg, vecs, np.random.default_rng(3) if bubbles else None)
    for k, (vec, got) in enumerate(zip(vecs, rtl, strict=True)):
        ref = ref_neuron(cfg, *vec)
        assert_array_equal(got, ref, err_msg=f"case {name} vector {k}: layer {vec[0]}, nudge {vec[1]}, "
                                             f"acc {vec[2]}, s_old {vec[3]}, target {vec[4]}")


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not None$"):
        NeuronLanes(cfg=None)
