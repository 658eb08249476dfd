"""The durable record of a sweep: one JSON file per finished point, written whole when the point finishes.

``<out>/<name>/trials/<point id>.json`` holds a point's record: the point (label, axes, HwConfig fields,
device), the sweep's settings, ``status`` ("ok" or "failed", with ``error``), its measurements
(`sweep.trial.evaluate`), the host and the seconds it took. Each file goes through `eqprop.atomic`, so a
killed sweep leaves every finished point's record whole and no half-written one; `--resume` reads them
back (`finished`) and runs only the rest. The id is a hash of everything that decides the result
(`sweep.spec.point_id`), so a record is never reused for a point that would measure differently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eqprop.atomic import write_json_atomic

__all__ = ["Store"]


class Store:
    """The folder of one sweep's results."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.trials = self.folder / "trials"

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
                    out.append(json.loads(f.read_text()))
                except (OSError, ValueError):
                    continue          # unreadable: treated as not run, so --resume runs it again
        return sorted(out, key=lambda r: r.get("label", ""))

    def finished(self) -> set[str]:
        """Ids of the points that finished with status ok (a failed point is run again on --resume)."""
        return {r["id"] for r in self.records() if r.get("status") == "ok"}
