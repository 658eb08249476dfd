"""Verilog export for FPGA toolchains: .v, memory images, manifest and FuseSoC core (to come)."""
