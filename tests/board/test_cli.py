"""``python -m eqprop.device``: a missing port, a busy port and a port that answers garbage each end the command
with one line saying so (exit 2), before any work; the golden run (slow: it trains) checks the report."""

import os
import threading
import tty

import pytest

from eqprop.device import open_serial
from eqprop.device.__main__ import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_missing_port(capsys):
    code, _, err = run(capsys, "infer", "--port", "/dev/eqprop-no-such-port", "--train", "1")
    assert code == 2
    assert err.strip() == ("error: serial port /dev/eqprop-no-such-port does not exist: is the board plugged in? "
                           "(list ports with python -m serial.tools.list_ports)")


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_busy_port(capsys, pty_pair):
    _, name = pty_pair
    holder = open_serial(name)
    try:
        code, _, err = run(capsys, "infer", "--port", name, "--train", "1")
    finally:
        holder.close()
    assert code == 2
    assert f"error: serial port {name} is busy: another program holds it" in err


def test_garbage(capsys, pty_pair):
    master, name = pty_pair
    stop = threading.Event()

    def modem():       # something else on the line: answers every request with text
        os.set_blocking(master, False)
        while not stop.is_set():
            try:
                if os.read(master, 4096):
                    os.write(master, b"OK\r\nAT+GMR\r\n")
            except BlockingIOError:
                stop.wait(0.005)
            except OSError:
                return

    t = threading.Thread(target=modem, daemon=True)
    t.start()
    try:
        code, _, err = run(capsys, "infer", "--port", name, "--train", "1", "--timeout", "0.2")
    finally:
        stop.set()
        t.join()
    assert code == 2
    assert "the device answers garbage: 4f 4b 0d 0a" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_golden_run(capsys):
    code, out, _ = run(capsys, "infer", "--golden", "--board", "icebreaker", "--train", "1", "--limit", "10")
    assert code == 0
    assert "10 digits test images on golden: 0 mismatches against the golden model" in out


def test_golden_on_an_exported_core(capsys, tmp_path, monkeypatch):
    """``--golden --core DIR``: the configuration from the core's manifest, no --board; the report counts
    the images and the mismatches against the golden model."""
    from eqprop.hw import golden
    from eqprop.hw.hwconfig import HwConfig
    from export import writer

    monkeypatch.setattr(writer, "_verilog", lambda cfg, params, top: f"module {top}();\nendmodule\n")
    cfg = HwConfig(sizes=(64, 8, 10), mac_lanes=2, free_steps=6, nudge_steps=2)
    writer.export_core(cfg, golden.init_params(cfg, seed=1), tmp_path / "core")
    code, out, _ = run(capsys, "infer", "--golden", "--core", str(tmp_path / "core"), "--limit", "4",
                       "--json", str(tmp_path / "r.json"))
    assert code == 0
    assert "4 digits test images on golden: 0 mismatches against the golden model" in out
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 4 and report["board"] is None and report["core_cycles_mean"] > 0


def test_core_must_be_an_exported_folder(capsys, tmp_path):
    (tmp_path / "bare").mkdir()
    code, _, err = run(capsys, "infer", "--golden", "--core", str(tmp_path / "bare"))
    assert code == 2 and "bare: no manifest.json; --core takes the folder python -m export writes" in err
