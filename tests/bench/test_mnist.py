"""bench.mnist: the report and the bars from per-run rows (no training here)."""

import json

from bench.mnist import PARTS, markdown, summarise


def _rows(eq1, mlp1, int8, mnist_qat, digits_float, digits_qat):
    rows = []
    for seed in (0, 1):
        rows += [
            {"part": "mnist1", "seed": seed, "float": eq1, "int8_golden": int8, "ternary_direct": 0.89,
             "qat_float": mnist_qat, "qat_golden": mnist_qat, "qat_history": [0.9, mnist_qat],
             "qat_zero_fraction": [0.5, 0.5], "seconds": 1.0},
            {"part": "mlp1", "seed": seed, "float": mlp1, "seconds": 1.0},
            {"part": "mnist2", "seed": seed, "float": 0.93, "seconds": 1.0},
            {"part": "mlp2", "seed": seed, "float": 0.92, "seconds": 1.0},
            {"part": "digits", "seed": seed, "float": digits_float, "int8_golden": digits_float,
             "ternary_direct": 0.8, "qat_float": digits_qat, "qat_golden": digits_qat, "qat_history": [digits_qat],
             "qat_zero_fraction": [0.5, 0.5], "seconds": 1.0},
        ]
    assert {r["part"] for r in rows} == set(PARTS)
    return rows


SETTINGS = {"hidden": [128], "hidden2": [128, 64], "epochs": 10, "digits_epochs": 30, "qat_epochs": 5,
            "digits_qat_epochs": 10, "qat_lr": 0.02, "quick": True}


def test_bars_pass_and_fail_at_their_thresholds():
    r = summarise(_rows(0.930, 0.935, 0.926, 0.916, 0.970, 0.956), SETTINGS, [0, 1], 2)
    assert all(r["bars"].values())
    md = markdown(r, "python -m bench.mnist --quick", 1.0)
    assert "FAIL" not in md and "784-128-10" in md and "784-128-64-10" in md
    json.dumps(r)  # the json file takes it as it is
    r = summarise(_rows(0.929, 0.935, 0.923, 0.913, 0.970, 0.954), SETTINGS, [0, 1], 2)
    assert not any(r["bars"].values())
    md = markdown(r, "python -m bench.mnist --quick", 1.0)
    assert md.count("**FAIL**") == 8  # each section and the summary
