"""Benchmarks: figures printed as ratios to a baseline measured in the same run."""

from eqprop.cli_support import interrupt_early as _interrupt_early

_interrupt_early()     # python -m bench...: a Ctrl-C during the imports is one line and exit 130
