"""The accelerator behind a UART: `rtl.bridge.UartBridge` driving `rtl.axil.AxiLiteAccelerator`, plus status LEDs.

`BoardDesign` is everything a board top holds except its pads: the UART lines, the clock and reset of
the ``sync`` domain, and three LED outputs. The board tops (`export.bitstream`) put it on a board; the
co-simulation (`sim.boardsim`) exports it to Verilog and drives its UART lines, so the
simulated path is the board's, bridge included.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from rtl.axil import AxiLiteAccelerator, address_width
from rtl.bridge import UartBridge

__all__ = ["AXI_PORTS", "BoardDesign"]

# the AXI4-Lite channels, without their prefix: the bridge's m_axil_* drive the core's s_axil_*
AXI_PORTS = ("awaddr", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready", "bresp", "bvalid", "bready",
             "araddr", "arvalid", "arready", "rdata", "rresp", "rvalid", "rready")
SLAVE_DRIVEN = frozenset({"awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp", "rvalid"})


class BoardDesign(wiring.Component):
    """The EqProp core with a UART-to-AXI4-Lite bridge and status LEDs.

    Parameters
    ----------
    cfg : HwConfig
    params : IntParams, optional
        Initial parameters (zeros if None); the host loads its own over the UART.
    divisor : int
        Clock cycles per UART bit (`rtl.uart.divisor` of the board clock and the baud rate).
    heartbeat : int
        Clock cycles per half period of the heartbeat LED (the board clock / 2: 1 Hz).
    timeout : int, optional
        The bridge's frame timeout in cycles (`rtl.bridge.UartBridge`).

    Members
    -------
    rx : Signal(1), in
        UART from the host.
    tx : Signal(1), out
        UART to the host.
    leds : Signal(3), out
        0: heartbeat (the design is clocked and out of reset); 1: STATUS.DONE (the core's ``irq``);
        2: the bridge is handling a frame.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    leds: Out(3)

    def __init__(self, *, cfg: HwConfig, params: IntParams | None = None, divisor: int, heartbeat: int = 6_000_000,
                 timeout: int | None = None):
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
            raise ValueError(f"Heartbeat must be a positive int (cycles), not {heartbeat!r}")
        self.cfg = cfg
        self.accel = AxiLiteAccelerator(cfg=cfg, params=params)
        self.bridge = UartBridge(divisor=divisor, address_width=address_width(cfg), timeout=timeout)
        self.heartbeat = heartbeat
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.submodules.accel = accel = self.accel
        for name in AXI_PORTS:
            master, slave = getattr(bridge, f"m_axil_{name}"), getattr(accel, f"s_axil_{name}")
            if name in SLAVE_DRIVEN:
                m.d.comb += master.eq(slave)
            else:
                m.d.comb += slave.eq(master)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx)]
        beat = Signal(range(self.heartbeat))
        led = Signal()
        with m.If(beat == self.heartbeat - 1):
            m.d.sync += [beat.eq(0), led.eq(~led)]
        with m.Else():
            m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.leds.eq(led | accel.irq << 1 | bridge.active << 2)
        return m
