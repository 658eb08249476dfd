"""The error contract of issue 30, class by class: every entry point wired to `eqprop.cli_support`, numbers that
bound work, inputs validated before work, messages in the project's words, and the sweep's store and cluster.

Each case runs an entry point's ``main(argv)`` in this process (or a library function) on tiny inputs and checks
the exit status, one line on stderr, no traceback, and that earlier outputs are byte for byte as they were.
`test_every_entry_point_is_wired` finds the entry points itself (every module of the project's packages that
runs as ``python -m``), so one added later without `guard` fails it.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eqprop", "sim", "export", "sweep", "tracks", "bench", "rtl")


def entry_points() -> list[str]:
    """Every module of the project's packages that runs as ``python -m``: a package's ``__main__.py`` and any
    module with an ``if __name__ == "__main__":`` block (found by reading the files, not by a list)."""
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if re.search(r'^if __name__ == ["\']__main__["\']:', path.read_text(), re.M) or path.name == "__main__.py":
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def _main_of(module: str):
    mod = importlib.import_module(module)
    if module.endswith(".__main__") and not hasattr(mod, "main"):
        raise AssertionError(f"{module} has no main")
    return mod.main


def call(main, argv, capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:          # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code: int, out: str, err: str, status: int, message: str) -> None:
    assert code == status, (code, out, err)
    assert "Traceback" not in out + err, err
    assert message in err, err
    assert err.count("\n") == 1, f"one line, not:\n{err}"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------
# 2. every entry point uses eqprop.cli_support


def test_the_walk_finds_the_entry_points():
    found = set(entry_points())
    assert {"sim.fuzz", "sim.formal", "sweep.__main__", "eqprop.device.__main__", "export.__main__",
            "eqprop.__main__", "bench.__main__"} <= found
    assert len(found) >= 20


@pytest.mark.parametrize("module", entry_points())
def test_every_entry_point_is_wired(module, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)       # a default output folder would land here
    main = _main_of(module)
    assert getattr(main, "guarded", None), f"{module}.main is not wrapped in eqprop.cli_support.guard"
    code, out, err = call(main, ["--no-such-option"], capsys)
    one_line(code, out, err, 2, "error:")
    assert "(see python -m " in err, f"{module} does not build its parser with eqprop.cli_support.parser: {err}"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_imports_is_one_line_and_exit_130():
    """SIGINT while ``python -m sim`` imports numpy (after its package's ``__init__``, before ``main``)."""
    code = ("import importlib.abc, os, runpy, signal, sys\n"
            "class Interrupt(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'numpy':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Interrupt())\n"
            "sys.argv = ['-m', '--vectors', '1']        # as python -m has it while it imports the package\n"
            "runpy.run_module('sim', run_name='__main__', alter_sys=True)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("interrupted: stopped at Ctrl-C"), r.stderr


def test_a_library_import_keeps_its_own_sigint_handling():
    code = "import signal, eqprop, sim, sweep; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.stdout.strip() == "True", r.stderr


def test_guard_hands_ctrl_c_to_main_and_back(monkeypatch, capsys):
    import signal

    from eqprop import cli_support

    monkeypatch.setattr(sys, "argv", ["-m"])
    old = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cli_support.interrupt_early()
        assert signal.getsignal(signal.SIGINT) is cli_support._interrupted_early

        @cli_support.guard("the work")
        def main(argv):
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
            raise KeyboardInterrupt
        assert main([]) == 130
        assert capsys.readouterr().err.startswith("interrupted: the work stopped at Ctrl-C")
        assert signal.getsignal(signal.SIGINT) is cli_support._interrupted_early
    finally:
        signal.signal(signal.SIGINT, old)


def test_fuzz_and_formal_outputs_onto_a_file(tmp_path, capsys):
    from sim import formal, fuzz

    f = tmp_path / "afile"
    f.write_text("mine\n")
    one_line(*call(fuzz.main, ["--count", "1", "--out", str(f)], capsys), 2, "--out must be a folder, not the existing")
    one_line(*call(formal.main, ["--work", str(f / "x")], capsys), 2, "cannot be created")
    assert snapshot(tmp_path) == {"afile": b"mine\n"}


# ------------------------------------------------------------------------------------------------
# 3. numbers that bound work


@pytest.mark.parametrize("depth", ["0", "-3", "two"])
def test_formal_depth_must_be_at_least_one(depth, capsys):
    from sim import formal

    one_line(*call(formal.main, ["--check", "controller", "--depth", depth], capsys), 2,
             f"argument --depth: must be a positive integer, not '{depth}'")
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        formal.run_check("controller", depth=0)


HUGE = "vary:\n  mac_lanes: {from: 1, to: 40}\n  free_steps: {from: 1, to: 40}\n  nudge_steps: {from: 1, to: 1600}\n"


@pytest.mark.parametrize("args", [[], ["--dry-run"]])
def test_a_sweep_of_millions_of_points_is_refused_before_it_is_built(args, tmp_path, capsys, monkeypatch):
    from sweep import __main__ as cli
    from sweep import spec

    built = []
    monkeypatch.setattr(spec, "check_buildable", lambda cfg: built.append(cfg) or cfg)
    f = tmp_path / "huge.yaml"
    f.write_text(HUGE)
    one_line(*call(cli.main, [str(f), "--out", str(tmp_path / "out"), *args], capsys), 2,
             "the sweep has 2,560,000 points (40 mac_lanes x 40 free_steps x 1600 nudge_steps x 1 device), "
             "more than the 10,000 a sweep runs")
    assert built == [] and not (tmp_path / "out").exists()


def test_a_range_too_long_to_list_is_refused(tmp_path, capsys):
    from sweep import __main__ as cli

    f = tmp_path / "range.json"
    f.write_text('{"vary": {"free_steps": {"from": 1, "to": 1000000000000}}}')
    one_line(*call(cli.main, [str(f), "--dry-run"], capsys), 2, "vary.free_steps range has 1,000,000,000,000 values")


def test_more_random_samples_than_points_are_refused_not_cut(tmp_path, capsys):
    from sweep import __main__ as cli

    f = tmp_path / "s.json"
    f.write_text('{"train_samples": 20, "test_samples": 10, "base": {"sizes": [64, 4, 10]}, '
                 '"vary": {"mac_lanes": [1, 2]}}')
    one_line(*call(cli.main, [str(f), "--search", "random", "--samples", "3", "--dry-run"], capsys), 2,
             "samples (or --samples) must be at most 2 (the points of the grid) for a random search, not 3")


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf"])
def test_device_timeout_must_be_finite_and_positive(value, capsys):
    from eqprop.device.__main__ import main

    one_line(*call(main, ["infer", "--golden", "--board", "icebreaker", "--train", "1", "--timeout", value], capsys),
             2, f"argument --timeout: must be a positive number, not '{value}'")


def test_a_batch_larger_than_the_data_is_refused(tmp_path, capsys):
    from eqprop.cli import main

    one_line(*call(main, ["train", "--no-progress", "--out", str(tmp_path / "run"), "--batch-size", "5000"],
                   capsys), 2, "--batch-size must be at most 1437 (the training images of digits), not 5000")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------
# 4. inputs validated before work


CFG_JSON = '{"sizes": [5, 6, 3], "mac_lanes": 2}'


def _checkpoint(path: Path, edit=None) -> None:
    import torch

    from eqprop.train import TrainConfig, build, save_checkpoint

    cfg = TrainConfig(model="eqprop", hidden=[6], epochs=1)
    learner = build(cfg, 5, 3)
    save_checkpoint(str(path), learner, cfg, 5, 3)
    if edit is not None:
        payload = torch.load(path, weights_only=True)
        edit(payload["state_dict"])
        torch.save(payload, path)


def _export(tmp_path: Path, capsys, weights: Path, *extra: str) -> tuple[int, str, str]:
    from export.__main__ import main

    (tmp_path / "cfg.json").write_text(CFG_JSON)
    return call(main, ["--config", str(tmp_path / "cfg.json"), "--weights", str(weights), "--out",
                       str(tmp_path / "core"), *extra], capsys)


def _first_weight(state) -> str:
    return next(k for k, v in state.items() if v.ndim == 2)


@pytest.mark.parametrize("dtype, word", [("bool", "bool"), ("complex64", "complex64")])
def test_a_checkpoint_of_bool_or_complex_tensors_is_refused(dtype, word, tmp_path, capsys):
    import torch

    def edit(state):
        k = _first_weight(state)
        state[k] = state[k].to(getattr(torch, dtype))
    _checkpoint(tmp_path / "c.pt", edit)
    one_line(*_export(tmp_path, capsys, tmp_path / "c.pt"), 2,
             f"must hold real floating-point (or integer) values, not {word}")
    assert not (tmp_path / "core").exists()


def test_weights_of_other_sizes_are_said_in_our_words_with_torchs_cause(tmp_path, capsys):
    import torch

    def edit(state):
        k = _first_weight(state)
        state[k] = torch.zeros(state[k].shape[0] + 1, state[k].shape[1])
    _checkpoint(tmp_path / "c.pt", edit)
    code, out, err = _export(tmp_path, capsys, tmp_path / "c.pt")
    one_line(code, out, err, 2, "c.pt: the weights do not fit the model the checkpoint describes (its train_config, "
             "n_in and n_out); train or export it again: torch: size mismatch for ")
    assert "Error(s) in loading state_dict" not in err


def test_an_integer_checkpoint_is_read(tmp_path):
    import torch

    from eqprop.train import load_checkpoint

    keys = []

    def edit(state):
        keys.append(_first_weight(state))
        state[keys[0]] = torch.ones_like(state[keys[0]], dtype=torch.int32)
    _checkpoint(tmp_path / "c.pt", edit)
    got = load_checkpoint(tmp_path / "c.pt").model.state_dict()[keys[0]]
    assert got.is_floating_point() and bool((got == 1).all())


def test_a_checkpoint_with_a_changed_byte_is_refused(tmp_path, capsys):
    import zipfile

    import torch

    _checkpoint(tmp_path / "c.pt", lambda state: state.update({_first_weight(state): torch.full_like(
        state[_first_weight(state)], 0.25)}))
    raw = bytearray((tmp_path / "c.pt").read_bytes())
    with zipfile.ZipFile(tmp_path / "c.pt") as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename and i.file_size > 16)
    h = info.header_offset                    # the local header: name and extra lengths at 26 and 28
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
    raw[start + 3] ^= 0x40                    # one bit of the first weight's float32
    (tmp_path / "c.pt").write_bytes(bytes(raw))
    assert torch.load(tmp_path / "c.pt", weights_only=True)     # torch itself does not notice
    one_line(*_export(tmp_path, capsys, tmp_path / "c.pt"), 2,
             "the checkpoint is damaged: the checksum of its part")
    assert not (tmp_path / "core").exists()


def test_weights_that_all_quantise_to_zero_warn_and_strict_refuses(tmp_path, capsys):
    import torch

    _checkpoint(tmp_path / "c.pt", lambda state: [v.zero_() for v in state.values() if v.is_floating_point()])
    code, out, err = _export(tmp_path, capsys, tmp_path / "c.pt", "--strict")
    one_line(code, out, err, 2, "every weight of layers 0, 1 quantises to zero")
    assert "--strict" in err and not (tmp_path / "core").exists()
    code, out, err = _export(tmp_path, capsys, tmp_path / "c.pt")
    assert code == 0 and err.startswith("warning: ") and "quantises to zero" in err, err
    assert (tmp_path / "core" / "manifest.json").exists()
    del torch


def test_yaml_duplicate_keys_are_refused_like_json(tmp_path, capsys):
    from sweep import __main__ as cli

    f = tmp_path / "dup.yaml"
    f.write_text("epochs: 1\nvary:\n  mac_lanes: [1, 2]\n  mac_lanes: [4]\n")
    one_line(*call(cli.main, [str(f), "--dry-run"], capsys), 2, "dup.yaml:4: key 'mac_lanes' appears twice")


def test_deeply_nested_json_is_one_line(tmp_path, capsys):
    from export.__main__ import main

    f = tmp_path / "deep.json"
    f.write_text('{"sizes": ' + "[" * 100000 + "]" * 100000 + "}")
    one_line(*call(main, ["--config", str(f), "--out", str(tmp_path / "o")], capsys), 2, "nested too deeply")


def test_a_deeply_nested_reproducer_is_one_line(tmp_path, capsys):
    from sim import fuzz

    f = tmp_path / "deep.json"
    f.write_text("[" * 100000 + "]" * 100000)
    one_line(*call(fuzz.main, ["--replay", str(f)], capsys), 2, "deep.json: not a reproducer written by python -m "
             "sim.fuzz (nested too deeply)")


def test_two_differing_copies_of_an_idx_file_are_refused(tmp_path, capsys):
    import gzip

    from eqprop.cli import main

    def idx(array: bytes, dims: tuple[int, ...]) -> bytes:
        return bytes([0, 0, 8, len(dims)]) + b"".join(n.to_bytes(4, "big") for n in dims) + array
    d = tmp_path / "mnist"
    d.mkdir()
    for split in ("train", "t10k"):
        (d / f"{split}-images-idx3-ubyte").write_bytes(idx(bytes(16), (4, 2, 2)))
        (d / f"{split}-labels-idx1-ubyte").write_bytes(idx(bytes([0, 1, 2, 3]), (4,)))
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx(bytes([3, 2, 1, 0]), (4,))))
    before = snapshot(tmp_path)
    argv = ["train", "--no-progress", "--dataset", "mnist", "--data-path", str(d), "--out", str(tmp_path / "run")]
    one_line(*call(main, argv, capsys), 2, "train-labels-idx1-ubyte.gz beside it hold different data")
    assert snapshot(tmp_path) == before


def test_the_host_api_takes_one_sample_or_a_documented_batch_and_refuses_nan_weights():
    import numpy as np

    from eqprop.device import Accelerator
    from eqprop.hw import golden
    from eqprop.hw.hwconfig import HwConfig

    cfg = HwConfig(sizes=(5, 6, 3), mac_lanes=2)
    params = golden.init_params(cfg, seed=1)
    acc = Accelerator.golden(cfg)
    acc.load(params)
    x = np.zeros((4, 5), dtype=np.int64)
    assert acc.infer(x).shape == (4,) and isinstance(acc.infer(x[0]), int | np.integer)
    with pytest.raises(ValueError, match=r"a batch of inputs must have 5 codes a row, not 4"):
        acc.infer(np.zeros((2, 4), dtype=np.int64))
    bad = params.copy()
    bad.weights[1] = bad.weights[1].astype(float)
    bad.weights[1][0, 2] = np.nan
    with pytest.raises(ValueError, match=r"layer 1: the weights must be finite integer codes, not nan at index "):
        acc.load(bad)


def test_an_unknown_board_is_a_usage_error(capsys):
    from eqprop.device.__main__ import main

    one_line(*call(main, ["infer", "--golden", "--board", "de0", "--train", "1"], capsys), 2,
             "argument --board: invalid choice: 'de0'")


# ------------------------------------------------------------------------------------------------
# 5. messages name the user's path and the real cause, in the project's words


def test_a_full_disk_names_the_output_not_the_temporary_file(tmp_path, monkeypatch):
    import errno

    from eqprop.atomic import write_text_atomic

    (tmp_path / "report.md").write_text("earlier\n")

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as e:
        write_text_atomic(tmp_path / "report.md", "new\n")
    monkeypatch.undo()
    assert e.value.filename == str(tmp_path / "report.md") and e.value.errno == errno.ENOSPC
    assert snapshot(tmp_path) == {"report.md": b"earlier\n"}


def test_an_export_that_cannot_write_names_out_not_the_partial_folder(tmp_path, capsys, monkeypatch):
    import errno

    from export import writer
    from export.__main__ import main

    (tmp_path / "cfg.json").write_text(CFG_JSON)

    def full(cfg, params, folder):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(folder) / "weight.0.hex"))
    monkeypatch.setattr(writer, "write_params", full)
    code, out, err = call(main, ["--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "core")], capsys)
    one_line(code, out, err, 2, f"{tmp_path / 'core' / 'weight.0.hex'}: No space left on device (free some disk")
    assert ".partial" not in err and list(tmp_path.iterdir()) == [tmp_path / "cfg.json"]


def test_a_checkpoint_save_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import torch

    from eqprop.train import TrainConfig, build, save_checkpoint

    cfg = TrainConfig(model="eqprop", hidden=[6], epochs=1)

    def full(obj, f):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match=r"checkpoint.pt: cannot write the checkpoint \(\d+ MiB free on its disk; "
                                      r"free some space or pass another --out\): torch.save: PytorchStreamWriter"):
        save_checkpoint(str(tmp_path / "checkpoint.pt"), build(cfg, 5, 3), cfg, 5, 3)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_port_says_the_port_is_empty(capsys):
    from eqprop.device.__main__ import main

    one_line(*call(main, ["infer", "--port", "", "--train", "1"], capsys), 2,
             "--port must name a serial port (e.g. /dev/ttyUSB1), not the empty string")


def test_many_free_steps_name_free_steps(tmp_path, capsys):
    from eqprop.cli import main

    one_line(*call(main, ["train", "--no-progress", "--model", "bptt", "--out", str(tmp_path / "r"), "--free-steps",
                          "100000000000000000000"], capsys), 2, "use fewer --free-steps or --nudge-steps")


def test_a_seed_beyond_numpy_and_sklearn_is_refused_in_our_words(tmp_path, capsys):
    from eqprop.cli import main

    code, out, err = call(main, ["train", "--no-progress", "--out", str(tmp_path / "r"), "--seed", str(2**32)], capsys)
    one_line(code, out, err, 2, "argument --seed: must be an integer in 0 .. 4294967295")
    assert "random_state" not in err


# ------------------------------------------------------------------------------------------------
# 6. the sweep's store and cluster (no Ray started: the cluster is faked or absent)


SWEEP = ('{"train_samples": 20, "test_samples": 10, "epochs": 1, "base": {"sizes": [64, 4, 10]}, '
         '"vary": {"mac_lanes": [1, 2]}}')


def test_spoiled_records_on_resume_are_reported_by_file_and_skipped(tmp_path, capsys, monkeypatch):
    from sweep import __main__ as cli
    from sweep import runner
    from sweep.spec import load_spec, points

    f = tmp_path / "s.json"
    f.write_text(SWEEP)
    pts = points(load_spec(f))
    trials = tmp_path / "out" / "s" / "trials"
    trials.mkdir(parents=True)
    (trials / f"{pts[0].id}.json").write_text('{"id": "')                              # cut short
    record = {"id": pts[1].id, "label": "x", "device": "none", "status": "ok", "accuracy": "high"}
    (trials / f"{pts[1].id}.json").write_text(json.dumps(record))                       # not a number
    (trials / "0123456789ab.json").write_text("[1, 2]")                              # not an object
    before = snapshot(tmp_path / "out")
    asked = []

    def run_points(spec, todo, folder, **kw):
        asked.extend(p.id for p in todo)
        return {"ray_init_s": 0, "fit_s": 0, "trial_s": 0, "trials": 0, "stopped_early": False}
    monkeypatch.setattr(runner, "run_points", run_points)
    code, out, err = call(cli.main, [str(f), "--out", str(tmp_path / "out"), "--resume"], capsys)
    assert code == 0 and "Traceback" not in out + err, err
    lines = err.splitlines()
    assert len(lines) == 3 and all(ln.startswith("warning: ") and "it is skipped" in ln for ln in lines), err
    assert "not readable JSON" in err and "its accuracy is 'high', not a number" in err and "a JSON list" in err
    assert sorted(asked) == sorted(p.id for p in pts)          # both points run again
    assert snapshot(tmp_path / "out") == before                 # nothing replaced until a point finishes


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_address_where_nothing_answers_is_one_line_naming_it(tmp_path, capsys):
    from sweep import __main__ as cli

    f = tmp_path / "s.json"
    f.write_text(SWEEP)
    address = f"127.0.0.1:{_closed_port()}"
    one_line(*call(cli.main, [str(f), "--out", str(tmp_path / "out"), "--address", address], capsys), 2,
             f"--address {address}: no Ray cluster answers there (Connection refused); start its head")
    one_line(*call(cli.main, [str(f), "--address", ""], capsys), 2, "--address must name a Ray cluster")
    one_line(*call(cli.main, [str(f), "--address", "headnode"], capsys), 2,
             "--address must be host:port, ray://host:port or auto, not 'headnode'")
    assert list(tmp_path.iterdir()) == [f]


class _AuthenticationError(Exception):
    """Stands in for ``ray.exceptions.AuthenticationError``."""


class _FakeRay:
    """Just enough of ``ray`` for `sweep.cluster.connect`: ``init`` raises what a cluster answered."""

    exceptions = types.SimpleNamespace(AuthenticationError=_AuthenticationError)

    def __init__(self, error):
        self.error = error

    def is_initialized(self):
        return False

    def init(self, **kw):
        raise self.error


class _LoggingRay(_FakeRay):
    """As Ray 2.60 answers a cluster with token authentication: C++ log lines on fd 2, then ConnectionError."""

    def init(self, **kw):
        for _ in range(3):
            os.write(2, b"[W gcs_client.cc:210] Failed to get cluster ID from GCS server: Unauthenticated: RPC error: "
                        b"InvalidAuthToken: Authentication token is missing or incorrect\n")
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379")


def test_rays_own_log_of_a_refused_token_becomes_one_line(capfd):
    from eqprop.cli_support import UsageError
    from sweep.cluster import connect

    with pytest.raises(UsageError, match="the cluster refused this client's authentication; if the cluster uses "
                                         "token authentication, set RAY_AUTH_MODE=token"):
        connect(_LoggingRay(None), "10.0.0.9:6379", 2)
    assert "gcs_client" not in capfd.readouterr().err


def test_a_cluster_that_wants_a_token_gets_the_hint(monkeypatch):
    from eqprop.cli_support import UsageError
    from sweep.cluster import connect

    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    auth = _AuthenticationError("Unauthenticated: invalid token")
    with pytest.raises(UsageError, match=r"the cluster refused this client's authentication; if the cluster uses "
                                         r"token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN"):
        connect(_FakeRay(auth), "10.0.0.9:6379", 2)
    with pytest.raises(UsageError, match=r"--address 10.0.0.9:6379: cannot join the Ray cluster .*RAY_AUTH_TOKEN.*"
                                         r": Ray: Failed to connect to GCS"):
        connect(_FakeRay(ConnectionError("Failed to connect to GCS at 10.0.0.9:6379\nmore")), "10.0.0.9:6379", 2)


def test_ray_absent_names_the_package_and_the_command(tmp_path, capsys, monkeypatch):
    from sweep import __main__ as cli

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    f = tmp_path / "s.json"
    f.write_text(SWEEP)
    one_line(*call(cli.main, [str(f), "--out", str(tmp_path / "out")], capsys), 2,
             "the sweep runs its points on Ray Tune, which is not installed: pip install '.[sweep]'")


def test_tune_restore_advice_is_kept_out(caplog):
    import logging

    from sweep.cluster import quiet_tune

    log = logging.getLogger("ray.tune.tune")
    with caplog.at_level(logging.INFO), quiet_tune():
        log.warning('Experiment has been interrupted.\nResume experiment with: Tuner.restore(path="x", trainable=...)')
        log.warning("another warning")
    assert [r.getMessage() for r in caplog.records] == ["another warning"]


def test_a_head_that_stops_answering_is_noticed(monkeypatch):
    import socket
    import threading

    from sweep.cluster import watch_head

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    gcs = f"127.0.0.1:{server.getsockname()[1]}"

    class Ray:
        def get_runtime_context(self):
            return type("Ctx", (), {"gcs_address": gcs})()
    lost = threading.Event()
    seen = []
    with watch_head(Ray(), "10.0.0.9:6379", lambda a: seen.append(a) or lost.set(), every_s=0.05, misses=2):
        assert not lost.wait(0.3)          # the head answers: nothing
        server.close()                     # the head is gone
        assert lost.wait(30)
    assert seen == ["10.0.0.9:6379"]


def test_an_unexpected_library_error_of_many_lines_is_one(capsys):
    from eqprop.cli_support import guard

    @guard("the work")
    def main(argv):
        raise LookupError("The run failed.\nTo continue it, use Tuner.restore(...)\nmore")
    one_line(*call(main, [], capsys), 1, "error: LookupError: The run failed. (the rest with --debug) (an unexpected")
