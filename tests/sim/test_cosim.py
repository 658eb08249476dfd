"""Co-simulation of the exported Verilog under cocotb + Verilator against the golden model (`sim.tb_accel`).

One small configuration, random parameters and inputs, every cocotb test of `sim.tb_accel` in one
simulator run (each start costs seconds of Python imports): INFER (every state, RESULT, CYCLES,
STEPS, with and without bus stalls), online TRAIN (every shadow, weight and bias after every step)
and an unknown mode (SLVERR, ERROR set, nothing changed). Without Verilator the test is skipped
with the reason; under ``CI=true`` it fails instead.
"""

import os

import numpy as np
import pytest

from eqprop import golden
from eqprop.hwconfig import HwConfig
from export.lint import LintError, find_verilator
from sim import runner
from sim.tb_accel import assert_codes, write_cases

CFG = HwConfig(sizes=(5, 6, 3), mac_lanes=2, free_steps=4, nudge_steps=2)
N_CASES = 4


def verilator_or_skip():
    try:
        return find_verilator()
    except LintError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no usable Verilator: {e}")
        pytest.skip(f"no usable Verilator: {e}")


def cases(cfg, seed):
    """Parameters with lively states (gain 3), inputs over the whole code range, one-hot targets."""
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    x = rng.integers(0, cfg.state_max + 1, (N_CASES, cfg.sizes[0]))   # (B, n_0) input codes
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], N_CASES))   # (B, n_out)
    return write_cases(cfg, params, x, target)


def test_cosim_matches_golden():
    verilator_or_skip()
    build = runner.build(CFG)
    run = runner.run(build, cases(CFG, seed=1))
    infer = [s for s in run.stats if s["test"] == "infer"]
    assert len(infer) == 2, f"both INFER runs (with and without stalls) report their figures: {run.stats}"


def test_mismatch_message_locates_itself():
    with pytest.raises(AssertionError, match=r"^case 2 INFER free phase: state layer 1, index 3: expected 7, "
                                             r"actual 9 \(1 of 6 codes differ\)"):
        assert_codes(np.array([0, 1, 2, 9, 4, 5]), np.array([0, 1, 2, 7, 4, 5]),
                     "case 2 INFER free phase: state layer 1")
