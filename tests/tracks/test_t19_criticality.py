import math

import torch

from tests.tracks.conftest import check_outcome
from tracks import t19_criticality as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert [r["gain"] for r in out.metrics["sweep"]] == list(t.GAINS)


def test_lyapunov_of_a_scaled_rotation_is_log_of_the_scale():
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    for a in (0.5, 1.0, 1.7):
        lam = t.lyapunov(a * q, torch.zeros(3, 20, dtype=torch.float64), steps=50, transient=5,
                         act=lambda z: z, dact=torch.ones_like)
        torch.testing.assert_close(lam, torch.full((3,), math.log(a), dtype=torch.float64))


def test_wrong_transition_fails():
    m = t.experiment(n=40, steps=100, transient=50, looped_epochs=0, samples=2)
    flipped = {**m, "sweep": [{**r, "lambda_no_input": -r["lambda_no_input"]} for r in m["sweep"]]}
    assert t.judge(flipped).status == Status.FAIL
