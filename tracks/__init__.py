"""Verification tracks: the seed package's 24 claims about Equilibrium Propagation, tested honestly.

Run them with ``python -m tracks`` (see `tracks.__main__`). Each track is a module ``tNN_name.py``
with a `Track` (claim, experiment, criterion) and a ``run(ctx)`` that measures, judges the numbers
with a criterion that a broken implementation misses, and returns an `Outcome`. `tracks.registry`
lists the registered tracks, `tracks.runner` runs them and `tracks.notebook` writes the report.
"""

from eqprop.cli_support import interrupt_early as _interrupt_early
from tracks.base import Context, Outcome, Status, Track, Verdict  # standard library only

_interrupt_early()     # python -m tracks...: a Ctrl-C during the imports is one line and exit 130

__all__ = ["Context", "Outcome", "Status", "Track", "Verdict"]
