"""`python -m sim` (the `make sim` job) end to end on a few test images: trains, quantises, builds the
default design under Verilator, co-simulates, and writes the report."""

import json

from eqprop.hwconfig import HwConfig
from rtl.schedule import cycle_model
from sim.__main__ import main
from tests.sim.test_cosim import verilator_or_skip


def test_make_sim_job_writes_its_report(tmp_path, capsys):
    verilator_or_skip()
    assert main(["--vectors", "3", "--epochs", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "rtl_vs_float.json").read_text())
    assert report["vectors"] == 3 and report["mismatches"] == 0 and report["rtl_equals_golden_predictions"]
    assert report["cycles_per_inference"] == cycle_model(HwConfig())["infer"]
    assert 0.0 <= report["rtl_accuracy"] <= 1.0 and len(report["per_layer_mean_abs_error_vs_float"]) == 2
    assert "| mismatches | 0 |" in (tmp_path / "rtl_vs_float.md").read_text()
    assert "vectors compared" in capsys.readouterr().out
