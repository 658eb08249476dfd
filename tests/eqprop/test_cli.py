import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eqprop.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "eqprop", "--dataset", "blobs", "--hidden", "16", "--epochs", "2",
                 "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"epoch   1 .*test \d+\.\d+%", printed) and "epoch   2" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "eqprop" and len(metrics["history"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]


def test_qat_checkpoint_quantises_to_its_training_format(tmp_path, capsys):
    from eqprop.hw.quantise import quantise
    from eqprop.train import load_checkpoint

    out = tmp_path / "run"
    assert main(["train", "--model", "eqprop", "--dataset", "blobs", "--hidden", "8", "--epochs", "1", "--qat",
                 "ternary", "--no-progress", "--out", str(out)]) == 0
    q = quantise(load_checkpoint(out / "checkpoint.pt").model)
    assert q.cfg.weight_format == "ternary"
    assert main(["train", "--model", "mlp", "--dataset", "blobs", "--qat", "int8", "--no-progress",
                 "--out", str(tmp_path / "mlp")]) != 0
    assert "qat (quantisation-aware training) is for model eqprop only" in capsys.readouterr().err


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--model", "--dataset", "--data-path", "--hidden", "--epochs", "--batch-size", "--lr", "--momentum",
                "--seed", "--free-steps", "--nudge-steps", "--beta", "--step-size", "--estimator", "--out",
                "--no-progress", "--qat", "--qat-states"):
        assert opt in text


@pytest.mark.parametrize("args, valid", [
    (["--model", "resnet"], "eqprop, bptt, mlp, looped-eqprop, looped-bptt"),
    (["--dataset", "cifar"], "digits, mnist5k, mnist, blobs"),
    (["--qat", "int3"], "int8, int4, ternary"),
])
def test_unknown_names_list_valid_ones(capsys, args, valid):
    with pytest.raises(SystemExit) as e:
        main(["train", *args])
    assert e.value.code == 2
    assert valid.replace(", ", "', '") in capsys.readouterr().err


def test_bad_data_path_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--dataset", "mnist", "--data-path", str(tmp_path), "--no-progress",
                 "--out", str(tmp_path / "o")]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_readme_examples_run(tmp_path):
    """Every `python -m eqprop train` line of the front page, getting started and the models page that needs no
    downloaded data runs."""
    lines = []
    for page in ("README.md", "docs/getting-started.md", "docs/models.md"):
        text = (ROOT / page).read_text()
        found = [ln.split("#")[0].strip() for ln in text.splitlines()
                 if "-m eqprop train" in ln and ln.strip().startswith(".venv")]
        assert found, f"{page} shows no training command"
        lines += [ln for ln in found if ln not in lines]
    for line in lines:
        if "--data-path" in line:
            continue  # needs MNIST files; the loader is tested on files the tests write
        args = line.split("-m eqprop", 1)[1].split()
        if "--help" not in args:
            args += ["--epochs", "1", "--no-progress", "--out", str(tmp_path / "run")]
        r = subprocess.run([sys.executable, "-m", "eqprop", *args], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, (line, r.stderr[-2000:])
