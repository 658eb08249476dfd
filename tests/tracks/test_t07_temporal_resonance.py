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


def test_detector_sees_a_cycle_in_a_looped_network():
    """The trained networks' arm is not blind: a LoopedMLP with W_rec = -3 I flips sign every step (period 2)."""
    model = t.LoopedMLP(4, 6, 2, symmetric=False, use_spectral_norm=False)
    with torch.no_grad():
        model.W_in.weight.zero_()
        model.W_in.bias.fill_(0.1)
        model.W_rec.weight.copy_(-3 * torch.eye(6))
    r = t.classify_looped(model, torch.zeros(3, 4), 400)
    assert r["periods"] == [2, 2, 2] and r["cycle_fraction"] == 1.0 and r["attracting"] == 3


def _metrics(trained_cycles, inputs=32):
    trained = {k: {"cycles": 0, "inputs": inputs, "cycle_fraction": 0.0} for k in t.TRAINED}
    trained["LoopedMLP, BPTT"] = {"cycles": trained_cycles, "inputs": inputs, "cycle_fraction": trained_cycles / inputs}
    return {"validation": {"planted_period_5": 5, "contraction": 1},
            "sweep": [{"gain": 3.0, "cycles": 20, "attracting": 20}], "trained": trained}


def test_judge_is_about_trained_networks():
    assert t.judge(_metrics(8)).status == Status.PASS
    assert t.judge(_metrics(1)).status == Status.PARTIAL
    v = t.judge(_metrics(0))  # cycles in random networks only, every one attracting: still FAIL
    assert v.status == Status.FAIL and "no trained network" in v.reason
    m = _metrics(8)
    m["sweep"][0]["cycles"] = 0  # a detector that sees no cycle where there are some cannot be trusted
    assert t.judge(m).status == Status.FAIL
