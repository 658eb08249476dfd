# amaranth: UnusedElaboratable=no
"""The tiled core (`rtl.tiled_core.TiledCore`) against the golden model: every state of every sample, each
sample's steps (its own early exit), its argmax, and the command's CYCLES against the exact cycle model
(`command_cycles`), on INT8 and ternary tiles whose PE and SIMD divide none of the layers, two and three weight
layers, one layer, with and without the cached drive and early exit, one to four samples in flight, and more
samples than slots (a slot whose sample stops takes the next). A tile with one transposed index wrong, and a
pipeline latency G too short for the state writes, each fail.

Learning cores: TRAIN and INFER commands in turn, each TRAIN checked against `golden.train_sample` on every
shadow weight, weight and bias, each phase's steps and the cycles against `train_cycles` (symmetric and
one-sided estimators, the same shapes); an update that reads one wrong state fails."""

import numpy as np
import pytest

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from export.tiled import DESIGNS
from rtl import tiled_core
from rtl.tile import TileMac
from rtl.tiled_core import TiledCore, command_cycles
from sim.fuzz import draw_tiled, draw_tiled_learning
from sim.tiled import compare, compare_train, run_tiled_point, simulate, simulate_train

INT8 = HwConfig(sizes=(12, 9, 5), learning=False, free_steps=30)
TERNARY = INT8.replace(weight_format="ternary", weight_bits=2, shadow_bits=8)
DEEP = HwConfig(sizes=(10, 7, 6, 4), learning=False, free_steps=30)
ONE = HwConfig(sizes=(6, 4), learning=False, free_steps=12)

CASES = {   # name: (cfg, PE, SIMD, samples, slots, seed); blocks alternate SIMD (even layers) and PE (odd) neurons
    "int8-4x3-b3": (INT8, 4, 3, 3, 3, 0),          # 9 = 4 + 4 + 1, 5 = 3 + 2: neither divides
    "int8-3x4-b1": (INT8, 3, 4, 1, 1, 1),
    "int8-1x1-b2": (INT8, 1, 1, 2, 2, 2),
    "int8-4x3-6-samples-2-slots": (INT8, 4, 3, 6, 2, 4),
    "ternary-4x3-b4": (TERNARY, 4, 3, 4, 4, 0),
    "ternary-5x2-5-samples-3-slots": (TERNARY, 5, 2, 5, 3, 3),
    "deep-3x2-b3": (DEEP, 3, 2, 3, 3, 0),
    "deep-no-cache-3x2-4-samples-3-slots": (DEEP.replace(cache_drive=False), 3, 2, 4, 3, 0),
    "deep-fixed-T-2x3-b2": (DEEP.replace(early_exit=False, free_steps=6), 2, 3, 2, 2, 1),
    "one-layer-2x3-b2": (ONE, 2, 3, 2, 2, 0),
    "one-layer-no-cache-2x3-3-samples-1-slot": (ONE.replace(cache_drive=False), 2, 3, 3, 1, 0),
    # one-tile units (the whole layer in one tile): a pick is never followed by a pick in the next cycle
    "one-layer-4x6-one-tile-units-b3": (ONE, 4, 6, 3, 3, 0),
}


def inputs_and_params(cfg, b, seed):
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=1.0)
    for l in range(cfg.n_layers):      # biases that lift the states off zero, so the argmax has work to do
        params.biases[l] = rng.integers(-cfg.bias_max // 64, cfg.bias_max // 64, cfg.sizes[l + 1])
    return rng.integers(0, cfg.state_max + 1, (b, cfg.sizes[0])), params


@pytest.mark.parametrize("name", list(CASES))
def test_tiled_core_matches_golden(name):
    cfg, pe, simd, b, slots, seed = CASES[name]
    x, params = inputs_and_params(cfg, b, seed)
    got = simulate(cfg, pe, simd, b, x, params, slots)
    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    assert any(s.any() for s in want.states), "a case whose states stay zero checks little"
    for k, (g, w) in enumerate(zip(got["states"], want.states, strict=True), start=1):
        np.testing.assert_array_equal(g, w, err_msg=f"states of layer {k}")
    assert got["steps"] == want.steps.tolist()
    assert got["results"] == want.states[-1].argmax(axis=1).tolist()
    assert got["cycles"] == command_cycles(cfg, pe, simd, want.steps, slots)
    assert compare(cfg, pe, simd, got, x, params, slots) == []


def test_memories_written_through_the_host_port():
    cfg, pe, simd, b, slots, seed = CASES["ternary-5x2-5-samples-3-slots"]
    x, params = inputs_and_params(cfg, b, seed)
    got = simulate(cfg, pe, simd, b, x, params, slots, through_host=True)
    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    for g, w in zip(got["states"], want.states, strict=True):
        np.testing.assert_array_equal(g, w)
    assert got["results"] == want.states[-1].argmax(axis=1).tolist()


def test_samples_stop_at_their_own_fixed_point():
    """With early exit each sample takes its own steps (the case has samples of different step counts), and the
    command's cycles are the interleaved timeline's, not B times the slowest sample's."""
    cfg, pe, simd, b, _, seed = CASES["int8-4x3-b3"]
    x, params = inputs_and_params(cfg, b, seed)
    steps = golden.settle(cfg, params, x, steps=cfg.free_steps).steps
    assert len(set(steps.tolist())) > 1
    assert command_cycles(cfg, pe, simd, steps) < command_cycles(cfg, pe, simd, [steps.max()] * b)


def test_mutated_tile_fails(monkeypatch):
    """One transposed index wrong (the COLUMNS reading of tree 0, input 1), and the core no longer matches."""
    cfg, pe, simd, b, _, seed = CASES["int8-4x3-b3"]
    x, params = inputs_and_params(cfg, b, seed)
    columns = TileMac._columns

    def wrong(self, w, t, k):
        return w[k][(t + 1) % self.simd] if (t, k) == (0, 1) else columns(self, w, t, k)

    monkeypatch.setattr(TileMac, "_columns", wrong)
    got = simulate(cfg, pe, simd, b, x, params)
    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    assert any((g != w).any() for g, w in zip(got["states"], want.states, strict=True))


def test_latency_too_short_fails(monkeypatch):
    """G is what keeps a sample's next step from reading states its last step has not written yet: made shorter
    than the pipeline (a single sample, so no other sample's work hides it), the states go wrong."""
    cfg, pe, simd, _, _, seed = CASES["int8-4x3-b3"]
    x, params = inputs_and_params(cfg, 1, seed)
    short = tiled_core._wait_latency(cfg, pe, simd) - 8
    monkeypatch.setattr(tiled_core, "_wait_latency", lambda *a: short)
    got = simulate(cfg, pe, simd, 1, x, params)
    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    assert any((g != w).any() for g, w in zip(got["states"], want.states, strict=True)) or \
        got["steps"] != want.steps.tolist()


def test_refuses_what_it_does_not_build():
    with pytest.raises(ValueError, match="targets must have shape"):
        TiledCore(cfg=HwConfig(sizes=(12, 9, 5)), pe=4, simd=3, targets=np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="needs a tile"):
        TiledCore(cfg=INT8)
    with pytest.raises(ValueError, match="targets need a learning core"):
        TiledCore(cfg=INT8, pe=4, simd=3, targets=np.zeros((1, 5), dtype=int))
    with pytest.raises(ValueError, match="zero_skip"):
        TiledCore(cfg=INT8.replace(zero_skip=True), pe=4, simd=3)
    with pytest.raises(ValueError, match="pe must be at least 1"):
        TiledCore(cfg=INT8, pe=0, simd=3)
    with pytest.raises(ValueError, match="slots must be at most samples"):
        TiledCore(cfg=INT8, pe=4, simd=3, samples=2, slots=3)
    with pytest.raises(ValueError, match="inputs must have shape"):
        TiledCore(cfg=INT8, pe=4, simd=3, samples=2, inputs=np.zeros((1, 12), dtype=int))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DESIGNS))
def test_fpga_designs_on_their_data(name):
    """The designs `export.tiled` places and routes, with weights trained on their data set (one epoch of the
    golden on-chip training), their products in logic and DSP blocks as placed, on the first test images, B at
    a time: every state, the steps, the classes and the cycles."""
    from eqprop.data import load_dataset
    from eqprop.hw.onchip import annealed, train_epochs
    from eqprop.hw.quantise import quantise_input

    d = DESIGNS[name]
    cfg, data = d.hwconfig(), load_dataset(d.dataset)
    learner = cfg if cfg.learning else cfg.learning_twin()
    params, _ = train_epochs(learner, golden.init_params(learner, seed=0), data, epochs=1, seed=0,
                             schedule=annealed(cfg.lr_shifts, 1), progress=False)
    if d.learning:     # TRAIN on three training images (every parameter checked), then INFER as below
        x = quantise_input(cfg, data.x_train[:3])
        t = golden.encode_targets(cfg, data.y_train[:3])
        got = simulate_train(cfg, d.pe, d.simd, x, t, params, dsp_products=d.dsp_products, update_rows=d.update_rows,
                             samples=d.samples, slots=d.slots)
        assert compare_train(cfg, d.pe, d.simd, got, x, t, params, update_rows=d.update_rows) == []
    x = quantise_input(cfg, data.x_test[:d.samples])
    got = simulate(cfg, d.pe, d.simd, d.samples, x, params, d.slots, dsp_products=d.dsp_products)
    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    for g, w in zip(got["states"], want.states, strict=True):
        np.testing.assert_array_equal(g, w)
    assert got["steps"] == want.steps.tolist()
    assert got["results"] == want.states[-1].argmax(axis=1).tolist()
    assert d.samples == 1 or len(set(got["results"])) > 1
    assert got["cycles"] == command_cycles(cfg, d.pe, d.simd, want.steps, d.slots)


@pytest.mark.parametrize("index", [0, 2])
def test_fuzzed_points(index):
    """Two points of ``python -m sim.fuzz --tiled`` (seed 0): every parameter family of the corner sets."""
    assert run_tiled_point(draw_tiled(0, index)) == []


@pytest.mark.slow
def test_a_fuzzed_learning_point():
    """A point of ``python -m sim.fuzz --tiled --learning`` (seed 0): two TRAINs on every parameter family of the
    corner sets, the largest and smallest shadow weights and biases among them (saturation of the update)."""
    point = draw_tiled_learning(0, 0)
    assert point.cfg.learning
    assert run_tiled_point(point) == []


def test_learning_fuzz_needs_tiled(capsys):
    from sim.fuzz import main

    assert main(["--learning", "--count", "1"]) == 2
    assert "--learning needs --tiled" in capsys.readouterr().err


LEARNING = HwConfig(sizes=(12, 9, 5), free_steps=30, nudge_steps=10)
DEEP_LEARNING = HwConfig(sizes=(10, 7, 6, 4), free_steps=30, nudge_steps=8)
LEARN_CASES = {   # name: (cfg, PE, SIMD, seed, commands (True TRAIN, False INFER), through the host[, update rows])
    "int8-4x3-train-infer-train": (LEARNING, 4, 3, 0, [True, False, True], False),
    "int8-6x3-three-rows-a-cycle-host": (LEARNING, 6, 3, 5, [True, True], True, 3),
    "deep-4x2-two-rows-a-cycle": (DEEP_LEARNING, 4, 2, 6, [True, True], False, 2),
    "int8-3x4-one-sided-host": (LEARNING.replace(estimator="one-sided"), 3, 4, 1, [True, True], True),
    "ternary-5x2": (LEARNING.replace(weight_format="ternary", weight_bits=2, shadow_bits=8), 5, 2, 3, [True, True],
                    False),
    "deep-3x2": (DEEP_LEARNING, 3, 2, 0, [True, True], False),
    "deep-no-cache-2x3": (DEEP_LEARNING.replace(cache_drive=False), 2, 3, 1, [True], False),
    "deep-fixed-T-3x2": (DEEP_LEARNING.replace(early_exit=False, free_steps=5, nudge_steps=3), 3, 2, 2, [True, True],
                         False),
    "one-layer-4x6-one-tile": (HwConfig(sizes=(6, 4), free_steps=12, nudge_steps=6), 4, 6, 1, [True, True], False),
    "int8-1x1-floor": (LEARNING.replace(rounding="floor"), 1, 1, 4, [True, True], False),
}


def learning_data(cfg, commands, seed):
    x, params = inputs_and_params(cfg, len(commands), seed)
    rng = np.random.default_rng(seed + 100)
    return x, golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], len(commands))), params


SLOW_LEARN_CASES = ("int8-1x1-floor", "deep-3x2")     # (deep networks: three more cases in make test)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_LEARN_CASES else n
                                  for n in LEARN_CASES])
def test_learning_core_matches_golden(name):
    """TRAIN commands (and an INFER between), each against `golden.train_sample` on every shadow weight, weight and
    bias, its free states and result, each phase's steps and the cycles (`train_cycles`, `command_cycles`)."""
    cfg, pe, simd, seed, commands, host, *rows = LEARN_CASES[name]
    rows = rows[0] if rows else 1
    x, t, params = learning_data(cfg, commands, seed)
    got = simulate_train(cfg, pe, simd, x, t, params, train=commands, through_host=host, update_rows=rows)
    assert compare_train(cfg, pe, simd, got, x, t, params, train=commands, update_rows=rows) == []
    trained = golden.train(cfg, params, x[np.array(commands)], t[np.array(commands)])
    assert any((a != b).any() for a, b in zip(trained.shadow, params.shadow, strict=True)), "training changed nothing"


def test_a_learning_core_infers_several_samples_and_trains_its_first():
    """A learning core of 4 samples on 2 slots: its INFER relaxes all four interleaved (each sample's states, steps
    and result, and the cycles, as an inference core's), and its TRAIN the first, as a core of one sample does."""
    cfg = LEARNING.replace(estimator="one-sided")
    x, params = inputs_and_params(cfg, 4, 7)
    got = simulate(cfg, 3, 4, 4, x, params, 2)
    assert compare(cfg, 3, 4, got, x, params, 2) == []
    x, t, params = learning_data(cfg, [True, True], 8)
    got = simulate_train(cfg, 3, 4, x, t, params, samples=4, slots=2)
    assert compare_train(cfg, 3, 4, got, x, t, params) == []


def test_update_reading_a_wrong_state_fails(monkeypatch):
    """The update's rows of one tile of W_1 take the odd layer's state of the next row (one index wrong), and the
    shadow weights no longer match."""
    cfg, pe, simd, seed, commands, _ = LEARN_CASES["int8-4x3-train-infer-train"]
    right = tiled_core.update_program

    def wrong(cfg_, plan, rows=1):
        ops = right(cfg_, plan, rows)
        for op in ops:
            if op["l"] == 1 and op["word"] == tiled_core.weight_base(plan, 1):
                op["i"] = (op["i"] + 1) % plan.pe
        return ops

    monkeypatch.setattr(tiled_core, "update_program", wrong)
    x, t, params = learning_data(cfg, [True], seed)
    bad = compare_train(cfg, pe, simd, simulate_train(cfg, pe, simd, x, t, params), x, t, params)
    assert any("shadow of layer 1" in line for line in bad)
