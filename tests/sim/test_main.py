"""`python -m sim` (the `make sim` job) and `python -m sim.train` (`make sim-train`) end to end on a few
vectors: train, quantise, build the default design under Verilator, co-simulate, write the reports."""

import json

import pytest

from eqprop.data import load_digits_split
from eqprop.hw.hwconfig import HwConfig
from eqprop.train import TrainConfig
from rtl.schedule import cycle_model
from sim.__main__ import EPOCHS, design_record, main, train_config
from sim.train import main as train_main
from tests.sim.test_cosim import verilator_or_skip
from tracks import t26_rtl_vs_float as t26


def test_make_sim_job_writes_its_report(tmp_path, capsys):
    verilator_or_skip()
    assert main(["--vectors", "3", "--random", "6", "--epochs", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "rtl_vs_float.json").read_text())
    assert report["vectors"] == 9 and report["random_vectors"] == 6 and len(report["random_families"]) == 6
    assert report["mismatches"] == 0 and report["rtl_equals_golden_predictions"]
    # early exit: the mean and max over the images (each checked against the RTL's CYCLES) within fixed T
    assert report["cycles_per_inference_fixed_t"] == cycle_model(HwConfig())["infer"]
    assert 0 < report["cycles_per_inference"] <= report["cycles_per_inference_max"]
    assert report["cycles_per_inference_max"] <= report["cycles_per_inference_fixed_t"]
    assert 0.0 <= report["rtl_accuracy"] <= 1.0 and len(report["per_layer_mean_abs_error_vs_float"]) == 2
    assert report["free_running_cycles_per_s"] > 0
    assert "| mismatches | 0 |" in (tmp_path / "rtl_vs_float.md").read_text()
    assert "vectors compared" in capsys.readouterr().out
    # what was simulated: track 26 recomputes all of it but the weights, and this 1-epoch run is not the default
    design = report["design"]
    assert design["train_epochs"] == design["train_config"]["epochs"] == 1 and len(design["design_digest"]) == 64
    assert t26.stale_reasons(report, t26.expected_design()) == [f"the float training differs: epochs 1, now {EPOCHS}"]


def test_design_record_is_recomputable_without_training():
    """The record track 26 compares: the same for the same settings, different when the design's settings differ."""
    data = load_digits_split()
    record = design_record(train_config(), data)
    assert record == design_record(train_config(), data) == t26.expected_design()
    assert record["train_config"]["epochs"] == EPOCHS and record["lr"] == 0.2
    assert design_record(train_config(3), data)["config_digest"] == record["config_digest"]
    other = TrainConfig(**{**record["train_config"], "free_steps": 20})
    assert design_record(other, data)["config_digest"] != record["config_digest"]   # the chip's T changes


@pytest.mark.parametrize("engine", ["fast", "cocotb"])
def test_onchip_training_job_writes_its_report(tmp_path, engine):
    """A few TRAIN steps of the default design (every parameter compared after each), then INFER with
    what it learnt, on each engine; the accuracy is a figure of the tiny run, not the target's."""
    verilator_or_skip()
    assert train_main(["--epochs", "1", "--limit", "3", "--test", "4", "--engine", engine, "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "onchip_training.json").read_text())
    assert report["engine"] == engine
    assert report["train_steps"] == 3 and report["test_images"] == 4 and report["mismatches"] == 0
    assert report["rtl_test_accuracy"] == report["golden_test_accuracy_of_rtl_weights"]
    assert report["parameter_codes_checked"] == 3 * (2 * (64 * 64 + 64 * 10) + 64 + 10)
    assert report["meets_target"] == (report["rtl_test_accuracy"] >= 0.95)
    verdict = "meets" if report["meets_target"] else "MISSES"
    assert f"({verdict} the 95% target)" in (tmp_path / "onchip_training.md").read_text()
