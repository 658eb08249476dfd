"""Verilog export for FPGA toolchains: the `.v` file, memory images, ``manifest.json`` and a FuseSoC
core (`export.writer`), and the Verilator lint with its documented suppressions (`export.lint`).

Run ``python -m export --config CONFIG --weights CHECKPOINT --out DIR``.
"""
