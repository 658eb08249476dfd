import json

import pytest

from tests.tracks.conftest import check_outcome
from tracks import t26_rtl_vs_float as t
from tracks.base import Status

GOOD = {"vectors": 360, "mismatches": 0, "bit_exact": True, "rtl_equals_golden_predictions": True,
        "rtl_accuracy": 0.9694, "golden_accuracy": 0.9694, "float_accuracy": 0.9722,
        "per_layer_mean_abs_error_vs_float": [0.002, 0.0008], "cycles_per_inference": 20791,
        "simulated_cycles_per_s": 87852.0}


def test_reads_the_results_of_make_sim(tiny):
    (tiny.out_dir / "rtl_vs_float.json").write_text(json.dumps(GOOD))
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert out.verdict.status == Status.PASS


def test_missing_results_name_the_command(tiny):
    with pytest.raises(FileNotFoundError, match="run `make sim`"):
        t.run(tiny)


def test_judge_thresholds():
    assert t.judge(GOOD).status == Status.PASS
    assert t.judge({**GOOD, "mismatches": 1}).status == Status.FAIL
    assert t.judge({**GOOD, "rtl_equals_golden_predictions": False}).status == Status.FAIL
    assert t.judge({**GOOD, "vectors": 20}).status == Status.PARTIAL
    # random vectors do not stand in for test images
    assert t.judge({**GOOD, "vectors": 1020, "digits_vectors": 20}).status == Status.PARTIAL
    assert t.judge({**GOOD, "vectors": 1360, "digits_vectors": 360}).status == Status.PASS
    assert t.judge({**GOOD, "rtl_accuracy": 0.955}).status == Status.PARTIAL
    assert t.judge({**GOOD, "rtl_accuracy": 0.10}).status == Status.FAIL
