# amaranth: UnusedElaboratable=no
"""The UART bridge's UARTBone mode (``UartBridge(protocol="uartbone")``) driven by LiteX's own client code:
LiteX's ``CommUART`` (the client behind ``litex_server --uart``) builds every frame and parses every reply,
its serial port replaced by the UART lines of an Amaranth simulation of the bridge and the core. Reads of
ID, VERSION and a configuration register, single and burst writes read back (incrementing and fixed
address), a refused write dropped and a refused read answered 0 (an address past the slave's without reaching
the bus), a command run to DONE, and a frame that
stops arriving abandoned after the timeout. Every expected value comes from `eqprop.hw.formats`."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    ID_MAGIC,
    VERSION,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
)
from eqprop.hw.hwconfig import HwConfig
from rtl.axil import AxiLiteAccelerator, address_width
from rtl.bridge import UartBridge

CFG = HwConfig(sizes=(5, 6, 3), free_steps=3, nudge_steps=2, mac_lanes=2)
DIV = 4            # cycles per UART bit
TIMEOUT = 200      # cycles without a byte that abandon a frame


class Top(wiring.Component):
    """The bridge in UARTBone mode driving the core's AXI4-Lite slave."""

    def __init__(self):
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = AxiLiteAccelerator(cfg=CFG)
        m.submodules.bridge = bridge = UartBridge(divisor=DIV, address_width=address_width(CFG), timeout=TIMEOUT,
                                                  protocol="uartbone")
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx)]
        for name, member in bridge.signature.members.items():
            if name.startswith("m_axil_"):
                target = getattr(core, "s" + name[1:])
                if member.flow == Out:
                    m.d.comb += target.eq(getattr(bridge, name))
                else:
                    m.d.comb += getattr(bridge, name).eq(target)
        return m


class SimulatedPort:
    """A pyserial-like port whose bytes go over the simulated UART: `write` queues them for the rx line,
    `read` runs the simulation until the tx line has sent enough."""

    def __init__(self):
        self.dut = Top()
        self.to_dut, self.from_dut = bytearray(), bytearray()
        self.sim = Simulator(self.dut)
        self.sim.add_clock(1e-6)
        self.sim.add_testbench(self._drive, background=True)
        self.sim.add_testbench(self._monitor, background=True)

    async def _drive(self, ctx):
        ctx.set(self.dut.rx, 1)
        while True:
            if not self.to_dut:
                await ctx.tick()
                continue
            byte = self.to_dut.pop(0)
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(self.dut.rx, bit)
                await ctx.tick().repeat(DIV)

    async def _monitor(self, ctx):
        while True:
            await ctx.tick()
            if ctx.get(self.dut.tx) == 0:
                await ctx.tick().repeat(DIV // 2)
                byte = 0
                for i in range(8):
                    await ctx.tick().repeat(DIV)
                    byte |= ctx.get(self.dut.tx) << i
                await ctx.tick().repeat(DIV)
                self.from_dut.append(byte)

    def run(self, cycles):
        for _ in range(2 * cycles):       # two events a cycle: the clock's edges
            self.sim.advance()

    def write(self, data):
        self.to_dut += bytes(data)
        return len(data)

    def read(self, n):
        for _ in range(200_000):
            if len(self.from_dut) >= n:
                break
            self.sim.advance()
        else:
            raise TimeoutError(f"the bridge sent {len(self.from_dut)} bytes, {n} awaited")
        out, self.from_dut[:] = bytes(self.from_dut[:n]), self.from_dut[n:]
        return out

    def inWaiting(self):             # noqa: N802 (pyserial's name, which CommUART calls)
        return len(self.from_dut)


def test_litex_comm_uart_reaches_the_core_through_the_uartbone_mode():
    from litex.tools.remote.comm_uart import CommUART

    comm = CommUART("loop://")       # LiteX's client; its port becomes the simulated UART
    comm.port = port = SimulatedPort()
    regs = config_registers(CFG)
    got, want = {}, {}

    def check(name, value, expect):
        got[name], want[name] = value, expect

    check("ID", comm.read(Reg.ID), ID_MAGIC)
    check("VERSION", comm.read(Reg.VERSION), VERSION)
    check("CFG_FEATURES", comm.read(Reg.CFG_FEATURES), regs["CFG_FEATURES"])
    check("three registers at once", comm.read(Reg.ID, length=3), [ID_MAGIC, VERSION, 0])
    comm.write(Reg.LR_SHIFT, 9)
    check("LR_SHIFT", comm.read(Reg.LR_SHIFT), 9)
    comm.write(Reg.INPUT, [10, 20, 30, 40, 50])
    check("INPUT burst", comm.read(Reg.INPUT, length=5), [10, 20, 30, 40, 50])
    comm.write(Reg.WEIGHT + 4, [3, -2 & 0xFFFF_FFFF], burst="fixed")   # both to one element: the last stays
    check("fixed-address write", comm.read(Reg.WEIGHT + 4, length=2, burst="fixed"), [-2 & 0xFFFF_FFFF] * 2)
    comm.write(Reg.ID, 0)                                               # refused: dropped
    check("ERROR after a refused write", comm.read(Reg.ERROR), ErrorCode.BAD_ADDRESS)
    check("a refused read (past the INPUT window)", comm.read(Reg.INPUT + 4 * CFG.sizes[0]), 0)
    check("its ERROR", comm.read(Reg.ERROR), ErrorCode.BAD_ADDRESS)
    comm.write(Reg.CONTROL, Control.RESET)
    check("a read past the slave's addresses", comm.read(1 << address_width(CFG)), 0)
    check("which never reached the bus", comm.read(Reg.ERROR), ErrorCode.NONE)
    comm.write(Reg.CONTROL, int(Control.START) | int(Mode.INFER) << CONTROL_MODE_SHIFT)
    for _ in range(100):
        if comm.read(Reg.STATUS) & Status.DONE:
            break
    check("STATUS after INFER", comm.read(Reg.STATUS) & (Status.DONE | Status.ERROR), Status.DONE)
    port.write([0x02, 1, 0, 0])            # a read whose address stops arriving
    port.run(TIMEOUT + 40 * DIV * 4)
    check("read after an abandoned frame", comm.read(Reg.VERSION), VERSION)
    assert got == want


def test_uartbone_commands_are_litex_s_and_documented():
    """The command codes are LiteX's own (its client's constants), and docs/uart-protocol.md states them."""
    from pathlib import Path

    import pytest
    from litex.tools.remote import comm_uart

    from rtl.bridge import UARTBONE

    assert UARTBONE == {"write_incr": comm_uart.CMD_WRITE_BURST_INCR, "read_incr": comm_uart.CMD_READ_BURST_INCR,
                        "write_fixed": comm_uart.CMD_WRITE_BURST_FIXED, "read_fixed": comm_uart.CMD_READ_BURST_FIXED}
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "uart-protocol.md").read_text().split())
    assert all(f"`0x{code:02X}` {name.replace('_', ' ')}" in doc for name, code in UARTBONE.items())
    with pytest.raises(ValueError, match=r"^Protocol must be 'eqprop' or 'uartbone', not 'wishbone'$"):
        UartBridge(divisor=4, protocol="wishbone")
