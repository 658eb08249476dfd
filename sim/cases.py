"""The co-simulation's case files and its reference side: what the testbench (`sim.tb_accel`) runs and
what it must find.

A case file is JSON (`write_cases`): the `HwConfig`, how parameters are read back ("bus" or "peek"),
whether the Verilog clock runs commands, and a list of sets (`case_set`, `eval_set`), each with its
parameters and its input, target and LR_SHIFT rows. The testbench reads it back with `load_cases`.
The expected values come from the golden model (`rtl.command.ref_infer`, `ref_train`); `assert_codes` names the
first mismatch, and `dump_trace` saves the golden model's intermediate tensors for that case.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig, config_fields
from sim.runner import CASES_ENV

__all__ = ["CaseSet", "assert_codes", "case_set", "dump_trace", "eval_set", "load_cases", "write_cases"]


def case_set(params: golden.IntParams, x: np.ndarray, target: np.ndarray | None = None, *, name: str = "cases",
             lr_shifts: np.ndarray | None = None, check: str | None = None) -> dict:
    """One set of cases: parameters loaded once, then one input (and target) row per case; for TRAIN,
    optionally the LR_SHIFT values (B, L) the host writes before each case; `check` overrides the case
    file's for this set (see `write_cases`)."""
    x = np.asarray(x)
    target = np.zeros((len(x), 0), dtype=np.int64) if target is None else np.asarray(target)
    out = {"name": name, "shadow": [a.tolist() for a in params.shadow], "biases": [b.tolist() for b in params.biases],
           "x": x.tolist(), "target": target.tolist()}
    if lr_shifts is not None:
        out["lr_shifts"] = np.asarray(lr_shifts).tolist()
    if check is not None:
        out["check"] = _check_mode(check)
    return out


def eval_set(x: np.ndarray, *, name: str = "evaluation") -> dict:
    """For a TRAIN run: INFER on each row of `x` with the parameters the hardware has trained so far
    (nothing is loaded), every state checked against the golden model's."""
    return {"name": name, "shadow": [], "biases": [], "x": np.asarray(x).tolist(), "target": [], "evaluate": True}


def _check_mode(check: str) -> str:
    if check not in ("bus", "peek"):
        raise ValueError(f"check must be 'bus' or 'peek', not {check!r}")
    return check


def write_cases(cfg: HwConfig, params: golden.IntParams | list[dict], x: np.ndarray | None = None,
                target: np.ndarray | None = None, *, check: str = "bus", free_run: bool = True) -> dict:
    """The JSON-able case file: the configuration and either one set (`params`, `x`, `target`) or a list
    of `case_set` dicts. `check` says how the parameters are read back after loading and after each TRAIN:
    "bus" through the AXI windows (every access path), "peek" straight from the memories (no
    simulated cycles; for long runs on big configurations, whose bus path is checked elsewhere).
    `free_run` False keeps cocotb's clock running while a command runs (the speed baseline of `bench`)."""
    _check_mode(check)
    sets = params if isinstance(params, list) else [case_set(params, x, target)]
    return {"cfg": config_fields(cfg), "check": check, "free_run": free_run, "sets": sets}


@dataclasses.dataclass
class CaseSet:
    name: str
    params: golden.IntParams | None   # None for an evaluation set
    x: np.ndarray               # (B, n_0) input codes
    target: np.ndarray          # (B, n_out) target codes, or (B, 0)
    lr_shifts: np.ndarray | None  # (B, L) LR_SHIFT per case, or None (leave the registers alone)
    check: str                  # "bus" or "peek"
    evaluate: bool = False      # in a TRAIN run: INFER with the parameters trained so far (not loaded)


def load_cases(path: str | None = None) -> tuple[HwConfig, str, list[CaseSet], bool]:
    """(cfg, check, sets, free_run) from the case file at `path` or ``$EQPROP_SIM_CASES``."""
    with open(path or os.environ[CASES_ENV]) as f:
        data = json.load(f)
    cfg = HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["cfg"].items()})
    sets = []
    for s in data["sets"]:
        params = None if s.get("evaluate") else golden.IntParams.from_shadow(
            cfg, [np.array(a, dtype=np.int64) for a in s["shadow"]], [np.array(b, dtype=np.int64) for b in s["biases"]])
        lr = np.array(s["lr_shifts"], dtype=np.int64) if "lr_shifts" in s else None
        sets.append(CaseSet(s["name"], params, np.array(s["x"], dtype=np.int64).reshape(len(s["x"]), -1),
                            np.array(s["target"], dtype=np.int64).reshape(len(s["x"]), -1), lr,
                            s.get("check", data["check"]), s.get("evaluate", False)))
    return cfg, data["check"], sets, data.get("free_run", True)


def dump_trace(where: str, cfg: HwConfig, params: golden.IntParams, x: np.ndarray,
               target: np.ndarray | None = None) -> str:
    """Save the golden model's intermediate tensors for one case (every state and accumulator of every
    step of every phase, the parameters, and for TRAIN the update terms) as ``.npz`` beside the run's
    log; returns the path, for the mismatch message."""
    trace = golden.Trace()
    if target is None or target.size == 0:
        golden.infer(cfg, params, x, trace=trace)
    else:
        golden.train_sample(cfg, params, x, target, trace=trace)
    arrays = {"x": x}
    for l in range(cfg.n_layers):
        arrays.update({f"shadow{l}": params.shadow[l], f"weight{l}": params.weights[l], f"bias{l}": params.biases[l]})
    for phase, steps in trace.states.items():
        for t, (states, accs) in enumerate(zip(steps, trace.acc[phase], strict=True)):
            for l, (s_, a_) in enumerate(zip(states, accs, strict=True)):
                arrays[f"{phase}/step{t + 1}/state{l + 1}"] = s_
                arrays[f"{phase}/step{t + 1}/acc{l + 1}"] = a_
    for i, upd in enumerate(trace.updates):
        for key, val in upd.items():
            if isinstance(val, list | tuple):
                for l, v in enumerate(val):
                    arrays[f"update{i}/{key}{l}"] = np.asarray(v)
            else:
                arrays[f"update{i}/{key}"] = np.asarray(val)
    folder = os.path.dirname(os.environ.get(CASES_ENV, "")) or "."
    path = os.path.join(folder, re.sub(r"[^A-Za-z0-9_.-]+", "_", where)[:120] + ".trace.npz")
    np.savez_compressed(path, **arrays)
    return path


def assert_codes(actual: np.ndarray, expected: np.ndarray, where: str, dump=None) -> None:
    """Raise AssertionError naming `where`, the first mismatching index, expected and actual; `dump`, if
    given, is called first and returns the path of the golden model's trace for the message."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != expected {expected.shape}"
    bad = np.argwhere(actual != expected)
    if len(bad):
        i = tuple(int(v) for v in bad[0])
        trace = f"\ngolden model's intermediate tensors for this case: {dump()}" if dump else ""
        raise AssertionError(f"{where}, index {i if len(i) > 1 else i[0]}: expected {int(expected[i])}, "
                             f"actual {int(actual[i])} ({len(bad)} of {expected.size} codes differ)\n"
                             f"expected {expected.tolist()}\nactual   {actual.tolist()}{trace}")
