"""Run tracks: time each, turn a crash into an ERROR with its traceback, write JSON and the notebook."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
import traceback
from datetime import UTC, datetime

import torch
from tqdm.auto import tqdm

from tracks.base import Context, Outcome, Status, Track
from tracks.common import seed_everything

__all__ = ["run_track", "run_tracks", "summary_table", "write_text_atomic"]


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


def run_tracks(tracks: list[Track], ctx: Context, *, progress: bool = True, write: bool = True) -> dict:
    """Run `tracks` in order; return (and, with `write`, save) the report dict."""
    from tracks.notebook import render

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
        os.makedirs(ctx.out_dir, exist_ok=True)
        write_text_atomic(os.path.join(ctx.out_dir, "tracks.json"), json.dumps(report, indent=2))
        write_text_atomic(os.path.join(ctx.out_dir, "verification_notebook.md"), render(report))
    return report


def summary_table(report: dict) -> str:
    """Plain-text table of number, status, seconds, title and evidence."""
    lines = [f"{'#':>3}  {'status':7}  {'time':>7}  track"]
    for r in report["tracks"]:
        lines.append(f"{r['number']:>3}  {r['status']:7}  {r['seconds']:6.1f}s  {r['title']}: {r['evidence']}")
    counts = {s.value: sum(r["status"] == s.value for r in report["tracks"]) for s in Status}
    lines.append("  ".join(f"{k} {v}" for k, v in counts.items()) + f"   wall {report['wall_seconds']:.0f} s")
    return "\n".join(lines)


def write_text_atomic(path: str, text: str) -> None:
    """Write through a temporary file in the same folder, then rename: never a half-written report."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

