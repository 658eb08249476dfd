"""A UART receiver and transmitter, 8N1 (one start bit, 8 data bits LSB first, no parity, one stop bit).

The bit period is ``divisor`` clock cycles, ``round(clk_hz / baud)`` (`divisor`); the receiver
synchronises its input with two flip-flops, waits for a falling edge, samples the start bit half a bit
later (a glitch shorter than that is not a start bit) and each data bit at its centre, and drops a byte
whose stop bit is low (a framing error, flagged on ``error`` for one cycle). Used by `rtl.bridge`.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "divisor"]


def divisor(clk_hz: float, baud: int) -> int:
    """Clock cycles per bit; ValueError when the rate is off by more than 2 % or below 4 cycles a bit."""
    if not baud > 0 or not clk_hz > 0:
        raise ValueError(f"baud and clock must be positive, not {baud!r} and {clk_hz!r}")
    d = round(clk_hz / baud)
    if d < 4:
        raise ValueError(f"the clock must be at least 4 times the baud rate, not {clk_hz / baud:.2f} times")
    if abs(clk_hz / d - baud) / baud > 0.02:
        raise ValueError(f"baud {baud} is {100 * abs(clk_hz / d - baud) / baud:.1f}% off at {clk_hz / 1e6:g} MHz "
                         f"(divisor {d}); a UART tolerates about 2%")
    return d


def _check(d) -> int:
    if isinstance(d, bool) or not isinstance(d, int):
        raise TypeError(f"Divisor must be an int, not {d!r}")
    if d < 4:
        raise ValueError(f"Divisor must be at least 4, not {d!r}")
    return d


class UartRx(wiring.Component):
    """UART receiver, 8N1.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    rx : Signal(1), in
        The line (idle high); asynchronous, synchronised here.
    data : stream out, always ready
        One byte per stop bit received (``valid`` for one cycle, in the middle of the stop bit).
    error : Signal(1), out
        One-cycle strobe: a byte whose stop bit was low was dropped.

    Latency: a byte is ``valid`` 9.5 bit periods (plus 2 cycles of synchroniser) after its start bit begins.
    """

    rx: In(1, init=1)
    data: Out(stream.Signature(8, always_ready=True))
    error: Out(1)

    def __init__(self, *, divisor: int):
        self.divisor = _check(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        sync = Signal(2, init=0b11)
        m.d.sync += sync.eq(Cat(self.rx, sync[0]))   # two flip-flops: sync[1] is the synchronised line
        line = sync[1]
        timer = Signal(range(d + 1))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += [self.data.valid.eq(0), self.error.eq(0)]
        m.d.comb += self.data.payload.eq(shift)
        with m.FSM(init="Idle"):
            with m.State("Idle"):
                with m.If(~line):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "Start"
            with m.State("Start"):
                with m.If(timer == 0):
                    with m.If(line):           # a glitch, not a start bit
                        m.next = "Idle"
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                        m.next = "Data"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Data"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], line)),
                                 timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "Stop"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Stop"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += self.data.valid.eq(1)
                        m.next = "Idle"
                    with m.Else():            # framing error: wait for the line to go idle again
                        m.d.sync += self.error.eq(1)
                        m.next = "Break"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Break"):
                with m.If(line):
                    m.next = "Idle"
        return m


class UartTx(wiring.Component):
    """UART transmitter, 8N1.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    data : stream in
        A byte is taken (``ready``) when the transmitter is idle; it is sent in 10 bit periods.
    tx : Signal(1), out
        The line (idle high), registered.
    """

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, *, divisor: int):
        self.divisor = _check(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(range(11))     # bits left to send: start, 8 data, stop
        shift = Signal(9)            # the next bits, LSB first; the stop bit (1) last
        m.d.comb += self.data.ready.eq(bits == 0)
        with m.If(bits == 0):
            with m.If(self.data.valid):
                m.d.sync += [self.tx.eq(0), shift.eq(self.data.payload | (1 << 8)), bits.eq(10), timer.eq(d - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [timer.eq(d - 1), bits.eq(bits - 1)]
            with m.If(bits == 1):
                m.d.sync += self.tx.eq(1)
            with m.Else():
                m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift >> 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
