"""Run a sweep's points as Ray Tune trials, each record written to disk the moment its trial ends.

The points are expanded up front (`sweep.spec.points`: grid, or a seeded random draw), so every point
has its id before Ray starts and `--resume` can leave out the finished ones; Ray Tune then schedules the
rest as one trial each (``tune.grid_search`` over the points), as many at a time as there are workers,
on this machine (``ray.init(num_cpus=workers)``) or on a cluster (``--address``). OpenROAD's AutoTuner
runs its sweeps the same way.

Durability: the trial function catches the flow's errors and reports a record with status "failed" and
the error; a trial whose worker dies reaches `_Recorder.on_trial_error` in the driver, which records it
as failed with Ray's error. `_Recorder` runs in the driver process and writes each record through
`sweep.store.Store` (atomic renames) as its trial ends, so killing the sweep loses only the trials
still running.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

from sweep.spec import Point, Spec
from sweep.store import Store
from sweep.trial import evaluate as _evaluate
from sweep.trial import evaluate_isolated

__all__ = ["run_points"]


def _record(point: Point, spec: Spec, status: str, measured: dict | None = None, error: str | None = None,
            **extra) -> dict:
    import dataclasses

    cfg = point.config()
    hw = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    rec = {"id": point.id, "label": point.label, "device": point.device, "axes": point.axes, "fields": point.fields,
           "hwconfig": hw, "settings": spec.settings(), "status": status, **(measured or {})}
    if error is not None:
        rec["error"] = error
    rec.update(extra)
    return rec


def _trial_function(evaluate, timeout_s: float | None):
    """The Ray Tune function trainable: measure one point, report its record (never raises for the flow).
    With a timeout the point runs in a child process (`sweep.trial.evaluate_isolated`)."""
    def trial(config: dict) -> None:
        from ray import tune
        from threadpoolctl import threadpool_limits

        started = time.time()
        with threadpool_limits(1):       # one core per trial: Ray runs `workers` of them side by side
            try:
                if timeout_s is None:
                    measured = evaluate(config["point"], config["settings"])
                else:
                    measured = evaluate_isolated(config["point"], config["settings"], timeout_s)
                out = {"status": "ok", "measured": measured}
            except Exception as e:      # recorded as the point's error; the other trials go on
                out = {"status": "failed", "error": f"{type(e).__name__}: {e}".strip()}
        out.update(host=socket.gethostname(), pid=os.getpid(), started=started, wall_s=time.time() - started)
        tune.report({"record": json.dumps(out)})
    return trial


def _trial_name(trial) -> str:
    return trial.config["point"]["id"]


def _recorder(spec: Spec, store: Store, by_id: dict[str, Point], bar, log):
    from ray import tune

    class _Recorder(tune.Callback):
        """Writes each trial's record as it ends (driver side), and moves the progress bar. Ray Tune pickles
        its callbacks with the experiment's state: the bar and the log function (open files) are left out."""

        def __init__(self, spec, store, by_id, bar, log):      # arguments, not closures: see above
            self.spec, self.store, self.by_id, self.bar, self.log = spec, store, by_id, bar, log
            self.done: dict[str, dict] = {}

        def __getstate__(self):
            return {"done": self.done}

        def _write(self, rec: dict) -> None:
            self.store.write(rec)
            self.done[rec["id"]] = rec
            self.bar.update(1)
            if rec["status"] != "ok":
                self.log(f"failed: {rec['label']}: {rec.get('error')}")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            pid = trial.config["point"]["id"]
            if pid in self.done or "record" not in result:
                return
            out = json.loads(result["record"])
            measured = out.pop("measured", None)
            self._write(_record(self.by_id[pid], self.spec, out.pop("status"), measured, out.pop("error", None),
                                **out))

        def on_trial_error(self, iteration, trials, trial, **info):
            pid = trial.config["point"]["id"]
            if pid in self.done:
                return
            err = getattr(trial, "error_msg", None) or "the trial's worker failed"
            path = getattr(trial, "error_file", None)
            if path and Path(path).is_file():
                err = Path(path).read_text().strip().splitlines()[-1]
            self._write(_record(self.by_id[pid], self.spec, "failed", None, f"worker failed: {err}"))

    return _Recorder(spec, store, by_id, bar, log)


def run_points(spec: Spec, pts: list[Point], folder: Path, *, workers: int, address: str | None = None,
               evaluate=_evaluate, log=print, progress: bool = True) -> dict:
    """Run `pts` on Ray Tune, writing each record into ``folder/trials/``; returns timings:
    ``ray_init_s``, ``fit_s`` (the Tuner's wall time) and ``trial_s`` (the sum of the trials' own times)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")      # the classic reporter, silent at verbose=0
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # Ray's own imports (see pyproject filterwarnings)
        import ray
        from ray import tune
    from tqdm.auto import tqdm

    store = Store(folder)
    by_id = {p.id: p for p in pts}
    t0 = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    t_init = time.perf_counter() - t0
    bar = tqdm(total=len(pts), desc=f"sweep {spec.name}", unit="point", disable=not progress)
    recorder = _recorder(spec, store, by_id, bar, log)
    settings = spec.settings()
    trainable = tune.with_resources(_trial_function(evaluate, spec.timeout_s), {"cpu": 1})
    tuner = tune.Tuner(
        trainable,
        param_space={"point": tune.grid_search([p.as_dict() for p in pts]), "settings": settings},
        # reuse_actors: a worker process measures point after point (no Python start-up and imports per trial)
        tune_config=tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=True,
                                    trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
        run_config=tune.RunConfig(name=spec.name, storage_path=str((folder / "ray").absolute()), verbose=0,
                                  callbacks=[recorder], log_to_file=True,
                                  failure_config=tune.FailureConfig(max_failures=0)))
    t1 = time.perf_counter()
    try:
        tuner.fit()
    finally:
        bar.close()
    fit_s = time.perf_counter() - t1
    trial_s = sum(r.get("wall_s", 0.0) for r in recorder.done.values())
    return {"ray_init_s": round(t_init, 2), "fit_s": round(fit_s, 2), "trial_s": round(trial_s, 2),
            "trials": len(recorder.done)}
