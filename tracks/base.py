"""What a verification track is: its claim, its criterion, the context it runs in and what it returns.

A track is a module ``tracks/tNN_name.py`` that defines ``TRACK = Track(...)``. Its ``run(ctx)`` does
the experiment at the size the context asks for (``tiny`` for the unit tests, ``quick`` for
``python -m tracks``, ``full`` for ``--full``), judges the numbers with a criterion written as code
(``judge(metrics) -> Verdict``) and returns an `Outcome`: metrics, verdict, markdown tables and plots.
The runner (`tracks.runner`) times it, turns an exception into an ERROR with its traceback, and the
notebook writer (`tracks.notebook`) renders it.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eqprop.atomic import atomic_path

__all__ = ["MODES", "Context", "Outcome", "Status", "Track", "Verdict", "md_table"]

MODES = ("tiny", "quick", "full")


class Status(enum.StrEnum):
    PASS = "PASS"        # the criterion is met
    PARTIAL = "PARTIAL"  # a weaker, stated form of the criterion is met
    FAIL = "FAIL"        # the criterion is missed: the claim does not hold as stated
    ERROR = "ERROR"      # the track crashed; the traceback is in the report


@dataclass(frozen=True)
class Verdict:
    status: Status
    reason: str  # the criterion evaluated on this run's numbers, in one or two sentences


@dataclass
class Outcome:
    """What a track's ``run`` returns."""

    metrics: dict                  # JSON-serialisable numbers, the evidence
    verdict: Verdict
    evidence: str                  # one line for the summary table
    tables: list[str] = field(default_factory=list)   # markdown tables
    figures: list[str] = field(default_factory=list)  # PNG paths relative to the output folder
    notes: str = ""                # honest remarks: what the numbers do not show


@dataclass
class Context:
    """Where and how big a track runs.

    Parameters
    ----------
    mode : str
        ``tiny`` (unit tests: seconds), ``quick`` (the default run) or ``full`` (more seeds, longer).
    out_dir : path
        Output folder; figures go to ``out_dir/figures``.
    seed : int
        Base seed; ``seeds`` derives the list of seeds from it.
    """

    mode: str = "quick"
    out_dir: Path = Path("results")
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.out_dir = Path(self.out_dir)

    @property
    def seeds(self) -> list[int]:
        n = 3 if self.mode == "full" else 1
        return [self.seed + i for i in range(n)]

    def pick(self, tiny, quick, full=None):
        """The value for this mode (``full`` defaults to ``quick``)."""
        if self.mode == "tiny":
            return tiny
        if self.mode == "full" and full is not None:
            return full
        return quick

    def save_figure(self, fig, name: str) -> str:
        """Save a matplotlib `Figure` as ``figures/<name>.png``; return the path relative to out_dir."""
        rel = os.path.join("figures", f"{name}.png")
        with atomic_path(self.out_dir / rel) as tmp:   # whole or not at all, as every output
            fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        return rel


@dataclass(frozen=True)
class Track:
    number: int
    title: str
    claim: str        # what the seed (or the literature) claims
    experiment: str   # what this track does to test it
    criterion: str    # PASS / PARTIAL / FAIL rule, in words (the code is in the module's judge())
    run: Callable[[Context], Outcome]
    budget_s: float = 60.0  # expected quick-mode seconds on one core

    @property
    def module(self) -> str:
        return self.run.__module__


def md_table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats are written with 4 significant digits."""
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
