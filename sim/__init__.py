"""Co-simulation of the exported Verilog against the golden model: cocotb 2.x under Verilator.

`sim.runner` exports a `HwConfig` as Verilog (`export.writer.export_core`) and builds it under
Verilator through `cocotb_tools.runner`, one build folder per configuration under ``sim/`` of the build
cache (`eqprop.cache`);
`sim.tb_accel` is the cocotb testbench that loads parameters over AXI4-Lite (cocotbext-axi), runs a
command, waits for DONE and compares every state, weight and counter with `eqprop.hw.golden`.
"""

from eqprop.cli_support import interrupt_early as _interrupt_early

_interrupt_early()     # python -m sim...: a Ctrl-C during the imports is one line and exit 130
