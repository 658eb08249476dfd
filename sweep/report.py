"""A sweep's results as tables, Pareto fronts and plots: ``<out>/<name>/results.md``, ``.csv``, ``.json``
and ``pareto-<objective>-<device>.png``.

A Pareto front of two objectives (the sweep file's first, usually accuracy, against each other one) is the
set of points that no other point beats on one objective without losing on the other (ties kept), per
device: LUTs of an ECP5 and of an iCE40 are not comparable. A point that does not fit its device is left
out of its fronts (it cannot be built). The default configuration, when the sweep contains it, is marked,
and every point that dominates it on a pair of objectives is listed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from eqprop.atomic import atomic_path, write_json_atomic, write_text_atomic
from eqprop.hw.hwconfig import HwConfig, config_fields
from sweep.spec import OBJECTIVES

__all__ = ["COLUMNS", "dominates", "pareto", "write_report"]

# (record key, column title, format)
COLUMNS = (("label", "point", "{}"), ("device", "device", "{}"), ("status", "status", "{}"),
           ("accuracy", "accuracy", "{:.1%}"), ("cycles_per_inference", "cycles / inference", "{:,.0f}"),
           ("luts", "LUTs", "{:,}"), ("ffs", "FFs", "{:,}"), ("brams", "block RAM", "{:,}"), ("dsps", "DSPs", "{:,}"),
           ("fmax_mhz", "Fmax MHz", "{:.1f}"), ("inferences_per_s", "inferences / s", "{:,.0f}"))
FORMATS = {"accuracy": "{:.1%}", "fmax_mhz": "{:.1f} MHz", **dict.fromkeys(
    ("luts", "ffs", "brams", "dsps", "cycles_per_inference", "inferences_per_s", "train_samples_per_s"), "{:,.0f}")}
TITLES = {"accuracy": "test accuracy", "luts": "LUTs", "ffs": "flip-flops", "brams": "block RAMs", "dsps": "DSPs",
          "fmax_mhz": "Fmax (MHz)", "inferences_per_s": "inferences / s", "train_samples_per_s": "training samples / s",
          "cycles_per_inference": "cycles / inference"}


def _default_fields() -> dict:
    return config_fields(HwConfig())


def _usable(r: dict, a: str, b: str) -> bool:
    return r.get("status") == "ok" and r.get(a) is not None and r.get(b) is not None and r.get("fits") is not False


def dominates(p: dict, q: dict, a: str, b: str) -> bool:
    """`p` at least as good as `q` on objectives `a` and `b` and better on one (directions from `OBJECTIVES`)."""
    pa, pb = OBJECTIVES[a] * p[a], OBJECTIVES[b] * p[b]
    qa, qb = OBJECTIVES[a] * q[a], OBJECTIVES[b] * q[b]
    return pa >= qa and pb >= qb and (pa > qa or pb > qb)


def pareto(records: list[dict], a: str, b: str) -> list[dict]:
    """The points no other point dominates on (`a`, `b`), sorted by `b`."""
    pts = [r for r in records if _usable(r, a, b)]
    front = [p for p in pts if not any(dominates(q, p, a, b) for q in pts)]
    return sorted(front, key=lambda r: (r[b], r[a]))


def _fmt(r: dict, key: str, fmt: str) -> str:
    v = r.get(key)
    if v is None:
        return "-"
    if key == "luts" and r.get("fits") is False:
        return f"**{fmt.format(v)}** (does not fit)"
    return fmt.format(v)


def table(records: list[dict]) -> str:
    head = "| " + " | ".join(t for _, t, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for r in records:
        cells = [_fmt(r, k, f) for k, _, f in COLUMNS]
        if r.get("status") == "failed":
            cells[2] = "**failed**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(records: list[dict]) -> str:
    keys = ["id", "label", "device", "status", "accuracy", "cycles_per_inference", "cycles_per_inference_max",
            "cycles_per_inference_model", "train_cycles", "fits", "luts", "ffs", "brams", "dsps", "fmax_mhz",
            "inferences_per_s", "train_samples_per_s", "error"]
    axes = sorted({a for r in records for a in r.get("axes", {})})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys + axes)
    for r in records:
        w.writerow([r.get(k, "") if r.get(k) is not None else "" for k in keys]
                   + [r.get("axes", {}).get(a, "") for a in axes])
    return buf.getvalue()


def fronts(records: list[dict], objectives: tuple[str, ...]) -> list[dict]:
    """Per device and per objective after the first: the front, the default point and what dominates it."""
    default = _default_fields()
    out = []
    a = objectives[0]
    for device in dict.fromkeys(r["device"] for r in records):
        recs = [r for r in records if r["device"] == device]
        base = next((r for r in recs if r.get("hwconfig") == default and r.get("status") == "ok"), None)
        for b in objectives[1:]:
            front = pareto(recs, a, b)
            if not front:
                continue
            better = [r for r in recs if base is not None and _usable(r, a, b) and _usable(base, a, b)
                      and dominates(r, base, a, b)]
            out.append({"device": device, "x": b, "y": a, "front": [r["id"] for r in front],
                        "default": base["id"] if base else None,
                        "dominate_default": [r["id"] for r in better]})
    return out


def _plot(records: list[dict], f: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    a, b = f["y"], f["x"]
    recs = [r for r in records if r["device"] == f["device"] and _usable(r, a, b)]
    by_id = {r["id"]: r for r in recs}
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    ax.scatter([r[b] for r in recs], [100 * r[a] if a == "accuracy" else r[a] for r in recs], s=14, color="0.6",
               label="points")
    front = [by_id[i] for i in f["front"]]
    scale = 100 if a == "accuracy" else 1
    ax.plot([r[b] for r in front], [scale * r[a] for r in front], marker="o", color="C0", drawstyle="steps-post"
            if OBJECTIVES[b] < 0 else "steps-pre", label="Pareto front")
    for r in front:
        ax.annotate(r["label"].rsplit(" @", 1)[0], (r[b], scale * r[a]), fontsize=6, xytext=(3, 3),
                    textcoords="offset points")
    if f["default"] in by_id:
        d = by_id[f["default"]]
        ax.scatter([d[b]], [scale * d[a]], marker="*", s=140, color="C3", zorder=3, label="default HwConfig()")
    if recs and min(r[b] for r in recs) > 0 and max(r[b] for r in recs) >= 10 * min(r[b] for r in recs):
        ax.set_xscale("log")     # a decade or more apart (lanes, devices); a narrow range reads better linear
    ax.set(xlabel=TITLES.get(b, b), ylabel=TITLES.get(a, a) + (" (%)" if a == "accuracy" else ""),
           title=f"{TITLES.get(a, a)} against {TITLES.get(b, b)} ({f['device']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def write_report(folder: Path, records: list[dict], meta: dict) -> str:
    """Write results.md, results.csv, results.json and the Pareto plots into `folder`; return the markdown."""
    folder = Path(folder)
    records = sorted(records, key=lambda r: (r["device"], r["label"]))
    fr = fronts(records, tuple(meta["objectives"]))
    by_id = {r["id"]: r for r in records}
    ok = sum(r.get("status") == "ok" for r in records)
    failed = [r for r in records if r.get("status") == "failed"]
    lines = [f"# Sweep {meta['name']}", "",
             f"`python -m sweep {meta['file']}`: {len(records)} of {meta['points']} points recorded, {ok} ok, "
             f"{len(failed)} failed; data set {meta['settings']['dataset']}, {meta['settings']['epochs']} epochs "
             f"of golden on-chip training per seed, seeds {meta['settings']['seeds']} (accuracy: their mean).", "",
             table(records)]
    if any(r.get("placed") is False and r.get("fits") for r in records):
        lines += ["Resources of the points not placed (`place_and_route: false`) are the cells of Yosys's synthesised "
                  "netlist (ECP5: LUT4s and two per CCU2C carry), not nextpnr's packed figures; there is no Fmax, so "
                  "no inferences per second.", ""]
    for f in fr:
        a, b = f["y"], f["x"]
        lines += [f"## Pareto front: {TITLES.get(a, a)} against {TITLES.get(b, b)} ({f['device']})", "",
                  f"![front](pareto-{b}-{f['device']}.png)", ""]
        lines += [f"- {by_id[i]['label']}: {_fmt(by_id[i], a, FORMATS.get(a, '{:,.4g}'))}, "
                  f"{_fmt(by_id[i], b, FORMATS.get(b, '{:,.4g}'))}" for i in f["front"]]
        if f["default"] is None:
            lines += ["", "The default configuration (`HwConfig()`) is not among these points."]
        elif f["dominate_default"]:
            lines += ["", f"Points that dominate the default ({by_id[f['default']]['label']}) on these two: "
                      + "; ".join(by_id[i]["label"] for i in f["dominate_default"]) + "."]
        else:
            lines += ["", f"No point dominates the default ({by_id[f['default']]['label']}) on these two."]
        lines.append("")
        _plot(records, f, folder / f"pareto-{b}-{f['device']}.png")
    if failed:
        lines += ["## Failed points", ""]
        lines += [f"- {r['label']}: {r.get('error', '?')}" for r in failed]
        lines.append("")
    text = "\n".join(lines)
    write_json_atomic(folder / "results.json", {"meta": meta, "fronts": fr, "records": records})
    write_text_atomic(folder / "results.csv", _csv(records))
    write_text_atomic(folder / "results.md", text)
    return text
