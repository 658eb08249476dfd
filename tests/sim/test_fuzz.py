"""Fuzzed configurations (`sim.fuzz`): the generator draws only valid configurations and covers every option;
a failing point is printed and written as a reproducer that replays; a handful of points co-simulate
with 0 mismatches in `make test`, 50 in the slow suite (``make fuzz`` runs the same from the command line).
"""

import json
import os

import numpy as np
import pytest

from eqprop.hw.hwconfig import HwConfig, check_buildable
from sim import fuzz, runner

QUICK = 2   # points of seed 0 co-simulated in make test (Verilator; about a minute each)


def test_generator_draws_valid_configurations_covering_every_option():
    cfgs = [fuzz.draw(0, i) for i in range(300)]
    for cfg in cfgs:
        assert check_buildable(cfg) is cfg and max(cfg.sizes) <= 16
    assert fuzz.draw(0, 7) == cfgs[7] and fuzz.draw(1, 7) != cfgs[7]      # a point is drawn again alone
    seen = lambda f: {f(c) for c in cfgs}   # noqa: E731
    assert seen(lambda c: c.weight_format) == {"int", "ternary"} and len(seen(lambda c: c.weight_bits)) >= 6
    assert seen(lambda c: len(c.sizes) - 2) == {1, 2}
    assert seen(lambda c: c.estimator) == {"symmetric", "one-sided"}
    assert seen(lambda c: c.rounding) == {"floor", "half_up", "half_away"}
    for flag in ("early_exit", "cache_drive", "zero_skip", "learning"):
        assert seen(lambda c, f=flag: getattr(c, f)) == {True, False}
    assert seen(lambda c: c.samples) == {1, 2, 3, 4} and all(c.samples == 1 for c in cfgs if c.learning)
    assert any(n % c.mac_lanes for c in cfgs for n in c.sizes) and any(c.mac_lanes == max(c.sizes) for c in cfgs)
    assert len(seen(lambda c: c.state_bits)) >= 5 and len(seen(lambda c: c.shadow_bits - c.weight_bits)) >= 6


def test_a_failing_point_is_printed_and_written_as_a_reproducer(tmp_path, monkeypatch, capsys):
    """A mismatch anywhere fails the point; the run goes on, writes a reproducer that loads the same
    configuration, and exits 1."""
    monkeypatch.setattr(runner, "build", lambda cfg, sim=None: cfg)
    def run(cfg, cases, progress=None):
        if cfg == fuzz.draw(5, 1):
            raise runner.SimError("test_infer: case 3 layer 1 index 2: expected 17, got 16")
        n = fuzz.vectors_for(cfg)
        return runner.SimRun(None, None, 0.0, [{"test": "infer", "cases": n}] * (4 if cfg.learning else 2), None)
    monkeypatch.setattr(runner, "run", run)
    assert fuzz.main(["--count", "3", "--seed", "5", "--sim", "verilator", "--out", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED point 1 of seed 5" in printed and "expected 17, got 16" in printed and "1 failed" in printed
    path = tmp_path / "failing-5-1.json"
    cfg, seed, sim = fuzz.load_reproducer(path)
    assert cfg == fuzz.draw(5, 1) and seed == 5 and sim == "verilator"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p["ok"] for p in summary["points"]] == [True, False, True] and summary["failed"] == 1
    assert sorted(q.name for q in tmp_path.iterdir()) == ["failing-5-1.json", "summary.json"]
    # the replay co-simulates the same configuration with the same vectors, and fails the same way
    assert fuzz.main(["--replay", str(path)]) == 1
    assert "expected 17, got 16" in capsys.readouterr().out


def test_a_testbench_that_skips_tests_fails_the_point(monkeypatch):
    monkeypatch.setattr(runner, "build", lambda cfg, sim=None: cfg)
    monkeypatch.setattr(runner, "run", lambda cfg, cases, progress=None: runner.SimRun(None, None, 0.0, [], None))
    point = fuzz.run_point(HwConfig(sizes=(4, 3, 2), mac_lanes=2), sim="verilator")
    assert not point.ok and "not 4 tests" in point.error


@pytest.mark.parametrize("body, says", [
    (None, "cannot read the reproducer"),
    ("{not json", "invalid JSON"),
    ("[1, 2]", "\"config\" object"),
    ('{"config": {"sizes": [4, 3, 2], "mac_lane": 2}}', "unknown HwConfig field 'mac_lane'"),
    ('{"config": {"sizes": [4, 3, 2], "weight_bits": 99}}', "weight_bits must be in 2 .. 16"),
    ('{"config": {"sizes": [4, 3, 2]}, "vector_seed": -1}', "vector_seed must be a non-negative integer"),
])
def test_a_bad_reproducer_is_named_with_what_is_wrong(tmp_path, capsys, body, says):
    path = tmp_path / "failing.json"
    if body is not None:
        path.write_text(body)
    with pytest.raises(fuzz.FuzzError, match=str(path)) as e:
        fuzz.load_reproducer(path)
    assert says in str(e.value)
    assert fuzz.main(["--replay", str(path)]) == 2
    assert says in capsys.readouterr().err


def _fuzz_or_skip(count, seed, tmp_path):
    try:
        return fuzz.fuzz(count, seed=seed, sim="verilator", out=tmp_path)
    except runner.ToolMissing as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and Verilator is missing: {e}")
        pytest.skip(str(e))


def test_a_handful_of_fuzzed_configurations_match_the_golden_model(tmp_path):
    points = _fuzz_or_skip(QUICK, 0, tmp_path)
    assert [p.error.splitlines()[0] for p in points if not p.ok] == []
    assert all(p.cases == fuzz.vectors_for(p.cfg) for p in points)
    assert not list(tmp_path.glob("failing-*.json"))


@pytest.mark.slow
def test_fifty_fuzzed_configurations_match_the_golden_model(tmp_path):
    points = _fuzz_or_skip(50, 1, tmp_path)
    failed = {p.index: p.error.splitlines()[0] for p in points if not p.ok}
    assert failed == {}, f"reproducers in {tmp_path}"
    assert np.mean([p.cfg.learning for p in points]) > 0.4
