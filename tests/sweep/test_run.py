"""Sweeps on a local Ray (sweep/runner.py, sweep/store.py, sweep/report.py): a tiny sweep of the golden model
(no synthesis), a failing trial recorded while the others finish, and a sweep killed after its first trial
and resumed without redoing it. One Ray session (two CPUs) serves the module; the killed sweep runs as a
process of its own, with its own Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from sweep.__main__ import main
from sweep.runner import run_points
from sweep.spec import load_spec, points
from sweep.store import Store
from sweep.trial import evaluate

ROOT = Path(__file__).resolve().parents[2]

# Three points of a small network on a slice of digits: a few seconds each.
TINY = """
name: tiny
epochs: 1
seeds: [0]
train_samples: 80
test_samples: 40
base: {sizes: [64, 16, 10], mac_lanes: 4}
vary:
  state_bits: [4, 6, 8]
objectives: [accuracy, cycles_per_inference]
"""


@pytest.fixture(scope="module")
def ray_session():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # Ray's own imports
        ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def sweep_file(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def test_tiny_sweep(ray_session, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(sweep_file(tmp_path)), "--out", str(out), "--workers", "2"]) == 0
    folder = out / "tiny"
    records = Store(folder).records()
    assert [r["status"] for r in records] == ["ok"] * 3
    assert [r["hwconfig"]["state_bits"] for r in records] == [4, 6, 8]
    for r in records:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["cycles_per_inference"] > 0
        assert r["cycles_per_inference"] <= r["cycles_per_inference_model"]   # early exit: at most the limit
        assert r["luts"] is None and r["inferences_per_s"] is None             # no device
        assert r["node_id"] and r["node_ip"]                                     # the Ray node that ran it
    results = json.loads((folder / "results.json").read_text())
    front = results["fronts"][0]
    assert front["x"] == "cycles_per_inference" and front["front"]
    assert (folder / "pareto-cycles_per_inference-none.png").stat().st_size > 1000
    assert (folder / "results.csv").read_text().count("\n") == 4
    text = capsys.readouterr().out
    assert "3 to run" in text and "overhead" in text and "| state_bits=4 @none | none | ok |" in text
    # the same sweep again without --resume is refused: its finished records would be left behind
    assert main([str(sweep_file(tmp_path)), "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err


def failing(point: dict, settings: dict) -> dict:
    """`evaluate`, except that the state_bits=6 point fails."""
    if point["fields"].get("state_bits") == 6:
        raise RuntimeError("synthetic failure of this point")
    return evaluate(point, settings)


def test_failing_trial_is_recorded_and_the_others_finish(ray_session, tmp_path, capsys):
    ray_session.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers need not import tests
    spec = load_spec(sweep_file(tmp_path))
    pts = points(spec)
    folder = tmp_path / "out" / "tiny"
    timing = run_points(spec, pts, folder, workers=2, evaluate=failing, progress=False)
    assert timing["trials"] == 3
    by_state = {r["hwconfig"]["state_bits"]: r for r in Store(folder).records()}
    assert by_state[6]["status"] == "failed"
    assert by_state[6]["error"] == "RuntimeError: synthetic failure of this point"
    assert by_state[4]["status"] == by_state[8]["status"] == "ok"
    assert Store(folder).finished() == {by_state[4]["id"], by_state[8]["id"]}
    # --resume runs the failed point again (and only it); the report lists no failure afterwards
    before = {s: os.stat(Store(folder).path(by_state[s]["id"])).st_mtime_ns for s in (4, 8)}
    assert main([str(sweep_file(tmp_path)), "--out", str(tmp_path / "out"), "--resume"]) == 0
    assert "2 already finished, 1 to run" in capsys.readouterr().out
    assert {s: os.stat(Store(folder).path(by_state[s]["id"])).st_mtime_ns for s in (4, 8)} == before
    assert Store(folder).path(by_state[6]["id"]).exists() and len(Store(folder).finished()) == 3


@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_killed_sweep_resumes_without_redoing(ray_session, tmp_path, capsys, how):
    """SIGKILL: the driver and every process of its session at once; Ctrl-C (SIGINT to the driver): Ray Tune
    stops, the finished points' report is written and the exit status is 130."""
    path = sweep_file(tmp_path, TINY.replace("train_samples: 80", "train_samples: 300"))
    out = tmp_path / "out"
    trials = out / "tiny" / "trials"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "sweep", str(path), "--out", str(out), "--workers", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        while not list(trials.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        if how == "SIGKILL":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    if how == "Ctrl-C":
        assert proc.returncode == 130 and "interrupted: the sweep stopped at Ctrl-C" in err, err
        assert (out / "tiny" / "results.md").exists()
    first = {f.name: (f.stat().st_mtime_ns, f.read_text()) for f in trials.glob("*.json")}
    assert 1 <= len(first) < 3, "the sweep was to be killed after its first trial"
    assert not list(trials.glob(".tmp-*"))
    assert main([str(path), "--out", str(out), "--resume"]) == 0
    assert f"{len(first)} already finished, {3 - len(first)} to run" in capsys.readouterr().out
    assert {f.name: (f.stat().st_mtime_ns, f.read_text()) for f in trials.glob("*.json") if f.name in first} == first
    assert len(Store(out / "tiny").finished()) == 3


def test_timeout_and_isolation(ray_session, tmp_path, capsys):
    """With timeout_s each point runs in a process of its own: one that finishes is recorded as usual, one
    past the limit is killed and recorded as failed."""
    path = sweep_file(tmp_path, TINY.replace("state_bits: [4, 6, 8]", "state_bits: [8]") + "timeout_s: 120\n")
    assert main([str(path), "--out", str(tmp_path / "a")]) == 0
    (rec,) = Store(tmp_path / "a" / "tiny").records()
    assert rec["status"] == "ok" and rec["accuracy"] > 0
    path.write_text(TINY.replace("state_bits: [4, 6, 8]", "state_bits: [8]") + "timeout_s: 0.5\n")
    assert main([str(path), "--out", str(tmp_path / "b")]) == 1
    (rec,) = Store(tmp_path / "b" / "tiny").records()
    assert rec["status"] == "failed"
    assert rec["error"] == "TrialTimeout: timed out after 0.5 s (timeout_s in the sweep file)"
    assert "## Failed points" in capsys.readouterr().out


def test_optuna_search(ray_session, tmp_path, capsys):
    """Optuna's multi-objective search picks points of the grid by their objectives; each trial is recorded."""
    pytest.importorskip("optuna")
    path = sweep_file(tmp_path, TINY.replace("state_bits: [4, 6, 8]", "state_bits: [4, 6, 8]\n  mac_lanes: [2, 4]"))
    assert main([str(path), "--out", str(tmp_path / "out"), "--search", "optuna", "--samples", "3"]) == 0
    records = Store(tmp_path / "out" / "tiny").records()
    assert 1 <= len(records) <= 3 and all(r["status"] == "ok" for r in records)
    assert all(r["hwconfig"]["mac_lanes"] in (2, 4) for r in records)


def dying(point: dict, settings: dict) -> dict:
    """`evaluate`, except that the state_bits=8 point kills its Ray worker process."""
    if point["fields"].get("state_bits") == 8:
        os._exit(3)
    return evaluate(point, settings)


def test_dead_worker_is_recorded_and_the_others_finish(ray_session, tmp_path):
    ray_session.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spec = load_spec(sweep_file(tmp_path))
    folder = tmp_path / "out" / "tiny"
    run_points(spec, points(spec), folder, workers=2, evaluate=dying, progress=False)
    by_state = {r["hwconfig"]["state_bits"]: r for r in Store(folder).records()}
    assert by_state[4]["status"] == by_state[6]["status"] == "ok"
    assert by_state[8]["status"] == "failed" and by_state[8]["error"].startswith("worker failed: ")
