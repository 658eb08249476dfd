"""Co-simulation of the exported Verilog under cocotb + Verilator against the golden model (`sim.tb_accel`).

One small configuration, random parameters and inputs, every cocotb test of `sim.tb_accel` in one
simulator run (each start costs seconds of Python imports): INFER (every state, RESULT, CYCLES,
STEPS, with and without bus stalls), online TRAIN (every shadow, weight and bias after every step),
every kind of refused access (SLVERR, ERROR set, nothing changed) and the register contract of
docs/register-map.md (`run_contract`). Without Verilator the test is skipped
with the reason; under ``CI=true`` it fails instead.
"""

import os
import re

import numpy as np
import pytest

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from export.lint import LintError, find_verilator
from sim import runner
from sim.cases import assert_codes, write_cases

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


def test_mismatch_names_the_case_and_dumps_the_golden_trace():
    """A design that differs from the model (here: the golden model told the wrong step size) fails with the
    set, case, phase, layer, index, expected and actual values, and the golden model's intermediate
    tensors for that case saved beside the log."""
    verilator_or_skip()
    build = runner.build(CFG)
    wrong = cases(CFG, seed=1)
    wrong["cfg"]["eps_shift"] = 2   # the RTL relaxes with eps = 1/2
    with pytest.raises(runner.SimError, match=r"set cases case 0 INFER free phase: state layer \d, index \d+: "
                                              r"expected \d+, actual \d+") as info:
        runner.run(build, wrong, testcase="test_infer")
    path = re.search(r"intermediate tensors for this case: (\S+\.npz)", str(info.value))[1]
    with np.load(path) as trace:
        assert {"x", "shadow0", "free/step1/state1", f"free/step{CFG.free_steps}/acc2"} <= set(trace.files)


def test_mismatch_message_locates_itself():
    with pytest.raises(AssertionError, match=r"^case 2 INFER free phase: state layer 1, index 3: expected 7, "
                                             r"actual 9 \(1 of 6 codes differ\)"):
        assert_codes(np.array([0, 1, 2, 9, 4, 5]), np.array([0, 1, 2, 7, 4, 5]),
                     "case 2 INFER free phase: state layer 1")


def test_waves_write_an_fst(tmp_path):
    """``make sim WAVES=1``'s path: a waves build writes an FST waveform of the run (under Icarus, which
    needs no extra library; Verilator's FST writer needs liblz4-dev)."""
    try:
        build = runner.build(CFG, sim="icarus", waves=True, root=tmp_path)
    except runner.ToolMissing as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and Icarus is missing: {e}")
        pytest.skip(str(e))
    run = runner.run(build, cases(CFG, seed=1), testcase="test_infer/stalls=False")
    assert run.waves is not None and run.waves.suffix == ".fst" and run.waves.stat().st_size > 10_000
