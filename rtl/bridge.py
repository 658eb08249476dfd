"""A UART-to-AXI4-Lite bridge: the framed protocol of `eqprop.hw.protocol` (docs/uart-protocol.md) onto an
AXI4-Lite master, so that a host on a serial port can do everything the register map allows.

A request (sync byte 0xA5, opcode, 3-byte address, a count for bursts, the data of writes, CRC-8) is
received byte by byte from `rtl.uart.UartRx`; the CRC (Amaranth's CRC-8/SMBUS processor,
`eqprop.hw.protocol.CRC`) is checked before anything reaches the bus, so a
write burst is buffered (``4 * MAX_WORDS`` bytes, one iCE40 block RAM) until its CRC has matched: a
corrupted frame writes nothing. Then each word is one AXI4-Lite transaction at address, address + 4, ...;
a read word is sent as soon as the bus returns it. A burst stops at the first SLVERR (the words a read
burst did not read are sent as zeros) and the reply's ``done`` byte says how many words were accepted.
A word at an address the slave does not decode (2^address_width or above) counts as refused without
reaching the bus, where it would alias a register.

Errors answer at once with a three-byte reply naming the cause (`eqprop.hw.protocol.Reply`): an opcode
that is not an `Opcode` (as soon as it arrives), a burst count of 0 or above ``MAX_WORDS`` (as soon as it
arrives), a CRC mismatch, and a frame that stops arriving: when ``timeout`` cycles pass without a byte
in the middle of a frame (a byte was dropped on the line), the bridge abandons it, answers TIMEOUT and
hunts for the next sync byte. Between frames every byte other than 0xA5 is ignored, so a host
resynchronises by waiting one timeout and sending its next frame.

With ``protocol="uartbone"`` the bridge speaks LiteX's UARTBone instead (`UARTBONE`), the protocol of
LiteX's ``litex_server --uart`` and its ``CommUART`` client: a command byte (1 write, 2 read, 3 and 4 the
same at a fixed address), a word count, a 32-bit word address, most significant byte first, and for a
write the words, most significant byte first; a read answers its words the same way, and a write answers
nothing. UARTBone has no check and no error reply: a word the slave refuses is dropped (a write) or
read as 0, and a frame that stops arriving is abandoned after ``timeout`` cycles without a byte.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from eqprop.hw.protocol import (
    ADDRESS_BYTES,
    CRC,
    MAX_WORDS,
    REPLY_SYNC,
    REQUEST_SYNC,
    TIMEOUT_BYTES,
    Opcode,
    Reply,
)
from rtl.uart import UartRx, UartTx

__all__ = ["UARTBONE", "UartBridge"]

OKAY = 0b00
# LiteX's UARTBone commands (litex.soc.cores.uart, litex.tools.remote.comm_uart): write and read, each with
# the address incremented per word or fixed
UARTBONE = {"write_incr": 0x01, "read_incr": 0x02, "write_fixed": 0x03, "read_fixed": 0x04}


class UartBridge(wiring.Component):
    """UART (8N1) to AXI4-Lite master bridge.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit (`rtl.uart.divisor`).
    address_width : int
        Bits of ``m_axil_awaddr`` / ``m_axil_araddr`` (the slave's, `rtl.axil.address_width`; at most 24).
    timeout : int, optional
        Cycles without a byte after which a partly received frame is abandoned (TIMEOUT reply); default
        ``TIMEOUT_BYTES`` byte times.
    max_words : int
        Longest burst (the write buffer holds ``4 * max_words`` bytes); `eqprop.hw.protocol.MAX_WORDS`.
    protocol : str
        ``"eqprop"`` (`eqprop.hw.protocol`, docs/uart-protocol.md) or ``"uartbone"`` (LiteX's, `UARTBONE`).

    Members
    -------
    rx : Signal(1), in
        UART line from the host (idle high).
    tx : Signal(1), out
        UART line to the host (idle high).
    m_axil_* : AXI4-Lite master
        AW, W (WSTRB 0b1111), B, AR, R; one transaction at a time.
    active : Signal(1), out
        A frame is being received, executed or answered (for a status LED).

    Raises
    ------
    TypeError, ValueError
        For a divisor, width, timeout or burst length that is not a positive int in range.

    Latency: the reply's sync byte goes to the transmitter 2 cycles after the stop bit of the request's CRC
    byte; then the line sets the pace (10 bit periods a byte), each word adding its AXI4-Lite transaction
    (`rtl.axil`: 3 cycles a register) and, for a write, 5 cycles of buffer reads.
    """

    def __init__(self, *, divisor: int, address_width: int = 23, timeout: int | None = None,
                 max_words: int = MAX_WORDS, protocol: str = "eqprop"):
        if protocol not in ("eqprop", "uartbone"):
            raise ValueError(f"Protocol must be 'eqprop' or 'uartbone', not {protocol!r}")
        self.protocol = protocol
        for name, value in (("Divisor", divisor), ("Address width", address_width), ("Maximum burst", max_words)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {value!r}")
        if not 1 <= address_width <= 8 * ADDRESS_BYTES:
            raise ValueError(f"Address width must be in 1 .. {8 * ADDRESS_BYTES}, not {address_width!r}")
        if not 1 <= max_words <= 255:
            raise ValueError(f"Maximum burst must be in 1 .. 255, not {max_words!r}")
        self.divisor, self.address_width, self.max_words = divisor, address_width, max_words
        self.timeout = TIMEOUT_BYTES * 10 * divisor if timeout is None else timeout
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int) or self.timeout < 1:
            raise ValueError(f"Timeout must be a positive int (cycles), not {timeout!r}")
        aw = address_width
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1), "active": Out(1),
            "m_axil_awaddr": Out(aw), "m_axil_awvalid": Out(1), "m_axil_awready": In(1),
            "m_axil_wdata": Out(32), "m_axil_wstrb": Out(4), "m_axil_wvalid": Out(1), "m_axil_wready": In(1),
            "m_axil_bresp": In(2), "m_axil_bvalid": In(1), "m_axil_bready": Out(1),
            "m_axil_araddr": Out(aw), "m_axil_arvalid": Out(1), "m_axil_arready": In(1),
            "m_axil_rdata": In(32), "m_axil_rresp": In(2), "m_axil_rvalid": In(1), "m_axil_rready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UartRx(divisor=self.divisor)
        m.submodules.utx = utx = UartTx(divisor=self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        if self.protocol == "uartbone":
            self._uartbone(m, urx, utx)
            return m
        nbytes = 4 * self.max_words
        m.submodules.buffer = buf = Memory(shape=8, depth=nbytes, init=[])
        wr, rd = buf.write_port(), buf.read_port()

        rxd, rxv = urx.data.payload, urx.data.valid
        op = Signal(8)
        addr = Signal(8 * ADDRESS_BYTES)
        count = Signal(8)                        # words of the frame
        idx = Signal(range(self.max_words + 1))  # the word being executed
        nbyte = Signal(range(nbytes + 1))        # bytes received (address, data)
        b = Signal(range(5))                     # byte within a word
        word = Signal(32)
        done = Signal(8)                         # words the bus accepted
        failed = Signal()                        # a word of this burst was refused: skip the rest
        code = Signal(8)
        # the frame checks: Amaranth's CRC-8/SMBUS processor (`eqprop.hw.protocol.CRC`, the host's too), one
        # over the request's bytes after the sync byte, one over the reply's; a byte folded in at a cycle is
        # in ``.crc`` from the next
        m.submodules.crc_in = crc_in = CRC.create()
        m.submodules.crc_out = crc_out = CRC.create()
        m.d.comb += crc_in.data.eq(rxd)
        timer = Signal(range(self.timeout + 1))
        aw_ok, w_ok = Signal(), Signal()
        writes = (op == Opcode.WRITE) | (op == Opcode.WRITE_BURST)
        burst = (op == Opcode.READ_BURST) | (op == Opcode.WRITE_BURST)
        last = idx + 1 == count
        # an address past the slave's (bit address_width or above set) is refused like a word the slave refuses,
        # without reaching the bus, where it would alias a register
        outside = addr[self.address_width:].any() if self.address_width < 8 * ADDRESS_BYTES else 0

        m.d.comb += [self.m_axil_awaddr.eq(addr), self.m_axil_araddr.eq(addr), self.m_axil_wdata.eq(word),
                     self.m_axil_wstrb.eq(0b1111), rd.addr.eq(Cat(b[:2], idx)), wr.addr.eq(nbyte), wr.data.eq(rxd)]

        def take(then):
            """On a received byte: fold it into the CRC and restart the timeout."""
            m.d.comb += crc_in.valid.eq(1)
            m.d.sync += timer.eq(0)
            if then is not None:
                m.next = then

        def send(value, then, crc=True):
            """Offer `value` to the transmitter; when taken, fold it into the reply's CRC and go to `then`."""
            m.d.comb += [utx.data.valid.eq(1), utx.data.payload.eq(value)]
            with m.If(utx.data.ready):
                if crc:
                    m.d.comb += [crc_out.valid.eq(1), crc_out.data.eq(value)]
                m.next = then

        def refuse(reason):
            m.d.sync += code.eq(reason)
            m.next = "Reply-Sync"

        def next_word():
            """After a word: the next one, or the done byte."""
            m.d.sync += [idx.eq(idx + 1), addr.eq(addr + 4), b.eq(0)]
            with m.If(last):
                m.next = "Send-Done"
            with m.Else():
                m.next = "Fetch"

        receiving = Signal()

        def receive():
            """In a state that waits for a byte of the frame: give up after `timeout` cycles without one."""
            m.d.comb += receiving.eq(1)
            with m.If(~rxv & (timer == self.timeout)):
                refuse(Reply.TIMEOUT)

        with m.If(receiving & ~rxv):
            m.d.sync += timer.eq(timer + 1)
        with m.FSM(init="Hunt") as fsm:
            m.d.comb += self.active.eq(~fsm.ongoing("Hunt"))
            with m.State("Hunt"):
                with m.If(rxv & (rxd == REQUEST_SYNC)):
                    m.d.comb += [crc_in.start.eq(1), crc_out.start.eq(1)]
                    m.d.sync += [timer.eq(0), nbyte.eq(0), idx.eq(0), b.eq(0), done.eq(0),
                                 failed.eq(0), code.eq(Reply.OK)]
                    m.next = "Opcode"
            with m.State("Opcode"):
                receive()
                with m.If(rxv):
                    m.d.sync += op.eq(rxd)
                    take("Address")
                    with m.If(~Cat(*(rxd == o for o in Opcode)).any()):
                        refuse(Reply.BAD_OPCODE)
            with m.State("Address"):
                receive()
                with m.If(rxv):
                    m.d.sync += [addr.eq(Cat(addr[8:], rxd)), nbyte.eq(nbyte + 1)]
                    take(None)
                    with m.If(nbyte == ADDRESS_BYTES - 1):
                        m.d.sync += [nbyte.eq(0), count.eq(1)]
                        with m.If(burst):
                            m.next = "Count"
                        with m.Elif(writes):
                            m.next = "Data"
                        with m.Else():
                            m.next = "Check"
            with m.State("Count"):
                receive()
                with m.If(rxv):
                    m.d.sync += count.eq(rxd)
                    take(None)
                    with m.If((rxd == 0) | (rxd > self.max_words)):
                        refuse(Reply.BAD_LENGTH)
                    with m.Elif(writes):
                        m.next = "Data"
                    with m.Else():
                        m.next = "Check"
            with m.State("Data"):
                receive()
                m.d.comb += wr.en.eq(rxv)
                with m.If(rxv):
                    m.d.sync += nbyte.eq(nbyte + 1)
                    take(None)
                    with m.If(nbyte + 1 == count << 2):
                        m.next = "Check"
            with m.State("Check"):
                receive()
                with m.If(rxv):
                    m.d.sync += timer.eq(0)
                    with m.If(rxd != crc_in.crc):
                        refuse(Reply.BAD_CRC)
                    with m.Else():
                        m.next = "Reply-Sync"
            # the reply: sync, code, then (OK) the words and done, then the CRC
            with m.State("Reply-Sync"):
                send(REPLY_SYNC, "Reply-Code", crc=False)
            with m.State("Reply-Code"):
                with m.If(code != Reply.OK):
                    send(code, "Send-CRC")
                with m.Elif(writes):
                    send(code, "Fetch")
                with m.Else():
                    send(code, "Read")
            # a write: four bytes from the buffer (one cycle of RAM latency), then the bus
            with m.State("Fetch"):
                with m.If(b == 4):
                    m.d.sync += [word.eq(Cat(word[8:], rd.data)), aw_ok.eq(0), w_ok.eq(0)]
                    m.next = "Write"
                with m.Else():
                    m.d.sync += b.eq(b + 1)
                    with m.If(b != 0):
                        m.d.sync += word.eq(Cat(word[8:], rd.data))
            with m.State("Write"):
                with m.If(failed | outside):
                    m.d.sync += failed.eq(1)
                    next_word()
                with m.Else():
                    self._write_handshake(m, aw_ok, w_ok)
            with m.State("Write-Response"):
                m.d.comb += self.m_axil_bready.eq(1)
                with m.If(self.m_axil_bvalid):
                    with m.If(self.m_axil_bresp == OKAY):
                        m.d.sync += done.eq(done + 1)
                    with m.Else():
                        m.d.sync += failed.eq(1)
                    next_word()
            # a read: the bus, then four bytes to the transmitter
            with m.State("Read"):
                with m.If(failed | outside):
                    m.d.sync += [word.eq(0), failed.eq(1)]
                    m.next = "Send-Word"
                with m.Else():
                    m.d.comb += self.m_axil_arvalid.eq(1)
                    with m.If(self.m_axil_arready):
                        m.next = "Read-Data"
            with m.State("Read-Data"):
                m.d.comb += self.m_axil_rready.eq(1)
                with m.If(self.m_axil_rvalid):
                    with m.If(self.m_axil_rresp == OKAY):
                        m.d.sync += [word.eq(self.m_axil_rdata), done.eq(done + 1)]
                    with m.Else():
                        m.d.sync += [word.eq(0), failed.eq(1)]
                    m.next = "Send-Word"
            with m.State("Send-Word"):
                m.d.comb += [utx.data.valid.eq(1), utx.data.payload.eq(word[:8])]
                with m.If(utx.data.ready):
                    m.d.comb += [crc_out.valid.eq(1), crc_out.data.eq(word[:8])]
                    m.d.sync += [word.eq(word >> 8), b.eq(b + 1)]
                    with m.If(b == 3):
                        m.d.sync += [idx.eq(idx + 1), addr.eq(addr + 4), b.eq(0)]
                        with m.If(last):
                            m.next = "Send-Done"
                        with m.Else():
                            m.next = "Read"
            with m.State("Send-Done"):
                send(done, "Send-CRC")
            with m.State("Send-CRC"):
                send(crc_out.crc, "Hunt", crc=False)
        return m

    def _write_handshake(self, m, aw_ok, w_ok):
        """One AXI4-Lite write: AWVALID and WVALID each held until its READY (in either order, or together),
        `aw_ok` and `w_ok` remembering which went; then on to the state "Write-Response"."""
        m.d.comb += [self.m_axil_awvalid.eq(~aw_ok), self.m_axil_wvalid.eq(~w_ok)]
        aw_now = aw_ok | self.m_axil_awready
        w_now = w_ok | self.m_axil_wready
        m.d.sync += [aw_ok.eq(aw_now), w_ok.eq(w_now)]
        with m.If(aw_now & w_now):
            m.next = "Write-Response"

    def _uartbone(self, m, urx, utx):
        """LiteX's UARTBone onto the AXI4-Lite master (the module docstring)."""
        rxd, rxv = urx.data.payload, urx.data.valid
        cmd, length, count = Signal(8), Signal(8), Signal(8)
        waddr = Signal(32)                      # the word address
        word = Signal(32)
        b = Signal(2)                           # byte within the address or a word
        aw_ok, w_ok = Signal(), Signal()
        timer = Signal(range(self.timeout + 1))
        incr = (cmd == UARTBONE["write_incr"]) | (cmd == UARTBONE["read_incr"])
        writes = (cmd == UARTBONE["write_incr"]) | (cmd == UARTBONE["write_fixed"])
        reads = (cmd == UARTBONE["read_incr"]) | (cmd == UARTBONE["read_fixed"])
        aw = self.address_width
        # a word address past the slave's is refused without reaching the bus, where it would alias a register
        outside = waddr[aw - 2:].any() if aw - 2 < 32 else 0
        m.d.comb += [self.m_axil_awaddr.eq(waddr << 2), self.m_axil_araddr.eq(waddr << 2),
                     self.m_axil_wdata.eq(word), self.m_axil_wstrb.eq(0b1111)]

        def next_word(then):
            m.d.sync += [count.eq(count + 1), b.eq(0)]
            with m.If(incr):
                m.d.sync += waddr.eq(waddr + 1)
            with m.If(count + 1 == length):
                m.next = "Command"
            with m.Else():
                m.next = then

        receiving = Signal()
        with m.If(receiving & ~rxv):
            m.d.sync += timer.eq(timer + 1)
        with m.Elif(rxv):
            m.d.sync += timer.eq(0)

        def receive():
            """In a state that waits for a byte of the frame: abandon the frame after `timeout` cycles."""
            m.d.comb += receiving.eq(1)
            with m.If(~rxv & (timer == self.timeout)):
                m.next = "Command"

        with m.FSM(init="Command") as fsm:
            m.d.comb += self.active.eq(~fsm.ongoing("Command"))
            with m.State("Command"):
                with m.If(rxv):
                    m.d.sync += [cmd.eq(rxd), count.eq(0), b.eq(0), timer.eq(0)]
                    m.next = "Length"
            with m.State("Length"):
                receive()
                with m.If(rxv):
                    m.d.sync += length.eq(rxd)
                    m.next = "Address"
            with m.State("Address"):
                receive()
                with m.If(rxv):
                    m.d.sync += [waddr.eq(Cat(rxd, waddr[:24])), b.eq(b + 1)]
                    with m.If(b == 3):
                        with m.If((length == 0) | ~(writes | reads)):
                            m.next = "Command"
                        with m.Elif(writes):
                            m.next = "Data"
                        with m.Else():
                            m.next = "Read"
            with m.State("Data"):
                receive()
                with m.If(rxv):
                    m.d.sync += [word.eq(Cat(rxd, word[:24])), b.eq(b + 1)]
                    with m.If(b == 3):
                        m.d.sync += [aw_ok.eq(0), w_ok.eq(0)]
                        m.next = "Write"
            with m.State("Write"):
                with m.If(outside):
                    next_word("Data")
                with m.Else():
                    self._write_handshake(m, aw_ok, w_ok)
            with m.State("Write-Response"):
                m.d.comb += self.m_axil_bready.eq(1)
                with m.If(self.m_axil_bvalid):
                    next_word("Data")
            with m.State("Read"):
                with m.If(outside):
                    m.d.sync += word.eq(0)
                    m.next = "Send"
                with m.Else():
                    m.d.comb += self.m_axil_arvalid.eq(1)
                    with m.If(self.m_axil_arready):
                        m.next = "Read-Data"
            with m.State("Read-Data"):
                m.d.comb += self.m_axil_rready.eq(1)
                with m.If(self.m_axil_rvalid):
                    m.d.sync += word.eq(Mux(self.m_axil_rresp == OKAY, self.m_axil_rdata, 0))
                    m.next = "Send"
            with m.State("Send"):
                m.d.comb += [utx.data.valid.eq(1), utx.data.payload.eq(word[24:])]
                with m.If(utx.data.ready):
                    m.d.sync += [word.eq(word << 8), b.eq(b + 1)]
                    with m.If(b == 3):
                        next_word("Read")
