# amaranth: UnusedElaboratable=no
"""Weight-update lanes against `golden.contrast_update` / `golden.derive_weights`: every weight format and
rounding mode, saturating shadows and biases, left and right update shifts, and a run-time LR_SHIFT."""

import numpy as np
import pytest
from amaranth.hdl import Module
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.formats import memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region, pack_words, unpack_region
from rtl.update import BiasUpdate, WeightUpdate
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


def rtl_update(cfg, params, x, pos, neg, lr_shifts):
    """Run every weight word and bias word of every layer through the update lanes."""
    layout = memory_layout(cfg)
    wu, bu = WeightUpdate(cfg=cfg), BiasUpdate(cfg=cfg)
    shadow, weights, biases = [], [], []
    p, sb = cfg.mac_lanes, cfg.state_bits

    async def tb(ctx):
        for l in range(cfg.n_layers):
            sh_reg, w_reg, b_reg = layout[f"shadow.{l}"], layout[f"weight.{l}"], layout[f"bias.{l}"]
            below_p = (x if l == 0 else pos[l - 1])[0]
            below_n = (x if l == 0 else neg[l - 1])[0]
            sh_words, w_words, b_words = pack_region(sh_reg, params.shadow[l]), [], []
            pw, nw = pack_words(below_p, sb, p, False), pack_words(below_n, sb, p, False)
            for u in (wu, bu):
                ctx.set(u.layer, l)
                ctx.set(u.lr_shift, lr_shifts[l])
            new_sh = []
            for r in range(cfg.sizes[l + 1]):
                ctx.set(wu.pos_row, int(pos[l][0, r]))
                ctx.set(wu.neg_row, int(neg[l][0, r]))
                for k in range(sh_reg.words_per_row):
                    ctx.set(wu.pos, pw[k])
                    ctx.set(wu.neg, nw[k])
                    ctx.set(wu.shadow, sh_words[r * sh_reg.words_per_row + k])
                    new_sh.append(ctx.get(wu.shadow_new))
                    w_words.append(ctx.get(wu.weight_new))
            for pword, nword, bword in zip(pack_words(pos[l][0], sb, p, False), pack_words(neg[l][0], sb, p, False),
                                           pack_region(b_reg, params.biases[l]), strict=True):
                ctx.set(bu.pos, pword)
                ctx.set(bu.neg, nword)
                ctx.set(bu.bias, bword)
                b_words.append(ctx.get(bu.bias_new))
            shadow.append(unpack_region(sh_reg, new_sh))
            weights.append(unpack_region(w_reg, w_words))
            biases.append(unpack_region(b_reg, b_words))

    top = Module()
    top.submodules.wu, top.submodules.bu = wu, bu
    run(top, tb, clock=False)
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
    params, x, pos, neg = case_params(cfg, rng, kind)
    ref = ref_update(cfg.replace(lr_shifts=lr_shifts), params, x, pos, neg)
    rtl = rtl_update(cfg, params, x, pos, neg, lr_shifts)
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
