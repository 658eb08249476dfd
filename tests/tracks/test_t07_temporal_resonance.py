import torch

from tests.tracks.conftest import check_outcome
from tracks import t07_temporal_resonance as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert out.metrics["validation"] == {"planted_period_5": 5, "contraction": 1}


def test_detector_reads_periods_and_aperiodic_motion():
    h = torch.randn(12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    orbit = [h]
    for _ in range(300):
        orbit.append(torch.roll(orbit[-1], 4))  # 12 / gcd(12, 4) = period 3
    assert t.period(torch.stack(orbit)) == 3
    x = torch.tensor([0.3], dtype=torch.float64)
    logistic = []
    for _ in range(400):
        x = 4.0 * x * (1 - x)  # chaotic
        logistic.append(x.clone())
    assert t.period(torch.stack(logistic)) is None


def test_broken_detector_fails(monkeypatch):
    monkeypatch.setattr(t, "period", lambda seq, **kw: 1)  # calls everything a fixed point
    m = t.experiment(hidden=20, samples=4, steps=300, gains=(3.0,), asymmetries=(0.0,), epochs=1)
    assert t.judge(m).status == Status.FAIL
