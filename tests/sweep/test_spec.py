"""The sweep file (sweep/spec.py): points expanded as written, and every malformed file one error naming the
field and the fix, before anything runs (no Ray here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eqprop.cli_support import UsageError
from sweep.__main__ import main
from sweep.spec import load_spec, points

EXAMPLES = Path(__file__).resolve().parents[2] / "sweep" / "examples"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_points_and_labels(tmp_path):
    spec = load_spec(write(tmp_path, """
vary:
  weights:
    - {label: int8, weight_format: int, weight_bits: 8}
    - {weight_format: ternary, weight_bits: 2}
  mac_lanes: {from: 4, to: 8, step: 4}
devices: [none]
"""))
    pts = points(spec)
    assert [p.label for p in pts] == [
        "weights=int8 mac_lanes=4 @none", "weights=int8 mac_lanes=8 @none",
        "weights=weight_format=ternary,weight_bits=2 mac_lanes=4 @none",
        "weights=weight_format=ternary,weight_bits=2 mac_lanes=8 @none"]
    assert pts[2].config().weight_format == "ternary" and pts[3].config().mac_lanes == 8
    assert len({p.id for p in pts}) == 4
    assert spec.name == "s"


def test_random_search_draws_a_seeded_subset(tmp_path):
    spec = load_spec(write(tmp_path, "vary: {state_bits: {from: 3, to: 8}, mac_lanes: [2, 4, 8]}\n"
                                     "search: random\nsamples: 5\n"))
    a, b = points(spec), points(spec)
    assert len(a) == 5 and [p.id for p in a] == [p.id for p in b]
    assert len(points(spec, search="grid")) == 18


def test_ids_depend_on_what_decides_the_result(tmp_path):
    one = points(load_spec(write(tmp_path, "vary: {mac_lanes: [8]}\nepochs: 1\n", "a.yaml")))[0]
    same = points(load_spec(write(tmp_path, "base: {mac_lanes: 8}\nepochs: 1\n", "b.yaml")))[0]
    other = points(load_spec(write(tmp_path, "vary: {mac_lanes: [8]}\nepochs: 2\n", "c.yaml")))[0]
    assert one.id == same.id != other.id


def test_exclude_and_named_configs(tmp_path):
    spec = load_spec(write(tmp_path, """
vary: {config: [int8-p8, int8-p8-infer]}
devices: [ecp5, ice40]
place_and_route: false
exclude: [{device: ice40, learning: false}]
"""))
    assert [p.label for p in points(spec)] == ["config=int8-p8 @ecp5", "config=int8-p8 @ice40",
                                               "config=int8-p8-infer @ecp5"]


def test_precision_axis_is_track_16s_overrides(tmp_path):
    from eqprop.hw.hwconfig import HwConfig
    from eqprop.hw.onchip import precision_overrides

    p = points(load_spec(write(tmp_path, "vary: {precision: [4, [6, 3]]}\n")))
    assert p[0].fields == precision_overrides(HwConfig(), 4, 4)
    assert p[1].config().state_bits == 6 and p[1].config().weight_bits == 3


def test_fpga_example_is_make_fpgas_runs():
    """sweep/examples/fpga.yaml builds what `make fpga` builds on digits: each named configuration on its
    families (the 784-input cores, measured on mnist5k, are left out: a sweep has one data set; so is the tiled
    core, which a sweep refuses)."""
    from export.fpga import CONFIGS, DATASETS, DEFAULT_DEVICES, DEVICES, FAMILIES, config

    pts = points(load_spec(EXAMPLES / "fpga.yaml"))
    assert {(p.axes["config"], p.device) for p in pts} == {
        (c, f) for c in CONFIGS for f in DEVICES if f in FAMILIES.get(c, DEFAULT_DEVICES) and c not in DATASETS
        and not config(c).tiled}
    assert all(p.config() == config(p.axes["config"]) for p in pts)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_load(path):
    assert points(load_spec(path))


BAD = [
    ("vary: {state_bits: 5}\n", "vary.state_bits must be a non-empty list of values or a range"),
    ("vary: {state_bits: []}\n", "vary.state_bits must be a non-empty list"),
    ("vary: {state_bits: {from: 8, to: 4}}\n", "vary.state_bits range must have integers from <= to"),
    ("vary: {state_bits: [1]}\n", "point state_bits=1: state_bits must be in 2 .. 16, not 1"),
    ("vary: {weights: [{weight_format: ternary}]}\n", "weight_bits must be 2 for ternary weights"),
    ("vary: {weights: [{wieght_bits: 4}]}\n", "vary.weights[0]: unknown HwConfig field 'wieght_bits'"),
    ("vary: {weights: [4, 8]}\n", "vary.weights[0] must be a mapping of HwConfig fields"),
    ("vary: {config: [int9]}\n", "vary.config must name configurations of export.fpga"),
    ("vary: {precision: [1]}\n", "vary.precision values must be bits b in 2 .. 16"),
    ("vary: {precision: [4], state_bits: [4]}\n", "vary.precision and vary.state_bits both set state_bits"),
    ("vary: {mac_lanes: [128]}\n", "mac_lanes must be at most the widest layer"),
    ("epochs: 0\n", "epochs must be a positive integer, not 0"),
    ("epochs: three\n", "epochs must be a positive integer, not 'three'"),
    ("seeds: [0, 0]\n", "seeds must be a non-empty list of distinct non-negative integers"),
    ("devices: [virtex]\n", "devices must be a non-empty list of distinct names from none, ecp5, ecp5-85k, ice40"),
    ("dataset: cifar\n", "dataset must be one of digits, mnist5k, blobs, not 'cifar'"),
    ("objectives: [accuracy]\n", "objectives must be a list of at least two distinct names"),
    ("objectives: [accuracy, speed]\n", "objectives must be a list of at least two distinct names"),
    ("search: bayes\n", "search must be grid, random or optuna, not 'bayes'"),
    ("search: random\n", "search: random needs samples"),
    ("place_and_route: yes please\n", "place_and_route must be true or false"),
    ("base: {sizes: [64, 10, 10, 3]}\n", "sizes must start with 64 inputs and end with 10 classes"),
    ("base: {state_bits: 40}\n", "base: state_bits must be in 2 .. 16, not 40"),
    ("train_samples: 100000\n", "train_samples must be at most 1437"),
    ("exclude: [{colour: red}]\n", "exclude[0]: unknown key 'colour'"),
    ("vary: {tile: [{label: t4x10, pe: 4, simd: 10}]}\n", "point tile=t4x10: pe and simd must be left out (a sweep "
     "builds the P-lane core of mac_lanes; the tiled datapath is not swept yet), not pe=4"),
    ("exclude: [{state_bits: 8}]\nvary: {state_bits: [8]}\n", "every point is excluded"),
    ("epoch: 3\n", "unknown key 'epoch' (known: name, dataset, epochs"),
    ("- 1\n- 2\n", "the sweep file must be a mapping of keys"),
    ("vary: {state_bits: [4\n", "invalid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_malformed_file_names_the_field(tmp_path, text, message):
    with pytest.raises(UsageError, match=None) as e:
        load_spec(write(tmp_path, text))
    assert message in str(e.value)
    assert str(e.value).startswith(str(tmp_path / "s.yaml"))


def test_json_and_the_command_line(tmp_path, capsys):
    path = write(tmp_path, json.dumps({"vary": {"mac_lanes": [4, 8]}, "epochs": 1}), "s.json")
    assert main([str(path), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    assert capsys.readouterr().out.strip().endswith("2 points")
    assert main([str(write(tmp_path, "epochs: -1\n")), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "epochs must be a positive integer, not -1" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    assert main([str(write(tmp_path, "epochs: 1\n", "s.txt"))]) == 2
    assert "must end in .yaml, .yml or .json" in capsys.readouterr().err
