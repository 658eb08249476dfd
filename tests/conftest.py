"""The test suite's simulator builds go to this checkout's ``build/cache/`` (ignored by git), not the per-user
cache a user's commands share (`eqprop.cache`): two checkouts of different code tested at once on one machine
never build into the same folder. ``EQPROP_CACHE`` set by the caller wins."""

import os
from pathlib import Path

from eqprop.cache import CACHE_ENV

os.environ.setdefault(CACHE_ENV, str(Path(__file__).resolve().parents[1] / "build" / "cache"))
