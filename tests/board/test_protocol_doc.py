"""docs/uart-protocol.md against `eqprop.hw.protocol`: the opcode and reply-code tables, the sync bytes, the
burst limit, the CRC's check value and the timeout; and the frames `request` builds."""

import re
from pathlib import Path

import pytest

from eqprop.hw.protocol import (
    MAX_WORDS,
    REPLY_SYNC,
    REQUEST_SYNC,
    TIMEOUT_BYTES,
    Opcode,
    ProtocolError,
    Reply,
    crc8,
    parse_reply,
    reply_length,
    request,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "uart-protocol.md").read_text()


def table(enum):
    return {m.group(1): int(m.group(2), 16) for m in re.finditer(r"^\| `(\w+)` \| (0x[0-9A-F]+) \|", DOC, re.M)
            if m.group(1) in enum.__members__}


def test_tables():
    assert table(Opcode) == {o.name: int(o) for o in Opcode}
    assert table(Reply) == {r.name: int(r) for r in Reply}


def test_constants():
    assert f"always: {REQUEST_SYNC:#04X}".replace("0X", "0x") in DOC
    assert f"always: {REPLY_SYNC:#04X}".replace("0X", "0x") in DOC
    assert f"1 .. {MAX_WORDS} words" in DOC
    assert f"{TIMEOUT_BYTES} byte times" in DOC
    assert f"0x{crc8(b'123456789'):02X}" in DOC


def test_crc_is_the_catalogue_s_smbus_crc():
    """The CRC the page names is Amaranth's catalogue entry, with the polynomial and initial value stated."""
    from amaranth.lib.crc import catalog

    from eqprop.hw.protocol import CRC

    a = CRC.algorithm
    assert (a.crc_width, a.polynomial, a.initial_crc, a.reflect_input, a.reflect_output, a.xor_output) == \
        (8, 0x07, 0, False, False, 0) == (8, catalog.CRC8_SMBUS.polynomial, 0, False, False, 0)
    assert "`amaranth.lib.crc.catalog.CRC8_SMBUS`" in DOC and "polynomial 0x07" in DOC and "initial value 0" in DOC


def test_frames():
    f = request(Opcode.WRITE_BURST, 0x1000, count=2, data=[1, -1])
    assert f == bytes([0xA5, 0x04, 0x00, 0x10, 0x00, 2, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, crc8(f[1:-1])])
    assert len(request(Opcode.READ, 0)) == 6 and reply_length(Opcode.READ) == 8
    ok = bytes([0x5A, 0, 0x48, 0x50, 0x51, 0x45, 1])
    ok += bytes([crc8(ok[1:])])
    assert parse_reply(ok, Opcode.READ) == (Reply.OK, [0x45515048], 1)
    with pytest.raises(ProtocolError, match="CRC"):
        parse_reply(ok[:-1] + bytes([ok[-1] ^ 1]), Opcode.READ)
    with pytest.raises(ValueError, match="count must be in 1 .. 64, not 65"):
        request(Opcode.READ_BURST, 0, count=65)
    with pytest.raises(ValueError, match="address must be in 0 .. 0xffffff"):
        request(Opcode.READ, 1 << 24)
