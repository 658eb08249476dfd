"""The 784-input core (MNIST's 28x28 images) needs nothing of its own: `HwConfig` sizes the memories, the
register map and the windows. Co-simulated on a handful of real mnist5k images through the fast path
(INFER and TRAIN, every state and parameter against the golden model), and `python -m sim.mnist`
(`make sim-mnist`) end to end on a few images in the slow suite."""

import json

import numpy as np
import pytest

from eqprop.data import load_mnist5k_split
from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.quantise import quantise_input
from sim import fast
from sim.cases import write_cases
from sim.mnist import main
from tests.sim.test_cosim import verilator_or_skip

CFG = HwConfig(sizes=(784, 8, 10), free_steps=30, nudge_steps=10, mac_lanes=8)


def test_784_input_core_on_mnist_images():
    """INFER and TRAIN on four real MNIST test images: every state, RESULT, CYCLES, and after each TRAIN
    every shadow, weight and bias read back through the bus, bit for bit."""
    verilator_or_skip()
    data = load_mnist5k_split()
    x = quantise_input(CFG, data.x_test[:4])
    params = golden.init_params(CFG, seed=3, gain=2.0)
    r = fast.run(fast.build(CFG), write_cases(CFG, params, x, golden.encode_targets(CFG, data.y_test[:4])))
    assert len(r.command_cycles) == 8 and r.reads > 4 * 2 * (784 * 8 + 8 * 10)
    assert r.results == golden.predict(CFG, params, x).tolist()


@pytest.mark.slow
def test_sim_mnist_job_writes_its_report(tmp_path):
    verilator_or_skip()
    assert main(["--vectors", "5", "--epochs", "1", "--hidden", "16", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "rtl_vs_float_mnist.json").read_text())
    assert report["network"] == [784, 16, 10] and report["vectors"] == 5 and report["mismatches"] == 0
    assert report["rtl_equals_golden_predictions"] and report["rtl_accuracy"] == report["golden_accuracy"]
    assert 0 < report["cycles_per_inference"] <= report["cycles_per_inference_fixed_t"]
    assert np.isfinite(report["float_accuracy"])
    assert "| mismatches | 0 |" in (tmp_path / "rtl_vs_float_mnist.md").read_text()


def test_a_matrix_wider_than_65536_entries_gets_a_wider_window():
    """784-84-10: W_0 has 65,856 entries, past the least weight window, so the register map (3.3) gives the
    weight and shadow windows S = 0x80000; loading, TRAIN and reading every parameter back go through them."""
    from eqprop.hw.formats import WEIGHT_WINDOW, weight_window

    verilator_or_skip()
    cfg = HwConfig(sizes=(784, 84, 10), mac_lanes=8)
    assert weight_window(cfg) == 2 * WEIGHT_WINDOW
    data = load_mnist5k_split()
    x = quantise_input(cfg, data.x_test[:2])
    params = golden.init_params(cfg, seed=4, gain=2.0)
    r = fast.run(fast.build(cfg), write_cases(cfg, params, x, golden.encode_targets(cfg, data.y_test[:2])))
    assert len(r.command_cycles) == 4 and r.reads > 2 * 2 * (784 * 84 + 84 * 10)
