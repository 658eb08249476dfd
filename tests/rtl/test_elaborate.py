"""The whole accelerator elaborates to RTLIL (no Yosys needed) at the default configuration and at
the extremes of P and the weight formats, without warnings, and stays small: a netlist that grows
much faster than P means an expression is being copied instead of shared."""

import pytest
from amaranth.back import rtlil

from eqprop.hw.hwconfig import HwConfig
from rtl.axil import AxiLiteAccelerator

CONFIGS = {
    "default-P8": (HwConfig(), 2_000_000),
    "P16": (HwConfig(mac_lanes=16), 3_500_000),
    "P1": (HwConfig(mac_lanes=1), 1_000_000),
    "ternary": (HwConfig(weight_format="ternary", weight_bits=2, shadow_bits=8), 2_000_000),
    "int4-3layer-P3": (HwConfig(sizes=(20, 12, 7, 3), weight_bits=4, shadow_bits=10, mac_lanes=3), 2_000_000),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_converts_to_rtlil(name):
    cfg, limit = CONFIGS[name]
    text = rtlil.convert(AxiLiteAccelerator(cfg=cfg), name="eqprop_accel")
    assert "module \\eqprop_accel" in text
    assert len(text) < limit, f"{name}: RTLIL is {len(text)} characters"
