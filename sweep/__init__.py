"""Design-space sweeps on Ray Tune: accuracy, resources, Fmax and throughput across configurations.

``python -m sweep FILE`` (``make sweep``) reads a sweep file (`sweep.spec`), runs each point as a Ray Tune
trial (`sweep.runner`, `sweep.trial`), keeps each finished point's record on disk (`sweep.store`) and
writes tables, Pareto fronts and plots (`sweep.report`). Ray is an optional dependency:
``pip install '.[sweep]'``.
"""

from eqprop.cli_support import interrupt_early as _interrupt_early

_interrupt_early()     # python -m sweep...: a Ctrl-C during the imports is one line and exit 130
