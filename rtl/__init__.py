"""The accelerator in Amaranth 0.5: MAC lanes, memories, control FSM and AXI4-Lite slave (to come)."""
