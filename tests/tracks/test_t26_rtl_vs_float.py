import json

import pytest

from tests.tracks.conftest import check_outcome
from tracks import t26_rtl_vs_float as t
from tracks.base import Context, Status

GOOD = {"vectors": 360, "mismatches": 0, "bit_exact": True, "rtl_equals_golden_predictions": True,
        "rtl_accuracy": 0.9694, "golden_accuracy": 0.9694, "float_accuracy": 0.9722,
        "per_layer_mean_abs_error_vs_float": [0.002, 0.0008], "cycles_per_inference": 20791,
        "simulated_cycles_per_s": 87852.0}


@pytest.fixture(scope="module")
def current():
    """The results `make sim` writes for the current design (the figures above, the design record recomputed)."""
    return {**GOOD, "design": {**t.expected_design(), "train_epochs": 30, "design_digest": "0" * 64}}


@pytest.fixture
def results(tmp_path, monkeypatch):
    """An empty stand-in for the project's results/ folder, where `make sim` writes."""
    folder = tmp_path / "project-results"
    folder.mkdir()
    monkeypatch.setenv(t.RESULTS_ENV, str(folder))
    return folder


def test_reads_the_results_of_make_sim(tiny, results, current):
    (tiny.out_dir / t.RESULTS).write_text(json.dumps(current))
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert out.verdict.status == Status.PASS and out.metrics["stale"] == []


def test_finds_the_project_results_whatever_the_output_folder(tmp_path, results, current):
    (results / t.RESULTS).write_text(json.dumps(current))
    ctx = Context(mode="tiny", out_dir=tmp_path / "elsewhere")
    out = t.run(ctx)
    check_outcome(out, ctx)
    assert out.verdict.status == Status.PASS and out.metrics["source"] == str(results / t.RESULTS)


def test_missing_results_name_the_command(tiny, results):
    with pytest.raises(FileNotFoundError, match="run `make sim`"):
        t.run(tiny)


def test_results_of_another_design_are_stale(tmp_path, results, current):
    ctx = Context(mode="tiny", out_dir=tmp_path / "elsewhere")
    design = current["design"]
    cases = {"configuration": {**design, "config_digest": "f" * 64},
             "training": {**design, "train_config": {**design["train_config"], "epochs": 1}, "train_epochs": 1},
             "learning rate": {**design, "lr": 0.05},
             "digits split": {**design, "data_digest": "e" * 64}}
    for what, stale in cases.items():
        (results / t.RESULTS).write_text(json.dumps({**current, "design": stale}))
        out = t.run(ctx)
        check_outcome(out, ctx)
        assert out.verdict.status == Status.FAIL, what
        assert out.verdict.reason.startswith("STALE") and "run `make sim`" in out.verdict.reason, what
        assert out.evidence.startswith("STALE"), what
    assert "epochs 1, now 30" in t.stale_reasons({"design": cases["training"]}, t.expected_design())[0]
    (results / t.RESULTS).write_text(json.dumps(GOOD))   # written before make sim recorded its design
    assert "records no design" in t.run(ctx).verdict.reason


def test_judge_thresholds():
    assert t.judge(GOOD).status == Status.PASS
    assert t.judge({**GOOD, "stale": ["the digits split differs"]}).status == Status.FAIL
    assert t.judge({**GOOD, "mismatches": 1}).status == Status.FAIL
    assert t.judge({**GOOD, "rtl_equals_golden_predictions": False}).status == Status.FAIL
    assert t.judge({**GOOD, "vectors": 20}).status == Status.PARTIAL
    # random vectors do not stand in for test images
    assert t.judge({**GOOD, "vectors": 1020, "digits_vectors": 20}).status == Status.PARTIAL
    assert t.judge({**GOOD, "vectors": 1360, "digits_vectors": 360}).status == Status.PASS
    assert t.judge({**GOOD, "rtl_accuracy": 0.955}).status == Status.PARTIAL
    assert t.judge({**GOOD, "rtl_accuracy": 0.10}).status == Status.FAIL
