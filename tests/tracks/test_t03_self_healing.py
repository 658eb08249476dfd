import torch

from eqprop.looped import LoopedMLP
from tests.tracks.conftest import check_outcome
from tracks import t03_self_healing as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["levels"]) == {str(s) for s in t.SIGMAS}


def test_expanding_network_does_not_heal():
    model = LoopedMLP(64, 32, 10, use_spectral_norm=False, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = model.W_rec.parametrizations.weight.original
        a.mul_(6.0 / torch.linalg.matrix_norm(model.W_rec.weight, ord=2))  # sigma_max(W_rec) = 6
    m = t.experiment(model, batch=8, after=60)
    assert t.judge(m).status == Status.FAIL
