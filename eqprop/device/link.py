"""The host side of the UART protocol (`eqprop.hw.protocol`, docs/uart-protocol.md): a serial port, frames,
replies, retries and resynchronisation.

`open_serial` opens a port with pyserial (exclusively, so that two programs never interleave frames) and
turns its failures into `LinkError`s that say what is wrong: no such port, a port another program holds,
no permission. `Link` sends one request at a time and waits for its reply; it reads registers and windows
in bursts of up to `MAX_WORDS` words. A reply that does not come, does not parse (wrong sync byte, CRC,
length: a port that "answers garbage"), or refuses the frame (BAD_CRC, TIMEOUT, ...: the frame was
damaged on the way, and nothing was executed) makes the link resynchronise (wait until the line has been
quiet for the bridge's timeout, discard what arrived) and send the request again, up to ``retries``
times. A write to CONTROL is not repeated when its reply was lost, since the bridge may have executed
it (a second START would train twice): that raises `LinkError` and the caller decides. A word the core
refuses (SLVERR) raises `BusError` with the ERROR code the core recorded.
"""

from __future__ import annotations

import time

from eqprop.hw.formats import ErrorCode, Reg
from eqprop.hw.protocol import (
    MAX_WORDS,
    REPLY_SYNC,
    TIMEOUT_BYTES,
    Opcode,
    ProtocolError,
    Reply,
    parse_reply,
    reply_length,
    request,
)

__all__ = ["BusError", "DeviceError", "Link", "LinkError", "open_serial"]

DEFAULT_BAUD = 115200


class DeviceError(RuntimeError):
    """Anything that goes wrong talking to an accelerator."""


class LinkError(DeviceError):
    """The port is missing, busy or not ours, or the device does not answer, or answers garbage."""


class BusError(DeviceError):
    """The core refused an access (SLVERR): `address`, the word `index` in its burst, and `code` (ERROR)."""

    def __init__(self, message: str, *, address: int, index: int, code: ErrorCode | int | None):
        super().__init__(message)
        self.address, self.index, self.code = address, index, code


def open_serial(port: str, baud: int = DEFAULT_BAUD, *, timeout_s: float = 0.05):
    """A pyserial port, 8N1 at `baud`, opened exclusively; `LinkError` naming the problem and the fix."""
    try:
        import serial
    except ImportError:
        raise LinkError("the serial backend needs pyserial: pip install pyserial") from None
    try:
        return serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=timeout_s,
                             exclusive=True)
    except serial.SerialException as e:
        text = str(e)
        errno_ = getattr(e, "errno", None)
        if errno_ == 2 or "No such file" in text or "could not open port" in text and "FileNotFound" in text:
            raise LinkError(f"serial port {port} does not exist: is the board plugged in? (list ports with "
                            "python -m serial.tools.list_ports)") from None
        if errno_ in (16, 11) or "lock" in text.lower() or "busy" in text.lower():
            raise LinkError(f"serial port {port} is busy: another program holds it (a terminal, another "
                            "python -m eqprop.device); close it and try again") from None
        if errno_ == 13 or "Permission denied" in text:
            raise LinkError(f"no permission to open serial port {port}: add yourself to its group (Debian: "
                            "sudo usermod -aG dialout $USER, then log in again)") from None
        raise LinkError(f"cannot open serial port {port}: {text}") from None


class Link:
    """Request/reply over a byte stream with pyserial's interface (``write``, ``read(n)`` with a timeout,
    ``reset_input_buffer``).

    Parameters
    ----------
    port
        An open pyserial ``Serial`` (or anything with its ``write``, ``read`` and ``reset_input_buffer``).
    baud : int
        The line's baud rate, for the resynchronisation wait (the bridge's timeout is `TIMEOUT_BYTES`
        byte times).
    timeout_s : float
        How long to wait for a reply to begin and to end.
    retries : int
        How often a request is sent again after a lost or refused reply.
    """

    def __init__(self, port, *, baud: int = DEFAULT_BAUD, timeout_s: float = 1.0, retries: int = 2):
        self.port, self.baud, self.timeout_s, self.retries = port, baud, timeout_s, retries
        self.sent = self.received = 0          # bytes, for throughput figures
        self.transactions = self.resyncs = 0

    # ---------------------------------------------------------------------------------------------
    # one frame

    def _read_exactly(self, n: int, deadline: float) -> bytes:
        out = b""
        while len(out) < n and time.monotonic() < deadline:
            out += self.port.read(n - len(out))
        return out

    def _reply(self, op: Opcode, count: int) -> tuple[Reply, list[int], int]:
        deadline = time.monotonic() + self.timeout_s
        garbage = b""
        while True:
            byte = self._read_exactly(1, deadline)
            if not byte:
                if garbage:
                    raise ProtocolError(f"the device answers garbage: {garbage[:16].hex(' ')} (no reply sync byte "
                                        f"{REPLY_SYNC:#04x}); is it the accelerator's bitstream at this baud rate?")
                raise TimeoutError(f"no reply within {self.timeout_s:g} s")
            if byte[0] == REPLY_SYNC:
                break
            garbage += byte
            if len(garbage) > 64:
                raise ProtocolError(f"the device answers garbage: {garbage[:16].hex(' ')} ...; is it the "
                                    "accelerator's bitstream at this baud rate?")
        code = self._read_exactly(1, deadline)
        if not code:
            raise TimeoutError("the reply stopped after its sync byte")
        n = (reply_length(op, count) if code[0] == Reply.OK else 3) - 2
        rest = self._read_exactly(n, deadline)
        frame = bytes([REPLY_SYNC]) + code + rest
        self.received += len(frame) + len(garbage)
        if len(rest) < n:
            raise TimeoutError(f"the reply stopped after {len(frame)} of {n + 2} bytes")
        return parse_reply(frame, op, count)

    def resync(self) -> None:
        """Wait until the line has been quiet for twice the bridge's frame timeout, discarding what arrives:
        the bridge has then abandoned any partial frame and hunts for the next sync byte."""
        self.resyncs += 1
        quiet = max(0.02, 2 * TIMEOUT_BYTES * 10 / self.baud)
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            if self.port.read(256):
                last = time.monotonic()
        self.port.reset_input_buffer()

    def transact(self, op: Opcode, address: int, *, count: int = 1, data=()) -> tuple[list[int], int]:
        """Send one request and return (words read, done); resend after a lost or refused reply."""
        frame = request(op, address, count=count, data=data)
        idempotent = not (op in (Opcode.WRITE, Opcode.WRITE_BURST) and address <= Reg.CONTROL < address + 4 * count)
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.resync()
            self.port.reset_input_buffer()
            self.port.write(frame)
            self.sent += len(frame)
            self.transactions += 1
            try:
                code, words, done = self._reply(op, count)
            except (TimeoutError, ProtocolError) as e:
                problem = str(e)
                if not idempotent:
                    self.resync()
                    raise LinkError(f"{op.name} at {address:#x}: {problem}; it may have been executed, so it was "
                                    "not sent again (the link has resynchronised)") from None
                continue
            if code == Reply.OK:
                return words, done
            # every frame `request` makes is well formed: a refusal means the line damaged it, and the bridge
            # executed nothing, so sending it again is safe
            problem = f"the bridge answered {code.name}"
        raise LinkError(f"{op.name} at {address:#x}: {problem} ({self.retries + 1} attempts; check the cable, the "
                        f"port and the baud rate, {self.baud})")

    # ---------------------------------------------------------------------------------------------
    # registers and windows

    def _refused(self, address: int, index: int) -> BusError:
        try:
            (code,), _ = self.transact(Opcode.READ, Reg.ERROR)
            code = ErrorCode(code) if code in ErrorCode._value2member_map_ else code
        except DeviceError:
            code = None
        name = code.name if isinstance(code, ErrorCode) else code
        return BusError(f"the core refused the access to {address + 4 * index:#x} (word {index} of the burst at "
                        f"{address:#x}): ERROR {name}", address=address, index=index, code=code)

    def read(self, address: int) -> int:
        return self.read_words(address, 1)[0]

    def write(self, address: int, value: int) -> None:
        self.write_words(address, [value])

    def read_words(self, address: int, count: int, *, signed: bool = False) -> list[int]:
        """`count` consecutive registers from `address`, in bursts of `MAX_WORDS`."""
        out = []
        for at in range(0, count, MAX_WORDS):
            n = min(MAX_WORDS, count - at)
            a = address + 4 * at
            words, done = (self.transact(Opcode.READ_BURST, a, count=n) if n > 1 else self.transact(Opcode.READ, a))
            if done < n:
                raise self._refused(a, done)
            out += words
        if signed:
            out = [w - (1 << 32) if w >= 1 << 31 else w for w in out]
        return out

    def write_words(self, address: int, values) -> None:
        values = [int(v) & 0xFFFF_FFFF for v in values]
        for at in range(0, len(values), MAX_WORDS):
            chunk = values[at:at + MAX_WORDS]
            a = address + 4 * at
            if len(chunk) > 1:
                _, done = self.transact(Opcode.WRITE_BURST, a, count=len(chunk), data=chunk)
            else:
                _, done = self.transact(Opcode.WRITE, a, data=chunk)
            if done < len(chunk):
                raise self._refused(a, done)
