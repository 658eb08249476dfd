"""Where the commands keep their build caches: a folder of the user's, never the package's source tree.

`cache_dir` is ``$EQPROP_CACHE`` when it is set, else ``$XDG_CACHE_HOME/eqprop-hw``, else
``~/.cache/eqprop-hw`` (the XDG base-directory convention). The simulator builds live under it, one folder
per configuration, rebuilt only when their sources change:

- ``sim/<configuration>/``: the cocotb builds of `sim.runner` (``make sim``, the tests, the tracks);
- ``fastsim/<configuration>/``: the Verilator C++ harness of `sim.fast`;
- ``boardsim/<configuration>-d<divisor>/``: the co-simulated board of `sim.boardsim` (``python -m eqprop.device infer
  --cosim``).

Removing the folder costs only the time to build again. Reports go where the command runs (``--out``,
``results/`` by default) and the FPGA flow's work files to ``./build``. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir"]

CACHE_ENV = "EQPROP_CACHE"
NAME = "eqprop-hw"


def cache_dir(*parts: str) -> Path:
    """The cache folder (see the module), joined with `parts`; read from the environment at each call, so a
    change of ``EQPROP_CACHE`` applies to the next build. Creates nothing."""
    own = os.environ.get(CACHE_ENV, "")
    if own:
        root = Path(own).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        root = (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / NAME
    return root.joinpath(*parts)
