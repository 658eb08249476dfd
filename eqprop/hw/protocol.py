"""The framed serial protocol between a host and the UART-to-AXI4-Lite bridge (`rtl.bridge`).

Defined once, here: the gateware (`rtl.bridge.UartBridge`) switches on these opcodes and reply codes,
and the host (`eqprop.device`) packs and parses frames with the functions below, so the two cannot
drift. docs/uart-protocol.md describes it for people; `tests/board/test_protocol_doc.py` checks that
page against this module.

Every multi-byte field is little-endian. A request::

    0xA5 | opcode | address (3 bytes) | [count (1 byte): burst opcodes] | [data (4 x count bytes): writes] | CRC

A reply::

    0x5A | code | [data (4 x count bytes): reads, code OK] | [done (1 byte): code OK] | CRC

The CRC is CRC-8/SMBUS (polynomial x^8 + x^2 + x + 1, 0x07; initial value 0; no reflection, no final
XOR) over every byte after the sync byte. ``done`` is the number of words the bus answered OKAY before
the first SLVERR (= count when every word was accepted); a burst stops at the first refused word (a
read burst sends zeros for the words it did not read).
"""

from __future__ import annotations

import enum

from amaranth.lib.crc.catalog import CRC8_SMBUS

__all__ = ["ADDRESS_BYTES", "CRC", "CRC_POLY", "MAX_WORDS", "REPLY_SYNC", "REQUEST_SYNC", "TIMEOUT_BYTES", "Opcode",
           "ProtocolError", "Reply", "crc8", "parse_reply", "reply_length", "request"]

REQUEST_SYNC = 0xA5     # first byte of every request (the bridge ignores other bytes between frames)
REPLY_SYNC = 0x5A       # first byte of every reply
ADDRESS_BYTES = 3       # byte addresses of the 23-bit AXI4-Lite map (rtl.axil.address_width)
MAX_WORDS = 64          # words in one burst: the bridge buffers a write burst (256 bytes, one iCE40 RAM) until
                        # its CRC has been checked, so that a corrupted frame writes nothing
# The frame check: CRC-8/SMBUS from Amaranth's CRC catalogue (amaranth.lib.crc), one byte a word. The gateware
# builds its hardware processor (`CRC.create()`, rtl.bridge) and the host uses its software model
# (`CRC.compute`), so the two are one definition.
CRC = CRC8_SMBUS(data_width=8)
CRC_POLY = CRC.algorithm.polynomial     # 0x07: x^8 + x^2 + x + 1


class Opcode(enum.IntEnum):
    """The request's second byte."""

    READ = 0x01          # one 32-bit register
    WRITE = 0x02         # one 32-bit register
    READ_BURST = 0x03    # count registers from address, address + 4, ...
    WRITE_BURST = 0x04   # count registers from address, address + 4, ...


class Reply(enum.IntEnum):
    """The reply's second byte: OK, or why the frame was refused (then nothing was read or written)."""

    OK = 0x00            # the frame was executed; ``done`` says how many words the bus accepted
    BAD_CRC = 0x01       # the CRC did not match the frame
    BAD_OPCODE = 0x02    # the opcode is not an `Opcode` (answered at once; the rest of the frame is ignored)
    BAD_LENGTH = 0x03    # a burst count of 0 or above MAX_WORDS (answered at once)
    TIMEOUT = 0x04       # a frame stopped arriving (a dropped byte): the bridge waited TIMEOUT_BYTES byte times


TIMEOUT_BYTES = 32      # the bridge abandons a frame after 32 byte times without a byte (2.8 ms at 115200 baud)


class ProtocolError(RuntimeError):
    """A reply that is not a reply: a wrong sync byte, a CRC mismatch, or a wrong length."""


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS of `data` (`CRC`, Amaranth's software model; check value of b"123456789": 0xF4)."""
    return CRC.compute(data)


def _words(values) -> bytes:
    return b"".join((int(v) & 0xFFFF_FFFF).to_bytes(4, "little") for v in values)


def request(op: Opcode, address: int, *, count: int = 1, data=()) -> bytes:
    """A request frame. `count` for the burst opcodes; `data` (32-bit words, negative codes in two's
    complement) for the writes."""
    op = Opcode(op)
    if not 0 <= address < 1 << (8 * ADDRESS_BYTES):
        raise ValueError(f"address must be in 0 .. {(1 << 8 * ADDRESS_BYTES) - 1:#x}, not {address!r}")
    data = list(data)
    if op in (Opcode.READ, Opcode.WRITE):
        if count != 1:
            raise ValueError(f"count must be 1 for {op.name}, not {count!r}")
    elif not 1 <= count <= MAX_WORDS:
        raise ValueError(f"count must be in 1 .. {MAX_WORDS}, not {count!r}")
    writes = op in (Opcode.WRITE, Opcode.WRITE_BURST)
    if len(data) != (count if writes else 0):
        raise ValueError(f"{op.name} of {count} word(s) takes {count if writes else 0} data word(s), not {len(data)}")
    body = bytes([op]) + address.to_bytes(ADDRESS_BYTES, "little")
    if op in (Opcode.READ_BURST, Opcode.WRITE_BURST):
        body += bytes([count])
    body += _words(data)
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])


def reply_length(op: Opcode, count: int = 1) -> int:
    """Bytes of the OK reply to `op` of `count` words (an error reply is 3 bytes: sync, code, CRC)."""
    reads = op in (Opcode.READ, Opcode.READ_BURST)
    return 4 + (4 * count if reads else 0)


def parse_reply(frame: bytes, op: Opcode, count: int = 1) -> tuple[Reply, list[int], int]:
    """(code, words read, done) of a reply frame to `op` of `count` words. An error reply has no words
    and done 0. Raises `ProtocolError` when `frame` is not a well-formed reply."""
    if len(frame) < 3 or frame[0] != REPLY_SYNC:
        raise ProtocolError(f"the reply does not start with the sync byte {REPLY_SYNC:#04x}: {frame[:8].hex(' ')}")
    try:
        code = Reply(frame[1])
    except ValueError:
        raise ProtocolError(f"the reply code {frame[1]:#04x} is not a Reply code: {frame[:8].hex(' ')}") from None
    want = reply_length(op, count) if code == Reply.OK else 3
    if len(frame) != want:
        raise ProtocolError(f"a {code.name} reply to {Opcode(op).name} has {want} bytes, not {len(frame)}")
    if crc8(frame[1:-1]) != frame[-1]:
        raise ProtocolError(f"the reply's CRC {frame[-1]:#04x} does not match its bytes ({crc8(frame[1:-1]):#04x})")
    if code != Reply.OK:
        return code, [], 0
    data = frame[2:-2]
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    return code, words, frame[-2]
