"""Example: the accelerator inside your own Amaranth design.

`Classifier` is a user's component that holds the core (`rtl.axil.AxiLiteAccelerator`, parameterised by
a `HwConfig` and its parameters) as a submodule and drives the core's AXI4-Lite slave itself, with no bus
interconnect: on ``start`` it writes the ``pixels`` into the INPUT window, starts an INFER, waits for the
core's ``irq`` (STATUS.DONE) and reads RESULT. The register offsets and codes come from
`eqprop.hw.formats`, as a driver's should. ``tests/test_examples.py`` simulates it against the golden model.

Elaborate it into your top level like any component::

    from eqprop.hw.hwconfig import HwConfig
    from eqprop.hw.golden import init_params

    cfg = HwConfig(sizes=(64, 64, 10))
    m.submodules.classifier = classifier = Classifier(cfg, init_params(cfg, seed=0))
    m.d.comb += [classifier.start.eq(button), leds.eq(classifier.result)]
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from eqprop.hw.formats import CONTROL_MODE_SHIFT, Control, Mode, Reg
from rtl.axil import AxiLiteAccelerator

__all__ = ["Classifier"]


class Classifier(wiring.Component):
    """One inference per ``start`` pulse, through the core's own bus.

    Members
    -------
    start : In(1)
        Pulse to classify ``pixels`` (ignored while ``busy``).
    pixels : In(ArrayLayout(state_bits, n_0))
        The input codes, held while ``busy``.
    busy : Out(1)
    valid : Out(1)
        ``result`` holds the class of the last ``start`` (until the next one).
    result : Out(8)
    """

    def __init__(self, cfg, params=None):
        self.cfg, self.params = cfg, params
        super().__init__({"start": In(1), "pixels": In(ArrayLayout(cfg.state_bits, cfg.sizes[0])),
                          "busy": Out(1), "valid": Out(1), "result": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = AxiLiteAccelerator(cfg=self.cfg, params=self.params)
        n0 = self.cfg.sizes[0]
        i = Signal(range(n0))

        def write(name, addr, data, then):
            """States `name` and `name`-Response: one register write (address and data together), then `then`."""
            with m.State(name):
                m.d.comb += [self.busy.eq(1), accel.s_axil_awaddr.eq(addr), accel.s_axil_wdata.eq(data),
                             accel.s_axil_wstrb.eq(0b1111), accel.s_axil_awvalid.eq(1), accel.s_axil_wvalid.eq(1)]
                with m.If(accel.s_axil_awready):
                    m.next = f"{name}-Response"
            with m.State(f"{name}-Response"):
                m.d.comb += [self.busy.eq(1), accel.s_axil_bready.eq(1)]
                with m.If(accel.s_axil_bvalid):
                    then()

        def next_pixel():
            m.d.sync += i.eq(i + 1)
            with m.If(i == n0 - 1):
                m.next = "Start"
            with m.Else():
                m.next = "Input"

        def started():
            m.next = "Running"

        with m.FSM():
            with m.State("Idle"):
                with m.If(self.start):
                    m.d.sync += [i.eq(0), self.valid.eq(0)]
                    m.next = "Input"
            write("Input", Reg.INPUT + 4 * i, self.pixels[i], next_pixel)
            write("Start", Reg.CONTROL, int(Control.START) | int(Mode.INFER) << CONTROL_MODE_SHIFT, started)
            with m.State("Running"):         # START cleared DONE (irq); wait for it to rise again
                m.d.comb += self.busy.eq(1)
                with m.If(accel.irq):
                    m.next = "Read"
            with m.State("Read"):
                m.d.comb += [self.busy.eq(1), accel.s_axil_araddr.eq(Reg.RESULT), accel.s_axil_arvalid.eq(1)]
                with m.If(accel.s_axil_arready):
                    m.next = "Result"
            with m.State("Result"):
                m.d.comb += [self.busy.eq(1), accel.s_axil_rready.eq(1)]
                with m.If(accel.s_axil_rvalid):
                    m.d.sync += [self.result.eq(accel.s_axil_rdata), self.valid.eq(1)]
                    m.next = "Idle"
        return m
