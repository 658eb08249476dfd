"""One point of a sweep, measured: what a Ray Tune trial runs (`evaluate`), with no Ray in it.

The flow is the project's own, called rather than restated: golden on-chip training from scratch and the
test accuracy with the cycles measured on the test split (`export.fpga.golden_accuracy`, once per seed),
the cycle model (`rtl.schedule.cycle_model`), and on a device the export, synthesis and place and route
of `export.fpga.implement`, whose Fmax over the measured cycles gives the inferences per second
(`export.fpga.with_measured_cycles`). The record is plain JSON types, ready for `sweep.store`.
"""

from __future__ import annotations

import time

import numpy as np

from eqprop.cli_support import UsageError, guard, parser
from sweep.spec import DEVICE_NONE, Point, dataset

__all__ = ["RESOURCES", "TrialTimeout", "dataset", "evaluate", "evaluate_isolated"]

RESOURCES = ("luts", "ffs", "brams", "dsps", "spram")


def evaluate(point: dict, settings: dict, log=None) -> dict:
    """Measure `point` (a `sweep.spec.Point` as a dict) under the sweep's `settings` (`Spec.settings`).

    Returns the record's measurements: ``accuracy`` (mean over the seeds) and ``accuracy_per_seed``,
    ``cycles_per_inference`` (mean over the test images and seeds, early exit as configured) and its
    ``_max`` and ``_model`` (every phase to its limit), ``train_cycles``; on a device also ``fits``,
    ``luts``, ``ffs``, ``brams``, ``dsps`` (placed cells, or synthesised ones without place and route),
    ``fmax_mhz``, ``inferences_per_s`` and ``train_samples_per_s``; ``seconds`` per stage. Raises whatever
    the flow raises (the runner records it as the trial's error).
    """
    from export.fpga import golden_accuracy, implement, with_measured_cycles
    from rtl.schedule import cycle_model

    log = log or (lambda s: None)
    p = Point(**point)
    cfg = p.config()
    t0 = time.perf_counter()
    data = dataset(settings)
    runs = [golden_accuracy(cfg, epochs=settings["epochs"], seed=s, data=data, progress=False)
            for s in settings["seeds"]]
    t_train = time.perf_counter() - t0
    model = cycle_model(cfg)
    measured = {"infer_cycles_mean": float(np.mean([r["infer_cycles_mean"] for r in runs])),
                "infer_cycles_max": float(max(r["infer_cycles_max"] for r in runs))}
    if cfg.learning:
        measured["train_cycles_mean"] = float(np.mean([r["train_cycles_mean"] for r in runs]))
    accs = [float(r["test_acc"]) for r in runs]
    out = {"accuracy": float(np.mean(accs)), "accuracy_per_seed": accs,
           "cycles_per_inference": measured["infer_cycles_mean"],
           "cycles_per_inference_max": measured["infer_cycles_max"],
           "cycles_per_inference_model": model["infer"] / cfg.samples,
           "train_cycles": measured.get("train_cycles_mean"),
           "fits": None, "fmax_mhz": None, "inferences_per_s": None, "train_samples_per_s": None,
           **dict.fromkeys(RESOURCES)}
    seconds = {"training": round(t_train, 1)}
    log(f"{p.label}: accuracy {out['accuracy']:.3f}, {out['cycles_per_inference']:,.0f} cycles / inference")
    if p.device != DEVICE_NONE:
        t = time.perf_counter()
        r = with_measured_cycles(implement(cfg, p.device, place=settings["place_and_route"], log=log), measured)
        seconds["implement"] = round(time.perf_counter() - t, 1)
        out.update({k: r.get(k) for k in RESOURCES}, fits=r["fits"], over=r["over"], placed=r.get("placed"),
                   fmax_mhz=r["fmax_mhz"], target_mhz=r["target_mhz"], critical_path=r["critical_path"],
                   inferences_per_s=r["inferences_per_s"], train_samples_per_s=r.get("train_samples_per_s"),
                   device_part=r["device"], totals=r["totals"], implement_seconds=r["seconds"])
    seconds["total"] = round(time.perf_counter() - t0, 1)
    out["seconds"] = seconds
    return out


# ------------------------------------------------------------------------------------------------
# a trial in a process of its own: a time limit, and a crash that cannot take the Ray worker with it


class TrialTimeout(RuntimeError):
    """The point ran past the sweep file's ``timeout_s``."""


def evaluate_isolated(point: dict, settings: dict, timeout_s: float) -> dict:
    """`evaluate` in a child process (``python -m sweep.trial``, a session of its own), killed with everything
    it started (Yosys, nextpnr) after `timeout_s` seconds. Raises TrialTimeout, or RuntimeError when the
    child dies (a crash, the out-of-memory killer) or fails, with its last words."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="eqprop-sweep-") as tmp:
        out = os.path.join(tmp, "record.json")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # where `sweep` is imported from
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        proc = subprocess.Popen([sys.executable, "-m", "sweep.trial", out], stdin=subprocess.PIPE, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, err = proc.communicate(json.dumps({"point": point, "settings": settings}), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TrialTimeout(f"timed out after {timeout_s:g} s (timeout_s in the sweep file)") from None
        if proc.returncode != 0 or not os.path.exists(out):
            last = (err or "").strip().splitlines()[-1:] or ["no output"]
            how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}")
            raise RuntimeError(f"the trial's process failed ({how}): {last[0]}")
        with open(out) as f:
            return json.load(f)


@guard("the sweep trial")
def main(argv: list[str]) -> int:
    """``python -m sweep.trial OUT``: measure the point on stdin ({point, settings}), its result to OUT (the
    sweep runs it in a process of its own for a point with a time limit; its last stderr line is the error)."""
    import json
    import sys

    from eqprop.atomic import write_json_atomic

    ap = parser("python -m sweep.trial", "Measure one sweep point read from stdin; write its result to OUT.")
    ap.add_argument("out", help="the JSON file the measurements go to")
    args = ap.parse_args(argv)
    try:
        job = json.loads(sys.stdin.read())
        point, settings = job["point"], job["settings"]
    except (ValueError, KeyError, TypeError) as e:
        raise UsageError(f"stdin must hold a JSON object with point and settings, as the sweep writes it: {e}"
                         ) from None
    write_json_atomic(args.out, evaluate(point, settings))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
