"""Verilog export for FPGA toolchains: the `.v` file, memory images, ``manifest.json`` and a FuseSoC
core (`export.writer`), and the Verilator lint with its documented suppressions (`export.lint`).

Run ``python -m export --config CONFIG --weights CHECKPOINT --out DIR``.
"""

from eqprop.cli_support import interrupt_early as _interrupt_early

_interrupt_early()     # python -m export...: a Ctrl-C during the imports is one line and exit 130
