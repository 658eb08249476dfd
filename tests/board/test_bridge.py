# amaranth: UnusedElaboratable=no
"""The UART bridge in Amaranth simulation, on the whole `rtl.board.BoardDesign` (bridge and core): framing
of every opcode (`eqprop.hw.protocol`), a burst write read back, the error replies (bad CRC, unknown
opcode, bad length, a refused access, a dropped byte's timeout), resynchronisation after garbage, and
that a corrupted write frame writes nothing. The UART runs at 4 clock cycles a bit, so a frame takes
a few hundred cycles."""

import pytest
from amaranth.sim import Simulator

from eqprop.hw.formats import ID_MAGIC, ErrorCode, Reg, config_registers
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.protocol import MAX_WORDS, REQUEST_SYNC, Opcode, Reply, crc8, parse_reply, request
from rtl.board import BoardDesign
from rtl.bridge import UartBridge
from rtl.uart import UartRx, UartTx, divisor

CFG = HwConfig(sizes=(5, 6, 3), free_steps=3, nudge_steps=2, mac_lanes=2)
DIV = 4            # cycles per bit
TIMEOUT = 200      # cycles: short, so the timeout test is quick


def simulate(frames, *, gap=0, cfg=CFG, drop=None, replies=None, idle=0):
    """Send `frames` (bytes) to a BoardDesign over its UART; returns the bytes it sent back, one list per
    frame (split by `replies`, the expected length of each reply; None: everything received in one list).
    `drop` = (frame, byte index) leaves one byte out; `idle` cycles of silence follow the last frame."""
    dut = BoardDesign(cfg=cfg, divisor=DIV, heartbeat=50, timeout=TIMEOUT)
    received = []

    async def monitor(ctx):
        # decode the tx line (8N1) in the middle of each bit
        while True:
            await ctx.tick()
            if ctx.get(dut.tx) == 0:
                await ctx.tick().repeat(DIV // 2)
                byte = 0
                for i in range(8):
                    await ctx.tick().repeat(DIV)
                    byte |= ctx.get(dut.tx) << i
                await ctx.tick().repeat(DIV)
                assert ctx.get(dut.tx) == 1, "stop bit low"
                received.append(byte)

    async def send_byte(ctx, byte):
        for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
            ctx.set(dut.rx, bit)
            await ctx.tick().repeat(DIV)

    done = {"ok": False}

    async def host(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(10)
        for f, frame in enumerate(frames):
            for i, byte in enumerate(frame):
                if drop == (f, i):
                    continue
                await send_byte(ctx, byte)
                if gap:
                    await ctx.tick().repeat(gap)
            want = None if replies is None else sum(replies[:f + 1])
            # wait for the reply (or a quiet line)
            for _ in range(20000):
                await ctx.tick()
                if want is not None and len(received) >= want and not ctx.get(dut.bridge.active):
                    break
            else:
                if want is not None:
                    raise AssertionError(f"frame {f}: {len(received)} bytes received, expected {want}")
        await ctx.tick().repeat(idle + 10 * DIV)
        done["ok"] = True

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(monitor, background=True)
    sim.add_testbench(host)
    sim.run()
    assert done["ok"], "the testbench did not finish"
    if replies is None:
        return received
    out, at = [], 0
    for n in replies:
        out.append(bytes(received[at:at + n]))
        at += n
    return out


def read(addr):
    return request(Opcode.READ, addr)


def test_crc8_check_value():
    assert crc8(b"123456789") == 0xF4     # the CRC-8/SMBUS catalogue check value


def test_read_registers_and_burst_roundtrip():
    values = [1, 200, 3, 17, 255]
    frames = [read(Reg.ID), request(Opcode.READ_BURST, Reg.CFG_LAYERS, count=3),
              request(Opcode.WRITE_BURST, Reg.INPUT, count=5, data=values), request(Opcode.READ_BURST, Reg.INPUT,
                                                                                     count=5),
              request(Opcode.WRITE, Reg.LR_SHIFT, data=[7]), read(Reg.LR_SHIFT)]
    got = simulate(frames, replies=[8, 16, 4, 24, 4, 8])
    regs = config_registers(CFG)
    assert parse_reply(got[0], Opcode.READ) == (Reply.OK, [ID_MAGIC], 1)
    assert parse_reply(got[1], Opcode.READ_BURST, 3) == (Reply.OK, [CFG.n_layers, regs["CFG_FORMATS"],
                                                                    regs["CFG_STEPS"]], 3)
    assert parse_reply(got[2], Opcode.WRITE_BURST, 5) == (Reply.OK, [], 5)
    assert parse_reply(got[3], Opcode.READ_BURST, 5) == (Reply.OK, values, 5)
    assert parse_reply(got[4], Opcode.WRITE) == (Reply.OK, [], 1)
    assert parse_reply(got[5], Opcode.READ) == (Reply.OK, [7], 1)


def test_refused_word_stops_the_burst():
    # INPUT codes are 0 .. 255: the third word is refused (BAD_VALUE); the burst stops there
    frames = [request(Opcode.WRITE_BURST, Reg.INPUT, count=4, data=[9, 8, 300, 6]),
              request(Opcode.READ_BURST, Reg.INPUT, count=4), read(Reg.ERROR),
              request(Opcode.READ_BURST, Reg.INPUT + 4 * (CFG.sizes[0] - 1), count=3),
              request(Opcode.WRITE, 0x800000 + Reg.LR_SHIFT, data=[9]), read(Reg.LR_SHIFT)]
    got = simulate(frames, replies=[4, 20, 8, 16, 4, 8])
    assert parse_reply(got[0], Opcode.WRITE_BURST, 4) == (Reply.OK, [], 2)
    code, words, done = parse_reply(got[1], Opcode.READ_BURST, 4)
    assert (code, words[:2], done) == (Reply.OK, [9, 8], 4)
    assert parse_reply(got[2], Opcode.READ)[1] == [ErrorCode.BAD_VALUE]
    # past the end of the window: the first word reads, the second is refused, the third is not read
    code, words, done = parse_reply(got[3], Opcode.READ_BURST, 3)
    assert (code, words[1:], done) == (Reply.OK, [0, 0], 1)
    # past the 23-bit map: refused without reaching the bus (it would alias LR_SHIFT)
    assert parse_reply(got[4], Opcode.WRITE) == (Reply.OK, [], 0)
    assert parse_reply(got[5], Opcode.READ)[1] == [CFG.lr_shifts[0]]


def test_error_replies():
    bad_crc = bytearray(request(Opcode.WRITE_BURST, Reg.INPUT, count=2, data=[5, 6]))
    bad_crc[7] ^= 0x10                               # a corrupted data bit
    frames = [bytes(bad_crc), request(Opcode.READ_BURST, Reg.INPUT, count=2),
              bytes([REQUEST_SYNC, 0x7E]),           # not an opcode
              bytes([REQUEST_SYNC, Opcode.READ_BURST, 0, 0, 0, 0]),          # count 0
              bytes([REQUEST_SYNC, Opcode.READ_BURST, 0, 0, 0, MAX_WORDS + 1])]
    got = simulate(frames, replies=[3, 12, 3, 3, 3])
    assert parse_reply(got[0], Opcode.WRITE_BURST, 2)[0] == Reply.BAD_CRC
    assert parse_reply(got[1], Opcode.READ_BURST, 2) == (Reply.OK, [0, 0], 2), "a corrupted frame wrote"
    assert parse_reply(got[2], Opcode.READ)[0] == Reply.BAD_OPCODE
    assert parse_reply(got[3], Opcode.READ)[0] == Reply.BAD_LENGTH
    assert parse_reply(got[4], Opcode.READ)[0] == Reply.BAD_LENGTH


def test_dropped_byte_times_out_and_resynchronises():
    frames = [request(Opcode.WRITE, Reg.INPUT, data=[42]), b"\x00\x13\x37", read(Reg.ID)]
    # the write loses a byte: the bridge waits TIMEOUT cycles, answers TIMEOUT and writes nothing; garbage
    # between frames (no sync byte) is ignored; the next frame is answered
    got = simulate(frames, drop=(0, 4), replies=[3, 0, 8])
    assert parse_reply(got[0], Opcode.WRITE)[0] == Reply.TIMEOUT
    assert parse_reply(got[2], Opcode.READ) == (Reply.OK, [ID_MAGIC], 1)


def test_slow_host_within_the_timeout():
    # bytes 100 cycles apart (the timeout is 200): still one frame
    got = simulate([read(Reg.ID)], gap=100, replies=[8])
    assert parse_reply(got[0], Opcode.READ) == (Reply.OK, [ID_MAGIC], 1)


def test_parameter_errors():
    with pytest.raises(TypeError, match="Divisor must be an int, not 2.5"):
        UartRx(divisor=2.5)
    with pytest.raises(ValueError, match="Divisor must be at least 4, not 3"):
        UartTx(divisor=3)
    with pytest.raises(ValueError, match="Address width must be in 1 .. 24, not 25"):
        UartBridge(divisor=8, address_width=25)
    with pytest.raises(ValueError, match="Maximum burst must be in 1 .. 255, not 0"):
        UartBridge(divisor=8, max_words=0)
    with pytest.raises(ValueError, match="Timeout must be a positive int \\(cycles\\), not 0"):
        UartBridge(divisor=8, timeout=0)
    with pytest.raises(ValueError, match="Heartbeat must be a positive int \\(cycles\\), not 0"):
        BoardDesign(cfg=CFG, divisor=8, heartbeat=0)
    assert divisor(12e6, 115200) == 104
    with pytest.raises(ValueError, match="off at"):
        divisor(1e6, 115200)
