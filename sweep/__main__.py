"""``python -m sweep FILE``: run a design-space sweep on Ray Tune and write its tables, fronts and plots.

Each point of the sweep file (`sweep.spec`) is one Ray Tune trial: golden on-chip training and test
accuracy, the cycle model, and on a device synthesis and place and route (`sweep.trial`). Records go to
``<out>/<name>/trials/`` as each trial ends (`sweep.store`); ``--resume`` runs only the points without one.
At the end (or at Ctrl-C, over what finished) ``results.md``, ``.csv``, ``.json`` and the Pareto plots
are written (`sweep.report`).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from eqprop.atomic import write_json_atomic
from eqprop.cli_support import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    UsageError,
    check_output_folder,
    guard,
    parser,
    positive_int,
)
from sweep.cluster import SweepStopped, check_address
from sweep.report import write_report
from sweep.spec import load_spec, points
from sweep.store import Store

__all__ = ["main"]


HELP = """A design-space sweep on Ray Tune: every point of the sweep file one trial (golden on-chip training and
test accuracy, the cycle model, and on a device synthesis and place and route); tables, Pareto fronts and
plots in <out>/<name>/ (make sweep). Needs the sweep extra: pip install 'eqprop-hw[sweep]'."""

EXAMPLES = """examples:
  python -m sweep sweep/examples/precision_lanes.yaml
  python -m sweep my-sweep.yaml --workers 2 --resume
  python -m sweep my-sweep.yaml --dry-run          # list the points"""


def _meta(spec, pts, args, timing=None) -> dict:
    return {"name": spec.name, "file": str(spec.path), "points": len(pts), "settings": spec.settings(),
            "objectives": list(spec.objectives), "search": args.search or spec.search,
            "workers": args.workers, "address": args.address, "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "timing": timing}


@guard("the sweep", failures=(SweepStopped,))
def main(argv: list[str]) -> int:
    ap = parser("python -m sweep", HELP, epilog=EXAMPLES)
    ap.add_argument("file", help="the sweep file (YAML or JSON; see sweep/examples/)")
    ap.add_argument("--name", help="the sweep's name: its folder under --out (default: the file's name key, "
                                   "else its stem)")
    ap.add_argument("--out", default="results/sweep", help="folder of the sweeps' folders")
    ap.add_argument("--address", help="join this Ray cluster (e.g. ray://head:10001 or auto) instead of starting "
                                      "Ray on this machine")
    ap.add_argument("--resume", action="store_true", help="run only the points without a finished record")
    ap.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                    help="trials at once (default: 2 or the cores, if fewer)")
    ap.add_argument("--search", choices=("grid", "random", "optuna"),
                    help="override the file's search (optuna: Optuna's multi-objective TPE over the grid's points, "
                         "the file's objectives; needs pip install optuna)")
    ap.add_argument("--samples", type=positive_int, help="points drawn by random search, or trials of optuna")
    ap.add_argument("--devices", nargs="+", help="replace the file's devices (none: golden model and cycle model "
                                                 "only; ecp5, ecp5-85k, ice40)")
    ap.add_argument("--dry-run", action="store_true", help="list the points and exit")
    args = ap.parse_args(argv)
    if args.address is not None:
        check_address(args.address)      # before the sweep file is read: a cluster that is not there, at once
    check_output_folder(args.out, name="--out")
    spec = load_spec(args.file, name=args.name, devices=args.devices)
    search = args.search or spec.search
    if search in ("random", "optuna") and not (args.samples or spec.samples):
        raise UsageError(f"--search {search} needs --samples (or samples in the sweep file)")
    pts = points(spec, search="grid" if search == "optuna" else search, samples=args.samples)
    folder = check_output_folder(Path(args.out) / spec.name, name="--out")
    store = Store(folder)
    if args.dry_run:
        for p in pts:
            print(f"{p.id}  {p.label}")
        print(f"{len(pts)} points")
        return 0
    done = store.finished()
    for path, why in store.spoiled.items():
        print(f"warning: {path}: not a record of this sweep ({why}); it is skipped, and its point runs again "
              "(replacing it) if it is one of this sweep's points", file=sys.stderr)
    if done & {p.id for p in pts} and not args.resume:
        raise UsageError(f"{folder} already holds finished points of this sweep; pass --resume to run the rest, "
                         "or another --name or --out")
    todo = pts if search == "optuna" else [p for p in pts if p.id not in done]
    print(f"sweep {spec.name}: {len(pts)} points, {len(pts) - len(todo)} already finished, {len(todo)} to run, "
          f"{args.workers} at a time; records in {store.trials}/", flush=True)
    timing = None
    ids = {p.id for p in pts}

    def report() -> list[dict]:
        """Write the report over the records of this sweep's points (what finished); return them."""
        records = [r for r in store.records() if r["id"] in ids]
        if records:
            meta = _meta(spec, pts, args, timing)
            write_json_atomic(folder / "sweep.json", meta)
            text = write_report(folder, records, meta)
            print(text)
            print(f"wrote {folder}/results.md, results.csv, results.json and the Pareto plots")
        return records

    def lost(address: str) -> None:
        """The cluster's head stopped answering (a watcher thread calls this): report what finished, and end."""
        print(f"error: the Ray cluster at {address} stopped answering (its head node is gone?); the finished points "
              f"are recorded in {store.trials}/, and --resume runs the rest", file=sys.stderr, flush=True)
        try:
            report()
        finally:
            sys.stdout.flush()
            os._exit(EXIT_FAILED)    # Ray's driver would wait a minute for the head, then abort the process

    try:
        if todo:
            from sweep.runner import run_points

            known = {r["id"]: r for r in store.records() if r.get("status") == "ok"}
            timing = run_points(spec, todo, folder, workers=args.workers, address=args.address,
                                log=lambda s: print(s, flush=True), search=search,
                                samples=args.samples or spec.samples, known=known, on_lost=lost)
            if timing["trials"]:
                # worker-seconds of the Tuner's wall time not spent inside a trial (Ray's scheduling, actor
                # start-up, reporting, and workers idle at the end), per trial
                timing["overhead_per_trial_s"] = round(
                    (timing["fit_s"] * args.workers - timing["trial_s"]) / timing["trials"], 2)
    finally:
        records = report()
    if timing and not timing["stopped_early"]:
        print(f"Ray: {timing['ray_init_s']:.1f} s to start, {timing['fit_s']:.1f} s for {timing['trials']} trials "
              f"({timing['trial_s']:.1f} s of trial time); overhead {timing.get('overhead_per_trial_s', 0):.2f} s "
              "per trial")
    if timing and timing["stopped_early"]:
        print(f"interrupted: the sweep stopped at Ctrl-C; the {len(records)} finished points are recorded in "
              f"{store.trials}/, and --resume runs the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [r for r in records if r.get("status") != "ok"]
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
