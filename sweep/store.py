"""The durable record of a sweep: one JSON file per finished point, written whole when the point finishes.

``<out>/<name>/trials/<point id>.json`` holds a point's record: the point (label, axes, HwConfig fields,
device), the sweep's settings, ``status`` ("ok" or "failed", with ``error``), its measurements
(`sweep.trial.evaluate`), the host and the seconds it took. Each file goes through `eqprop.atomic`, so a
killed sweep leaves every finished point's record whole and no half-written one; `--resume` reads them
back (`finished`) and runs only the rest; a record that is not readable or not one the sweep wrote is
reported by file and skipped, so its point runs again (`Store.spoiled`). The id is a hash of everything
that decides the result (`sweep.spec.point_id`), so a record is never reused for a point that would measure
differently.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from eqprop.atomic import write_json_atomic

__all__ = ["Store", "spoiled"]


def spoiled(path: Path, record: object) -> str | None:
    """Why `record`, read from `path`, is not a record this sweep wrote (None when it is one)."""
    from sweep.spec import OBJECTIVES

    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    for key in ("id", "label", "device", "status"):
        if not isinstance(record.get(key), str):
            return f"its {key!r} is missing or not text"
    if record["id"] != path.stem:
        return f"its id {record['id']!r} is not its file's name"
    if record["status"] not in ("ok", "failed"):
        return f"its status is {record['status']!r}, not ok or failed"
    for name in OBJECTIVES:
        v = record.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)):
            return f"its {name} is {v!r}, not a number"
    return None


class Store:
    """The folder of one sweep's results. Records that cannot be read, or that are not records this sweep
    wrote (`spoiled`), are left out and listed in `spoiled` (path -> why): their points run again."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.trials = self.folder / "trials"
        self.spoiled: dict[Path, str] = {}

    def path(self, point_id: str) -> Path:
        return self.trials / f"{point_id}.json"

    def write(self, record: dict) -> Path:
        """Write a point's record, whole or not at all (a rerun of a failed point replaces its record)."""
        path = self.path(record["id"])
        write_json_atomic(path, record)
        return path

    def records(self) -> list[dict]:
        """Every record on disk (temporary files of an interrupted write are not records), by label."""
        out = []
        if self.trials.is_dir():
            for f in sorted(self.trials.glob("*.json")):
                if f.name.startswith(".tmp-"):
                    continue
                try:
                    record = json.loads(f.read_text())
                except (OSError, ValueError, RecursionError) as e:
                    self.spoiled[f] = f"not readable JSON ({getattr(e, 'strerror', None) or e})"
                    continue          # treated as not run, so --resume runs it again
                why = spoiled(f, record)
                if why is not None:
                    self.spoiled[f] = why
                    continue
                out.append(record)
        return sorted(out, key=lambda r: r.get("label", ""))

    def finished(self) -> set[str]:
        """Ids of the points that finished with status ok (a failed point is run again on --resume)."""
        return {r["id"] for r in self.records() if r.get("status") == "ok"}
