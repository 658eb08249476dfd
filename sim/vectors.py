"""Random and corner-case test vectors for co-simulation: parameter sets that drive the datapath to its
edges, each with inputs that do the same.

Each family is one parameter set (loaded once) with its inputs, as `sim.cases.case_set` dicts:

- ``random``: the training init at gain 3 (lively states), inputs uniform over the code range;
- ``max_weights`` / ``min_weights``: every shadow at +-shadow_max (so every weight at +-weight_max, or
  +-1 ternary) and every bias at the same extreme: states saturate high, or clamp at zero;
- ``checkerboard``: +-shadow_max in a checkerboard with +-bias_max biases: the largest accumulators of
  both signs in one step;
- ``sparse_zeros``: three quarters of the shadows zero, the rest small (ternary: mostly below the
  threshold, so most weights are ternary zeros), random biases;
- ``tiny``: shadows within a few codes of zero, where the weight rounding and the ternary threshold
  decide the weight.

Every family's inputs start with the corner rows (all zero, all state_max, a one-hot, alternating
0 / state_max) and fill up with uniform random rows. Targets are one-hot codes of random labels, so the
same sets serve TRAIN.
"""

from __future__ import annotations

import numpy as np

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from sim.cases import case_set

__all__ = ["FAMILIES", "REGRESSION", "corner_inputs", "corner_sets"]

FAMILIES = ("random", "max_weights", "min_weights", "checkerboard", "sparse_zeros", "tiny")


def corner_inputs(cfg: HwConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, n_0) input codes: the corner rows first, then uniform random rows."""
    n0, top = cfg.sizes[0], cfg.state_max
    corners = [np.zeros(n0), np.full(n0, top), np.eye(n0)[0] * top, np.arange(n0) % 2 * top]
    rows = [np.asarray(c, dtype=np.int64) for c in corners][:n]
    rows += list(rng.integers(0, top + 1, (max(0, n - len(rows)), n0)))
    return np.array(rows, dtype=np.int64).reshape(n, n0)


def _family(cfg: HwConfig, name: str, rng: np.random.Generator, seed: int) -> golden.IntParams:
    smax, bmax = cfg.shadow_max, cfg.bias_max
    shapes = [(cfg.sizes[l + 1], cfg.sizes[l]) for l in range(cfg.n_layers)]
    if name == "random":
        return golden.init_params(cfg, seed=seed, gain=3.0)
    if name in ("max_weights", "min_weights"):
        sign = 1 if name == "max_weights" else -1
        shadow = [np.full(s, sign * smax) for s in shapes]
        biases = [np.full(s[0], sign * bmax) for s in shapes]
    elif name == "checkerboard":
        shadow = [np.where(np.add.outer(np.arange(r), np.arange(c)) % 2 == 0, smax, -smax) for r, c in shapes]
        biases = [np.where(np.arange(r) % 2 == 0, bmax, -bmax) for r, _ in shapes]
    elif name == "sparse_zeros":
        small = max(1, min(smax, 2 * cfg.ternary_threshold_code if cfg.weight_format == "ternary" else smax // 4))
        shadow = [np.where(rng.random(s) < 0.75, 0, rng.integers(-small, small + 1, s)) for s in shapes]
        biases = [rng.integers(-bmax // 4, bmax // 4 + 1, s[0]) for s in shapes]
    elif name == "tiny":
        edge = cfg.ternary_threshold_code if cfg.weight_format == "ternary" else 1 << cfg.shadow_extra
        shadow = [rng.integers(-2 * edge, 2 * edge + 1, s).clip(-smax, smax) for s in shapes]
        biases = [rng.integers(-4, 5, s[0]).clip(-bmax, bmax) for s in shapes]
    else:
        raise ValueError(f"unknown vector family {name!r}; the families are {', '.join(FAMILIES)}")
    return golden.IntParams.from_shadow(cfg, [np.asarray(a, dtype=np.int64) for a in shadow],
                                        [np.asarray(b, dtype=np.int64) for b in biases])


def corner_sets(cfg: HwConfig, n_vectors: int, *, seed: int = 0, families=FAMILIES) -> list[dict]:
    """`n_vectors` cases spread over `families` (each a `case_set` with its own parameters)."""
    rng = np.random.default_rng(seed)
    sets, per = [], [n_vectors // len(families) + (i < n_vectors % len(families)) for i in range(len(families))]
    for i, (name, n) in enumerate(zip(families, per, strict=True)):
        if n == 0:
            continue
        params = _family(cfg, name, rng, seed + i)
        x = corner_inputs(cfg, n, rng)
        target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], n))
        sets.append(case_set(params, x, target, name=name))
    return sets


# The regression configurations: lane counts 1 .. 64, INT8 / INT4 / ternary weights, one and two hidden
# layers, sizes that the lane count does not divide, both estimators, a narrow state, an inference-only
# core, early exit with and without the cached input drive (every configuration has early exit; the long
# limits of the inference-only and settling ones let the phases reach their fixed points), zero-skipping,
# and B = 2 and 4 samples per command. Short relaxations keep each co-simulation to seconds; the default configuration
# is `make sim`'s.
REGRESSION = {
    "int8_p2": HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2),
    "int4_p4_odd": HwConfig(sizes=(7, 5, 3), weight_bits=4, shadow_bits=12, mac_lanes=4, free_steps=5,
                            nudge_steps=2),
    "ternary_p3": HwConfig(sizes=(9, 7, 4), weight_format="ternary", weight_bits=2, shadow_bits=10,
                           mac_lanes=3, free_steps=4, nudge_steps=2),
    "int8_2hidden_p2": HwConfig(sizes=(6, 5, 4, 3), mac_lanes=2, free_steps=5, nudge_steps=3),
    "ternary_2hidden_p5": HwConfig(sizes=(11, 6, 5, 3), weight_format="ternary", weight_bits=2, shadow_bits=10,
                                   mac_lanes=5, free_steps=4, nudge_steps=2, estimator="one-sided"),
    "int8_p1_state6": HwConfig(sizes=(10, 13, 3), mac_lanes=1, state_bits=6, eps_shift=1, free_steps=3,
                               nudge_steps=2),
    "int8_p8_wide": HwConfig(sizes=(16, 12, 10), mac_lanes=8, free_steps=4, nudge_steps=2),
    "int8_p64": HwConfig(sizes=(64, 12, 5), mac_lanes=64, free_steps=5, nudge_steps=2),
    "int8_p4_inference_only": HwConfig(sizes=(12, 9, 4), mac_lanes=4, free_steps=40, learning=False),
    "int4_p3_settles_no_cache": HwConfig(sizes=(7, 5, 3), weight_bits=4, shadow_bits=12, mac_lanes=3, free_steps=40,
                                         nudge_steps=20, cache_drive=False),
    # B samples per command sharing each weight read (inference-only): 2 INT8, 4 ternary
    "int8_p4_b2": HwConfig(sizes=(12, 9, 4), mac_lanes=4, free_steps=40, learning=False, samples=2),
    "ternary_p3_b4": HwConfig(sizes=(9, 7, 4), weight_format="ternary", weight_bits=2, shadow_bits=10, mac_lanes=3,
                              free_steps=30, learning=False, samples=4),
    # zero-skipping: a learning core with two top-down layers, and B = 3 samples sharing the skips
    "int8_2hidden_p3_skip": HwConfig(sizes=(8, 7, 6, 4), mac_lanes=3, free_steps=40, nudge_steps=20, zero_skip=True),
    "ternary_p4_b3_skip": HwConfig(sizes=(12, 9, 6), weight_format="ternary", weight_bits=2, shadow_bits=10,
                                   mac_lanes=4, free_steps=40, learning=False, samples=3, zero_skip=True),
    # the tiled core (rtl.tiled_core behind rtl.tiled_bus): PE x SIMD tiles that divide no layer; learning INT8
    # and ternary (two hidden layers, one-sided), inference-only INT8 and ternary with samples on fewer slots
    "tiled_int8_3x4": HwConfig(sizes=(12, 9, 5), free_steps=30, nudge_steps=10, pe=3, simd=4),
    "tiled_ternary_2hidden_2x3": HwConfig(sizes=(8, 7, 6, 4), weight_format="ternary", weight_bits=2, shadow_bits=10,
                                          free_steps=30, nudge_steps=10, estimator="one-sided", pe=2, simd=3),
    "tiled_int8_4x5_b3": HwConfig(sizes=(12, 9, 6), free_steps=40, learning=False, pe=4, simd=5, samples=3,
                                  slots=2),
    "tiled_ternary_3x2_b4": HwConfig(sizes=(9, 7, 4), weight_format="ternary", weight_bits=2, shadow_bits=10,
                                     free_steps=30, learning=False, pe=3, simd=2, samples=4, slots=3),
}
