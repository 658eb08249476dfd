"""Protocol robustness on the co-simulated board: a corrupted frame, a dropped byte, a reset of the board in
the middle of a frame and in the middle of a command, a refused access. Each gives a clear error or is
recovered by the link (resynchronise and resend), and the parameters already on the board survive.
Then the link's own errors without a board: a missing port, a busy port, no answer, garbage."""

import os
import tty

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.device import BusError, Link, LinkError, open_serial
from eqprop.hw.formats import CONTROL_MODE_SHIFT, Control, ErrorCode, Mode, Reg, Status
from eqprop.hw.protocol import Opcode, request
from rtl.command import ref_infer
from tests.board.conftest import CFG
from tests.board.test_accelerator import assert_params, vectors


class Tamper:
    """Wraps a port: the next write goes out with one byte changed (``flip``) or left out (``drop``)."""

    def __init__(self, port):
        self.port, self.flip, self.drop = port, None, None

    def write(self, data):
        data = bytearray(data)
        if self.flip is not None:
            data[self.flip] ^= 0x04
            self.flip = None
        if self.drop is not None:
            del data[self.drop]
            self.drop = None
        return self.port.write(bytes(data))

    def __getattr__(self, name):
        return getattr(self.port, name)


@pytest.fixture
def board(cosim_board, params):
    cosim_board.load(params)
    link = cosim_board.backend.link
    tamper = Tamper(link.port)
    link.port, timeout = tamper, link.timeout_s
    link.timeout_s = 3.0          # a lost reply is waited for this long (the simulation answers within 1 s)
    yield cosim_board, link, tamper
    link.port, link.timeout_s = tamper.port, timeout


def check_intact(acc, params, what):
    assert_params(acc.read_params(), params, f"{what}: parameters")
    x = vectors(3)[2]
    assert acc.infer(x) == ref_infer(CFG, params, x[None, :])["result"], f"{what}: INFER after recovery"


@pytest.mark.parametrize("damage", ["flip", "drop"])
def test_damaged_frame_is_resent(board, params, damage):
    acc, link, tamper = board
    resyncs = link.resyncs
    # a burst write of new input codes: the bridge answers BAD_CRC (a flipped bit) or TIMEOUT (a dropped byte),
    # writes nothing, and the link sends the frame again
    setattr(tamper, damage, 9)
    link.write_words(Reg.INPUT, [7, 7, 7, 7, 7])
    assert link.resyncs == resyncs + 1
    assert link.read_words(Reg.INPUT, 5) == [7, 7, 7, 7, 7]
    check_intact(acc, params, f"after a {damage}ped byte")


def test_damaged_control_write_is_not_executed(board, params):
    acc, link, tamper = board
    # a corrupted START: refused by its CRC (nothing runs), then sent again and run once
    tamper.flip = 2
    link.write(Reg.CONTROL, int(Control.START) | int(Mode.INFER) << CONTROL_MODE_SHIFT)
    check_intact(acc, params, "after a corrupted START")


def test_reset_in_the_middle_of_a_frame(board, params):
    acc, link, _ = board
    sim = acc.backend.sim
    # the board resets after 20 bytes of a 263-byte weight burst: the rest of the frame reaches a bridge hunting
    # for a sync byte; the host gets no reply (or an error reply) and sends the frame again
    sim.reset(after_bytes=20)
    link.write_words(Reg.SHADOW, np.ravel(params.shadow[0]))
    check_intact(acc, params, "after a reset during a frame")


def test_reset_in_the_middle_of_a_command(board, params):
    acc, link, _ = board
    sim = acc.backend.sim
    # START, then the board resets before the command ends: STATUS shows neither BUSY nor DONE, the
    # parameters are kept, and the next command runs
    sim.reset(after_bytes=len(request(Opcode.WRITE, Reg.CONTROL, data=[0])) + 1)
    link.write(Reg.CONTROL, int(Control.START) | int(Mode.TRAIN) << CONTROL_MODE_SHIFT)
    status = link.read(Reg.STATUS)
    assert not status & (Status.BUSY | Status.DONE), f"STATUS {status:#x} after a reset"
    check_intact(acc, params, "after a reset during a command")


def test_refused_access_names_the_error(board, params):
    acc, link, _ = board
    with pytest.raises(BusError, match=r"refused the access to 0x1008 \(word 2 of the burst at 0x1000\): ERROR "
                                       "BAD_VALUE") as e:
        link.write_words(Reg.INPUT, [1, 2, 300, 4, 5])
    assert e.value.code == ErrorCode.BAD_VALUE and e.value.index == 2
    with pytest.raises(BusError, match="ERROR BAD_ADDRESS"):
        link.read(Reg.INPUT + 4 * CFG.sizes[0])
    check_intact(acc, params, "after refused accesses")


# ---------------------------------------------------------------------------------------------------
# the link without a board


class FakePort:
    """A port that answers with `reply` to every write (b"": silence)."""

    def __init__(self, reply=b""):
        self.reply, self.pending, self.writes = reply, b"", 0

    def write(self, data):
        self.writes += 1
        self.pending += self.reply

    def read(self, n):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def reset_input_buffer(self):
        self.pending = b""


def test_no_answer():
    port = FakePort()
    with pytest.raises(LinkError, match=r"READ at 0x0: no reply within 0.05 s \(3 attempts; check the cable"):
        Link(port, timeout_s=0.05).read(Reg.ID)
    assert port.writes == 3


def test_garbage():
    with pytest.raises(LinkError, match="the device answers garbage: 48 65 6c 6c 6f"):
        Link(FakePort(b"Hello, world\r\n"), timeout_s=0.05, retries=0).read(Reg.ID)


def test_lost_control_reply_is_not_resent():
    port = FakePort()
    with pytest.raises(LinkError, match="it may have been executed, so it was not sent again"):
        Link(port, timeout_s=0.05).write(Reg.CONTROL, 1)
    assert port.writes == 1


def test_missing_port():
    with pytest.raises(LinkError, match="serial port /dev/eqprop-no-such-port does not exist"):
        open_serial("/dev/eqprop-no-such-port")


def test_busy_port():
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        name = os.ttyname(slave)
        first = open_serial(name)
        try:
            with pytest.raises(LinkError, match=f"serial port {name} is busy"):
                open_serial(name)
        finally:
            first.close()
    finally:
        os.close(master)
        os.close(slave)


def test_infer_of_a_reset_board_says_so(board, params):
    """A command that never ran (the board was reset between START and the first poll) is an error, not a
    wrong result."""
    acc, link, _ = board
    sim = acc.backend.sim
    x = vectors(3)[2]
    sent = request(Opcode.WRITE_BURST, Reg.INPUT, count=CFG.sizes[0], data=x) + request(Opcode.WRITE, Reg.CONTROL,
                                                                                       data=[0])
    sim.reset(after_bytes=len(sent) + 1)
    with pytest.raises(Exception, match="did not run: STATUS 0x0"):
        acc.infer(x)
    check_intact(acc, params, "after a reset between START and the poll")
    assert_array_equal(acc.read_params().biases[0], params.biases[0])
