"""Run a sweep's points as Ray Tune trials, each record written to disk the moment its trial ends.

The points are expanded up front (`sweep.spec.points`: grid, or a seeded random draw), so every point
has its id before Ray starts and `--resume` can leave out the finished ones; Ray Tune then schedules the
rest as one trial each (``tune.grid_search`` over the points), as many at a time as there are workers,
on this machine (``ray.init(num_cpus=workers)``) or on a cluster (``--address``). OpenROAD's AutoTuner
runs its sweeps the same way. ``--search optuna`` instead lets Ray Tune's `OptunaSearch` (multi-objective
TPE, the sweep file's objectives) choose one value per axis and a device for each trial, looked up among
the grid's points.

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

from eqprop.cli_support import UsageError
from sweep.cluster import ClusterLost, SweepStopped, connect, import_ray, quiet_tune, watch_head
from sweep.spec import OBJECTIVES, Point, Spec
from sweep.store import Store
from sweep.trial import evaluate as _evaluate
from sweep.trial import evaluate_isolated

__all__ = ["run_points"]


def _record(point: Point, spec: Spec, status: str, measured: dict | None = None, error: str | None = None,
            **extra) -> dict:
    from eqprop.hw.hwconfig import config_fields

    cfg = point.config()
    hw = config_fields(cfg)
    rec = {"id": point.id, "label": point.label, "device": point.device, "axes": point.axes, "fields": point.fields,
           "hwconfig": hw, "settings": spec.settings(), "status": status, **(measured or {})}
    if error is not None:
        rec["error"] = error
    rec.update(extra)
    return rec


def _objective_values(measured: dict | None, objectives: tuple[str, ...]) -> dict:
    """The objectives as numbers for a searcher: a missing value (a failed point, one that does not fit,
    no Fmax) counts as the worst there is."""
    out = {}
    for o in objectives:
        v = (measured or {}).get(o)
        if v is None or (measured or {}).get("fits") is False and o != "accuracy":
            v = -1e18 if OBJECTIVES[o] > 0 else 1e18
        out[o] = float(v)
    return out


def _trial_function(evaluate, timeout_s: float | None, table: dict | None = None,
                    known: dict | None = None, objectives: tuple[str, ...] = ()):
    """The Ray Tune function trainable: measure one point, report its record (never raises for the flow).
    With a timeout the point runs in a child process (`sweep.trial.evaluate_isolated`). Grid and random
    search hand it the point; Optuna hands it one value per axis and the device, looked up in `table`
    (a point that is excluded, or finished before --resume, is answered from `known` without measuring)."""
    def trial(config: dict) -> None:
        from ray import tune
        from threadpoolctl import threadpool_limits

        point = config.get("point") or (table or {}).get(_key(config))
        if point is None or point["id"] in (known or {}):
            measured = (known or {}).get(point["id"]) if point else None
            tune.report({"record": json.dumps({"status": "skipped"}), **_objective_values(measured, objectives)})
            return
        started = time.time()
        with threadpool_limits(1):       # one core per trial: Ray runs `workers` of them side by side
            try:
                if timeout_s is None:
                    measured = evaluate(point, config["settings"])
                else:
                    measured = evaluate_isolated(point, config["settings"], timeout_s)
                out = {"status": "ok", "measured": measured}
            except Exception as e:      # recorded as the point's error; the other trials go on
                measured = None
                out = {"status": "failed", "error": f"{type(e).__name__}: {e}".strip()}
        out.update(point=point, host=socket.gethostname(), **_node(), pid=os.getpid(), started=started,
                   wall_s=time.time() - started)
        tune.report({"record": json.dumps(out), **_objective_values(measured, objectives)})
    return trial


def _node() -> dict:
    """The Ray node that ran the trial: its id and IP address (on a cluster, which machine measured the point)."""
    try:
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}
    except Exception:        # outside Ray (a trial function called directly): the host name is recorded anyway
        return {}


def _key(config: dict) -> str:
    """Optuna's choice of one value per axis (``axis:<name>``) and a device, as a key of the point table."""
    return json.dumps([[k, v] for k, v in sorted(config.items()) if k.startswith("axis:") or k == "device"])


def _trial_name(trial) -> str:
    point = trial.config.get("point")
    return point["id"] if point else f"optuna-{trial.trial_id}"


def _recorder(spec: Spec, store: Store, table: dict[str, dict], bar, log):
    from ray import tune

    class _Recorder(tune.Callback):
        """Writes each trial's record as it ends (driver side), and moves the progress bar. Ray Tune pickles
        its callbacks with the experiment's state: the bar and the log function (open files) are left out."""

        def __init__(self, spec, store, table, bar, log):      # arguments, not closures: see above
            self.spec, self.store, self.table, self.bar, self.log = spec, store, table, bar, log
            self.done: dict[str, dict] = {}
            self.ended = 0                  # trials ended, recorded or not (Optuna's skipped ones)

        def __getstate__(self):
            return {"done": self.done, "ended": self.ended}

        def _write(self, rec: dict) -> None:
            self.ended += 1
            self.store.write(rec)
            self.done[rec["id"]] = rec
            self.bar.update(1)
            if rec["status"] != "ok":
                self.log(f"failed: {rec['label']}: {rec.get('error')}")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "record" not in result:
                return
            out = json.loads(result["record"])
            if out["status"] == "skipped":          # Optuna chose an excluded or already finished point
                self.ended += 1
                self.bar.update(1)
                return
            point = Point(**out.pop("point"))
            measured = out.pop("measured", None)
            self._write(_record(point, self.spec, out.pop("status"), measured, out.pop("error", None), **out))

        def on_trial_error(self, iteration, trials, trial, **info):
            point = trial.config.get("point") or self.table.get(_key(trial.config))
            if point is None:
                return
            pid = point["id"]
            if pid in self.done:
                return
            err = getattr(trial, "error_msg", None) or "the trial's worker failed"
            path = getattr(trial, "error_file", None)
            if path and Path(path).is_file():
                err = Path(path).read_text().strip().splitlines()[-1]
            self._write(_record(Point(**point), self.spec, "failed", None, f"worker failed: {err}"))

    return _Recorder(spec, store, table, bar, log)


def _optuna(spec: Spec, grid: list[Point], samples: int, tune):
    """Optuna's multi-objective TPE sampler over the axes and devices (one categorical choice each), the
    sweep file's objectives its objectives; and the point table its choices are looked up in."""
    try:
        import optuna
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise UsageError("--search optuna needs Optuna: pip install optuna") from None
    table = {_key({**{f"axis:{a}": v for a, v in p.axes.items()}, "device": p.device}): p.as_dict() for p in grid}
    space = {f"axis:{a}": tune.choice([label for label, _ in values]) for a, values in spec.vary.items()}
    space["device"] = tune.choice(list(spec.devices))
    searcher = OptunaSearch(metric=list(spec.objectives),
                            mode=["max" if OBJECTIVES[o] > 0 else "min" for o in spec.objectives],
                            sampler=optuna.samplers.TPESampler(seed=spec.sample_seed))
    return table, space, searcher


def run_points(spec: Spec, pts: list[Point], folder: Path, *, workers: int, address: str | None = None,
               evaluate=_evaluate, log=print, progress: bool = True, search: str = "grid",
               samples: int | None = None, known: dict | None = None, on_lost=None) -> dict:
    """Run `pts` on Ray Tune, writing each record into ``folder/trials/``; returns timings:
    ``ray_init_s``, ``fit_s`` (the Tuner's wall time) and ``trial_s`` (the sum of the trials' own times).

    ``search="optuna"``: `samples` trials chosen by Optuna among `pts` (the whole grid); `known` maps the ids
    of points already finished to their records, which answer Optuna without measuring again. On a cluster,
    `on_lost` is called (from a watcher thread) when its head stops accepting connections
    (`sweep.cluster.watch_head`); a connection error out of the Tuner is raised as `ClusterLost`."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")      # the classic reporter, silent at verbose=0
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # Ray's own imports (see pyproject filterwarnings)
        ray, tune = import_ray()                              # missing: the package and the install command
    from tqdm.auto import tqdm

    store = Store(folder)
    settings = spec.settings()
    if search == "optuna":
        table, space, searcher = _optuna(spec, pts, samples or len(pts), tune)
        param_space = {**space, "settings": settings}
        tune_config = tune.TuneConfig(search_alg=searcher, num_samples=samples or len(pts),
                                      max_concurrent_trials=workers, reuse_actors=True,
                                      trial_name_creator=_trial_name, trial_dirname_creator=_trial_name)
        total = samples or len(pts)
    else:
        table = {}
        param_space = {"point": tune.grid_search([p.as_dict() for p in pts]), "settings": settings}
        # reuse_actors: a worker process measures point after point (no Python start-up and imports per trial)
        tune_config = tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=True,
                                      trial_name_creator=_trial_name, trial_dirname_creator=_trial_name)
        total = len(pts)
    t0 = time.perf_counter()
    connect(ray, address, workers)       # a cluster that is not there, or wants a token: one line saying so
    t_init = time.perf_counter() - t0
    bar = tqdm(total=total, desc=f"sweep {spec.name}", unit="point", disable=not progress)
    recorder = _recorder(spec, store, table, bar, log)
    trainable = _trial_function(evaluate, spec.timeout_s, table or None, known or {}, spec.objectives)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=param_space, tune_config=tune_config,
        run_config=tune.RunConfig(name=spec.name, storage_path=str((folder / "ray").absolute()), verbose=0,
                                  callbacks=[recorder], log_to_file=True,
                                  failure_config=tune.FailureConfig(max_failures=0)))
    t1 = time.perf_counter()
    try:
        with quiet_tune(), watch_head(ray, address, on_lost):
            tuner.fit()
    except (ConnectionError, TimeoutError) as e:
        raise ClusterLost(f"the Ray cluster at {address or 'this machine'} stopped answering ({e}); the finished "
                          f"points are recorded in {store.trials}/, and --resume runs the rest") from e
    except tune.TuneError as e:      # its text ends in Tuner.restore advice: --resume is the sweep's way back
        first = next((ln for ln in str(e).splitlines() if ln.strip() and "restore" not in ln), "")
        raise SweepStopped(f"Ray Tune stopped the sweep; the finished points are recorded in {store.trials}/, and "
                           f"--resume runs the rest: {first.strip() or type(e).__name__}") from e
    finally:
        bar.close()
    fit_s = time.perf_counter() - t1
    trial_s = sum(r.get("wall_s", 0.0) for r in recorder.done.values())
    # Ray Tune ends the run early at Ctrl-C (SIGINT): then fewer trials ended than were asked for
    return {"ray_init_s": round(t_init, 2), "fit_s": round(fit_s, 2), "trial_s": round(trial_s, 2),
            "trials": len(recorder.done), "stopped_early": recorder.ended < total}
