import json
import os

import pytest
import torch

from eqprop.atomic import write_json_atomic
from eqprop.data import synthetic_blobs
from eqprop.train import MODELS, TrainConfig, fit, load_checkpoint, save_checkpoint


@pytest.mark.parametrize("model", MODELS)
def test_checkpoint_round_trip(tmp_path, model):
    data = synthetic_blobs(n_train=64, n_test=32)
    cfg = TrainConfig(model=model, hidden=[8], epochs=1)
    learner, _ = fit(cfg, data, progress=False, log=None)
    path = tmp_path / "ck.pt"
    save_checkpoint(str(path), learner, cfg, data.n_in, data.n_classes)
    assert os.listdir(tmp_path) == ["ck.pt"]  # no temporary file left behind
    again = load_checkpoint(str(path))
    x = torch.from_numpy(data.x_test)
    learner.model.eval()
    again.model.eval()
    torch.testing.assert_close(again.model.predict(x), learner.model.predict(x))


def test_corrupt_or_foreign_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"bad.pt: not a checkpoint \(a text file\); a checkpoint holds format, "
                                         "train_config, n_in, n_out, state_dict"):
        load_checkpoint(str(bad))
    zipped = tmp_path / "zipped.pt"
    zipped.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="zipped.pt: not a readable checkpoint"):
        load_checkpoint(str(zipped))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    with pytest.raises(ValueError, match="not an eqprop checkpoint"):
        load_checkpoint(str(foreign))
    data = synthetic_blobs(n_train=16, n_test=8)
    cfg = TrainConfig(model="mlp", hidden=[4], epochs=1)
    learner, _ = fit(cfg, data, progress=False, log=None)
    save_checkpoint(str(tmp_path / "ok.pt"), learner, cfg, data.n_in, data.n_classes)
    payload = torch.load(tmp_path / "ok.pt", weights_only=True)
    del payload["n_in"]
    torch.save(payload, tmp_path / "no_n_in.pt")
    with pytest.raises(ValueError, match=r"no_n_in.pt: the checkpoint has no 'n_in'; a checkpoint holds format, "):
        load_checkpoint(str(tmp_path / "no_n_in.pt"))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(str(tmp_path / "missing.pt"))


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json_atomic(str(tmp_path / "m.json"), {"x": object()})
    assert os.listdir(tmp_path) == []
    write_json_atomic(str(tmp_path / "m.json"), {"x": 1})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1}


@pytest.mark.parametrize("kw, message", [
    ({"model": "resnet"}, "model must be one of eqprop, bptt, mlp, looped-eqprop, looped-bptt, not 'resnet'"),
    ({"hidden": []}, "hidden must be one or more positive layer sizes"),
    ({"model": "looped-bptt", "hidden": [4, 4]},
     r"hidden must hold one size for LoopedMLP \(one recurrent hidden layer\), not \[4, 4\]"),
    ({"epochs": 0}, "epochs must be a positive integer, not 0"),
    ({"lr": -1.0}, "lr must be a positive number, not -1.0"),
])
def test_config_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw)


def test_divergence_is_reported():
    data = synthetic_blobs(n_train=64, n_test=32)
    with pytest.raises(FloatingPointError, match="diverged"):
        fit(TrainConfig(model="mlp", hidden=[8], epochs=2, lr=1e30), data, progress=False, log=None)


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        write_json_atomic(str(tmp_path / "m.json"), {})
    finally:
        os.umask(umask)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644
