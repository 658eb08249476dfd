"""cocotb testbenches that co-simulate the exported Verilog against the golden model (to come)."""
