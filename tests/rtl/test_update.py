# amaranth: UnusedElaboratable=no
"""Weight-update lanes against `golden.contrast_update` / `golden.derive_weights`: every weight format and
rounding mode, saturating shadows and biases, left and right update shifts, and a run-time LR_SHIFT."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.formats import memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region, pack_words, unpack_region
from rtl.update import (
    BIAS_DELAY,
    BIAS_UPDATE_LATENCY,
    SHADOW_DELAY,
    WEIGHT_UPDATE_LATENCY,
    BiasUpdate,
    WeightUpdate,
)
from tests.rtl._sim import run

CONFIGS = {
    "int8-half_away": HwConfig(sizes=(5, 6, 3), mac_lanes=4),
    "int4-floor-onesided": HwConfig(sizes=(5, 6, 3), mac_lanes=2, weight_bits=4, shadow_bits=10, rounding="floor",
                                    estimator="one-sided", weight_frac=(3, 2)),
    "ternary-half_up": HwConfig(sizes=(5, 6, 3), mac_lanes=4, weight_format="ternary", weight_bits=2, shadow_bits=8,
                                rounding="half_up", ternary_threshold=3),
    "state4-leftshift": HwConfig(sizes=(5, 6, 3), mac_lanes=4, state_bits=4, lr_shifts=(0, 3), bias_bits=12),
}


def case_params(cfg, rng, kind):
    """Parameters and phase states: random, or shadows/biases at +-max with the largest contrast
    pushing them further out (saturation)."""
    n = cfg.sizes
    if kind == "random":
        shadow = [rng.integers(-cfg.shadow_max, cfg.shadow_max + 1, (n[l + 1], n[l])) for l in range(cfg.n_layers)]
        biases = [rng.integers(-cfg.bias_max, cfg.bias_max + 1, n[l + 1]) for l in range(cfg.n_layers)]
        pos = [rng.integers(0, cfg.state_max + 1, (1, m)) for m in n[1:]]
        neg = [rng.integers(0, cfg.state_max + 1, (1, m)) for m in n[1:]]
        x = rng.integers(0, cfg.state_max + 1, (1, n[0]))
    else:
        sign = 1 if kind == "max" else -1
        shadow = [np.full((n[l + 1], n[l]), sign * cfg.shadow_max - sign) for l in range(cfg.n_layers)]
        biases = [np.full(n[l + 1], sign * cfg.bias_max - sign) for l in range(cfg.n_layers)]
        hi, lo = cfg.state_max, 0
        pos = [np.full((1, m), hi if sign > 0 else lo) for m in n[1:]]
        neg = [np.full((1, m), lo if sign > 0 else hi) for m in n[1:]]
        x = np.full((1, n[0]), hi)
    return golden.IntParams.from_shadow(cfg, shadow, biases), x, pos, neg


def ref_update(cfg, params, x, pos, neg):
    new, _ = golden.contrast_update(cfg, params, x, pos, neg)
    return new


def stream(dut, latency, inputs, outputs, bubbles=None, late=None):
    """Present `inputs` (dicts of port name -> value) one per cycle to `dut`, with a repeated earlier
    input as a bubble before one where `bubbles` (a random generator) says so, and the port of `late`
    (name, delay) that many cycles after the rest of its input; return, for each input, the `outputs`
    ports `latency` cycles after it was presented."""
    schedule, when = [], []
    for vec in inputs:
        while bubbles is not None and schedule and bubbles.random() < 0.3:
            schedule.append(schedule[int(bubbles.integers(len(schedule)))])
        when.append(len(schedule))
        schedule.append(vec)
    out = {}
    late_port, delay = late or (None, 0)

    async def tb(ctx):
        for cycle in range(len(schedule) + latency):
            for port, value in schedule[min(cycle, len(schedule) - 1)].items():
                if port != late_port:
                    ctx.set(getattr(dut, port), value)
            if late_port is not None:
                ctx.set(getattr(dut, late_port), schedule[min(max(cycle - delay, 0), len(schedule) - 1)][late_port])
            await ctx.tick()
            out[cycle + 1] = [ctx.get(getattr(dut, port)) for port in outputs]

    run(dut, tb)
    return [out[t + latency] for t in when]


def rtl_update(cfg, params, x, pos, neg, lr_shifts, bubbles=None):
    """Every weight word and bias word of every layer through the pipelined update lanes."""
    layout = memory_layout(cfg)
    p, sb = cfg.mac_lanes, cfg.state_bits
    shadow, weights, biases = [], [], []
    for l in range(cfg.n_layers):
        sh_reg, w_reg, b_reg = layout[f"shadow.{l}"], layout[f"weight.{l}"], layout[f"bias.{l}"]
        below_p = (x if l == 0 else pos[l - 1])[0]
        below_n = (x if l == 0 else neg[l - 1])[0]
        sh_words = pack_region(sh_reg, params.shadow[l])
        pw, nw = pack_words(below_p, sb, p, False), pack_words(below_n, sb, p, False)
        words = [dict(layer=l, lr_shift=lr_shifts[l], pos_row=int(pos[l][0, r]), neg_row=int(neg[l][0, r]),
                      pos=pw[k], neg=nw[k], shadow=sh_words[r * sh_reg.words_per_row + k])
                 for r in range(cfg.sizes[l + 1]) for k in range(sh_reg.words_per_row)]
        got = stream(WeightUpdate(cfg=cfg), WEIGHT_UPDATE_LATENCY, words, ["shadow_new", "weight_new"], bubbles,
                     late=("shadow", SHADOW_DELAY))
        bias_words = [dict(layer=l, lr_shift=lr_shifts[l], pos=pword, neg=nword, bias=bword)
                      for pword, nword, bword in zip(pack_words(pos[l][0], sb, p, False),
                                                     pack_words(neg[l][0], sb, p, False),
                                                     pack_region(b_reg, params.biases[l]), strict=True)]
        got_b = stream(BiasUpdate(cfg=cfg), BIAS_UPDATE_LATENCY, bias_words, ["bias_new"], bubbles,
                       late=("bias", BIAS_DELAY))
        shadow.append(unpack_region(sh_reg, [g[0] for g in got]))
        weights.append(unpack_region(w_reg, [g[1] for g in got]))
        biases.append(unpack_region(b_reg, [g[0] for g in got_b]))
    return golden.IntParams(shadow, weights, biases)


def cases():
    rng = np.random.default_rng(4)
    for name, cfg in CONFIGS.items():
        for kind in ("max", "min", "random", "random"):
            yield pytest.param(cfg, kind, cfg.lr_shifts, rng, id=f"{name}-{kind}")
        runtime = tuple(s + 2 for s in cfg.lr_shifts)   # the host anneals LR_SHIFT
        yield pytest.param(cfg, "random", runtime, rng, id=f"{name}-lr{'-'.join(map(str, runtime))}")


@pytest.mark.parametrize("cfg, kind, lr_shifts, rng", list(cases()))
def test_update_matches_golden(cfg, kind, lr_shifts, rng):
    """With random bubbles between the words, as a stalling schedule would present them."""
    params, x, pos, neg = case_params(cfg, rng, kind)
    ref = ref_update(cfg.replace(lr_shifts=lr_shifts), params, x, pos, neg)
    rtl = rtl_update(cfg, params, x, pos, neg, lr_shifts, bubbles=rng)
    for what in ("shadow", "weights", "biases"):
        for l in range(cfg.n_layers):
            got, want = getattr(rtl, what)[l], getattr(ref, what)[l]
            bad = np.argwhere(got != want)
            assert not len(bad), (f"{what} layer {l}: {len(bad)} mismatches, first at index "
                                  f"{tuple(bad[0])}: expected {want[tuple(bad[0])]}, actual {got[tuple(bad[0])]}")
            assert_array_equal(got, want)


def test_saturation_is_reached():
    """The extreme cases really saturate (otherwise they would not test the clipping)."""
    cfg = CONFIGS["int8-half_away"]
    params, x, pos, neg = case_params(cfg, np.random.default_rng(0), "max")
    new = ref_update(cfg, params, x, pos, neg)
    assert new.shadow[0].max() == cfg.shadow_max and new.biases[0].max() == cfg.bias_max


@pytest.mark.parametrize("cls", [WeightUpdate, BiasUpdate])
def test_rejects_non_config(cls):
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not 'int8'$"):
        cls(cfg="int8")
