"""Tests of the way onto a board: `rtl.uart` and `rtl.bridge` (Amaranth simulation), the board tops of
`export.bitstream`, the UART protocol's document, and the host API `eqprop.device` on the golden model and on
the co-simulated board (Verilator, behind a pty), with its robustness cases and its command line."""
