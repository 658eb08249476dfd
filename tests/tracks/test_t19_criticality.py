import math

import torch

from tests.tracks.conftest import check_outcome
from tracks import t19_criticality as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["gain"] for r in out.metrics["sweep"]] == list(t.GAINS)
    assert out.metrics["textbook"]["status"] in ("reproduced", "not reproduced")


def test_lyapunov_of_a_scaled_rotation_is_log_of_the_scale():
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    for a in (0.5, 1.0, 1.7):
        lam = t.lyapunov(a * q, torch.zeros(3, 20, dtype=torch.float64), steps=50, transient=5,
                         act=lambda z: z, dact=torch.ones_like)
        torch.testing.assert_close(lam, torch.full((3,), math.log(a), dtype=torch.float64))


def _random_sweep():
    return t.experiment(n=40, steps=100, transient=50, looped_epochs=0, samples=2)


def test_wrong_transition_fails():
    m = _random_sweep()
    flipped = {**m, "sweep": [{**r, "lambda_no_input": -r["lambda_no_input"]} for r in m["sweep"]],
               "trained_looped": {"lambda": 0.0, "lambda_se": 0.0, "spectral_radius": 1.0}}
    v = t.judge(flipped)
    assert v.status == Status.FAIL and "does not find the ordered and chaotic regimes" in v.reason


def test_the_status_follows_the_trained_network():
    m = _random_sweep()
    assert t.textbook(m)["ordered"] and t.textbook(m)["chaotic"]

    def trained(lam):
        return t.judge({**m, "trained_looped": {"lambda": lam, "lambda_se": 0.002, "spectral_radius": 1.05}})

    assert trained(0.01).status == Status.PASS
    v = trained(-0.151)   # the quick run's figure: clearly ordered
    assert v.status == Status.FAIL and "ordered" in v.reason
    v = trained(0.3)
    assert v.status == Status.FAIL and "chaotic" in v.reason
    assert t.judge(m).status == Status.FAIL   # no trained network: the claim is not tested


def test_noise_floor():
    assert t.noise_floor(0.0001, 400) == 0.005
    assert t.noise_floor(0.01, 400) == 0.02
