"""Run tracks: time each, turn a crash into an ERROR with its traceback, write JSON and the notebook.

A run into a folder that holds an earlier report merges into it: the tracks run replace their earlier
records, the others are kept (``python -m tracks --track 26`` after ``make tracks`` updates track 26
and keeps the 25 others). An earlier ``tracks.json`` that is not a tracks report is refused before
anything runs, never replaced. Both files are written through `eqprop.atomic`.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm.auto import tqdm

from eqprop.atomic import write_text_atomic
from eqprop.cli_support import UsageError
from tracks.base import Context, Outcome, Status, Track
from tracks.common import seed_everything

__all__ = ["NOTEBOOK", "REPORT", "merge_reports", "previous_report", "run_track", "run_tracks", "summary_table"]

REPORT = "tracks.json"
NOTEBOOK = "verification_notebook.md"


def run_track(track: Track, ctx: Context) -> dict:
    """Run one track and return its JSON-ready record; exceptions become status ERROR."""
    record = {"number": track.number, "title": track.title, "claim": track.claim, "experiment": track.experiment,
              "criterion": track.criterion, "module": track.module, "mode": ctx.mode, "seeds": ctx.seeds}
    seed_everything(ctx.seed)
    t0 = time.perf_counter()
    try:
        out = track.run(ctx)
        if not isinstance(out, Outcome):
            raise TypeError(f"track {track.number} returned {type(out).__name__}, not an Outcome")
        json.dumps(out.metrics)  # fail here, inside the track's record, if a metric is not serialisable
        record.update(status=Status(out.verdict.status).value, reason=out.verdict.reason, evidence=out.evidence,
                      metrics=out.metrics, tables=out.tables, figures=out.figures, notes=out.notes, traceback=None)
    except Exception as e:  # a crashing track is reported, and the others still run
        record.update(status=Status.ERROR.value, reason=f"{type(e).__name__}: {e}", evidence="crashed",
                      metrics={}, tables=[], figures=[], notes="", traceback=traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return record


def previous_report(out_dir: str | os.PathLike) -> dict | None:
    """The report of an earlier run in `out_dir` (None when there is none), to merge a new run into.

    Raises
    ------
    UsageError
        If ``tracks.json`` exists but is not a tracks report: it is kept, and the message says so.
    """
    path = Path(out_dir) / REPORT
    if not path.exists():
        return None
    fix = "it was left as it is; move it away or pass another --out"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not a readable tracks report ({type(e).__name__}: {e}); {fix}") from None
    keys = ("number", "title", "claim", "experiment", "criterion", "module", "status", "reason", "evidence",
            "tables", "figures", "notes", "traceback", "seconds")
    if (not isinstance(data, dict) or not isinstance(data.get("tracks"), list)
            or not all(isinstance(r, dict) and all(k in r for k in keys) for r in data["tracks"])):
        raise UsageError(f"{path}: not a tracks report (a JSON object whose 'tracks' list holds the records "
                         f"`python -m tracks` writes); {fix}")
    return data


def merge_reports(previous: dict | None, report: dict) -> dict:
    """`report` with the records of `previous` for the tracks it did not run, sorted by number."""
    if not previous:
        return report
    ran = {r["number"] for r in report["tracks"]}
    kept = [r for r in previous["tracks"] if r["number"] not in ran]
    if not kept:
        return report
    merged = {**report, "tracks": sorted(kept + report["tracks"], key=lambda r: r["number"])}
    modes = {r.get("mode", previous.get("mode")) for r in merged["tracks"]}
    merged["mode"] = report["mode"] if modes == {report["mode"]} else "mixed"
    merged["merged"] = {"ran": sorted(ran), "kept": [r["number"] for r in kept],
                        "kept_from": previous.get("merged", {}).get("kept_from", previous.get("generated"))}
    return merged


def run_tracks(tracks: list[Track], ctx: Context, *, progress: bool = True, write: bool = True) -> dict:
    """Run `tracks` in order; return the report dict and, with `write`, merge it into ``ctx.out_dir``'s report."""
    from tracks.notebook import render

    previous = previous_report(ctx.out_dir) if write else None    # refused before anything runs
    t0 = time.perf_counter()
    records = []
    bar = tqdm(tracks, desc="tracks", unit="track", disable=not progress)
    for track in bar:
        bar.set_postfix_str(f"{track.number}: {track.title}")
        records.append(run_track(track, ctx))
        if progress:
            r = records[-1]
            bar.write(f"track {track.number:2d} {r['status']:7s} {r['seconds']:6.1f} s  {track.title}: {r['evidence']}")
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "mode": ctx.mode, "seeds": ctx.seeds, "wall_seconds": round(time.perf_counter() - t0, 1),
        "torch_threads": torch.get_num_threads(),
        "platform": f"Python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}",
        "tracks": records,
    }
    if write:
        report = merge_reports(previous, report)
        write_text_atomic(os.path.join(ctx.out_dir, REPORT), json.dumps(report, indent=2))
        write_text_atomic(os.path.join(ctx.out_dir, NOTEBOOK), render(report))
    return report


def summary_table(report: dict) -> str:
    """Plain-text table of number, status, seconds, title and evidence, then the reason of each track
    that did not pass (the console gets it, not only the notebook)."""
    lines = [f"{'#':>3}  {'status':7}  {'time':>7}  track"]
    for r in report["tracks"]:
        lines.append(f"{r['number']:>3}  {r['status']:7}  {r['seconds']:6.1f}s  {r['title']}: {r['evidence']}")
    counts = {s.value: sum(r["status"] == s.value for r in report["tracks"]) for s in Status}
    lines.append("  ".join(f"{k} {v}" for k, v in counts.items()) + f"   wall {report['wall_seconds']:.0f} s")
    if "merged" in report:
        m = report["merged"]
        lines.append(f"ran track(s) {', '.join(map(str, m['ran']))}; kept {len(m['kept'])} earlier result(s) "
                     f"(from {m['kept_from']})")
    for r in report["tracks"]:
        if r["status"] != Status.PASS.value:
            lines.append(f"track {r['number']} {r['status']}: {r['reason']}")
    return "\n".join(lines)
