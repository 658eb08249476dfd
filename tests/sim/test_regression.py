"""Regression co-simulation: every configuration of `sim.vectors.REGRESSION` (lane counts 1 .. 64, INT8,
INT4 and ternary weights, one and two hidden layers, sizes the lane count does not divide, an
inference-only core, early exit with and without the cached drive, 2 and 4 samples per command, and the tiled
core: learning and inference-only, INT8 and ternary, PE x SIMD tiles that divide no layer), each with
random and corner-case vectors (saturating, clamping and checkerboard weights, ternary zeros), under
Verilator and under Icarus Verilog: INFER (every state, with and without bus stalls), online TRAIN
(every shadow, weight and bias after every step, through the bus) and every illegal access, 0 mismatches.

A simulator that is not installed skips its tests with the reason; under ``CI=true`` they fail
instead (`.ci/run` installs Icarus).
"""

import os

import pytest

from sim import runner
from sim.cases import write_cases
from sim.vectors import FAMILIES, REGRESSION, corner_sets

VECTORS = 12   # two per family: a corner row and a random one


def build_or_skip(cfg, sim):
    try:
        return runner.build(cfg, sim=sim)
    except runner.ToolMissing as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {sim} is missing: {e}")
        pytest.skip(str(e))


# Icarus interprets the 64-lane core at a few hundred cycles per second: its run (about ten minutes) is
# in the slow suite (`make test-slow`); Verilator runs it in `make test`. To keep `make test` near its
# 20-minute budget, Icarus runs a representative half in `make test` (one and two hidden layers, ternary,
# inference-only, B samples, zero-skipping) and the other configurations in the slow suite; Verilator
# runs every configuration in `make test` but the 64-lane one (about 100 s), which pays for the netlist
# co-simulation of tests/sim/test_netlist.py and runs in the slow suite under both simulators.
# The tiled core's configurations: a learning and an inference-only one under Verilator in `make test`, the
# inference-only one under Icarus too (its learning ones take 40-60 s there), the rest in the slow suite; to pay
# for them, three P-lane configurations whose features other Icarus runs in `make test` cover (ternary, B samples,
# inference-only: ternary_p4_b3_skip) run under Icarus in the slow suite only.
SLOW = {("int8_p64", "icarus"), ("int8_p64", "verilator")} | {(name, "icarus") for name in (
    "int8_p8_wide", "ternary_2hidden_p5", "int8_p1_state6", "int4_p3_settles_no_cache", "int4_p4_odd",
    "int8_2hidden_p2", "ternary_p3_b4", "ternary_p3", "int8_p4_b2", "int8_p4_inference_only",
    "tiled_int8_3x4", "tiled_ternary_2hidden_2x3", "tiled_int8_4x5_b3")} | {
    (name, "verilator") for name in ("tiled_ternary_2hidden_2x3", "tiled_int8_4x5_b3")}


@pytest.mark.parametrize("name, sim", [pytest.param(n, s, marks=[pytest.mark.slow] if (n, s) in SLOW else [])
                                       for n in REGRESSION for s in runner.SIMULATORS])
def test_configuration_matches_golden(name, sim):
    cfg = REGRESSION[name]
    b = build_or_skip(cfg, sim)
    vectors = max(VECTORS, len(FAMILIES) * cfg.samples)    # B distinct samples in a command of each family
    run = runner.run(b, write_cases(cfg, corner_sets(cfg, vectors, seed=len(name))))
    tests = sorted((s["test"], s["stalls"]) for s in run.stats)
    trains = [("train", False), ("train", True)] if cfg.learning else []    # an inference-only core cannot
    assert tests == [("infer", False), ("infer", True), *trains], run.stats
    assert all(s["cases"] == vectors for s in run.stats)


def test_enough_configurations():
    """The issue's floor: six configurations or more, covering each weight format, 1 and 2 hidden layers,
    and a lane count that does not divide a layer."""
    cfgs = list(REGRESSION.values())
    assert len(cfgs) >= 6
    assert {c.weight_format for c in cfgs} == {"int", "ternary"} and {4, 8} <= {c.weight_bits for c in cfgs}
    assert {len(c.sizes) - 2 for c in cfgs} >= {1, 2}
    assert any(n % c.mac_lanes for c in cfgs for n in c.sizes)
    # the pipelined core's modes: 64 lanes, an inference-only core, early exit without the cached drive
    assert max(c.mac_lanes for c in cfgs) == 64 and not all(c.learning for c in cfgs)
    assert any(c.early_exit and not c.cache_drive for c in cfgs)
    assert {1, 2, 4} <= {c.samples for c in cfgs}       # samples per command
    assert any(c.zero_skip and c.learning for c in cfgs) and any(c.zero_skip and c.samples > 1 for c in cfgs)
    # the tiled core: ternary and INT8, learning and inference-only, a PE and a SIMD that divide no layer
    tiled = [c for c in cfgs if c.tiled]
    assert {(c.weight_format, c.learning) for c in tiled} == {(f, lr) for f in ("int", "ternary") for lr in (0, 1)}
    assert any(n % c.pe for c in tiled for n in c.sizes) and any(n % c.simd for c in tiled for n in c.sizes)
    assert any(c.slots < c.samples for c in tiled if c.slots)
