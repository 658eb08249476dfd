import pytest
import torch

from eqprop.data import synthetic_blobs
from eqprop.gradcheck import compare
from eqprop.looped import LoopedMLP
from eqprop.train import TrainConfig, fit


def test_spectral_norm_bounds_the_recurrence():
    m = LoopedMLP(8, 16, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(5):  # power iteration converges over calls in training mode
        m(torch.rand(2, 8))
    assert m.lipschitz() == pytest.approx(1.0, abs=1e-3)
    w = m.W_rec.weight
    torch.testing.assert_close(w, w.T)
    raw = LoopedMLP(8, 16, 3, use_spectral_norm=False, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw.W_rec.parametrizations.weight.original.mul_(10)
    assert raw.lipschitz() > 2.0


def test_eqprop_gradients_match_bptt_at_the_fixed_point():
    torch.manual_seed(0)
    m = LoopedMLP(8, 16, 3, generator=torch.Generator().manual_seed(0)).double()
    m.eval()  # freeze the power iteration so both methods see the same weights
    x = torch.rand(32, 8, dtype=torch.float64)
    labels = torch.arange(32) % 3
    g = m.eqprop_gradients(x, labels, beta=1e-3, free_steps=300, nudge_steps=300)
    w_in, w_rec, w_out = (w.detach().requires_grad_(True) for w in m.effective_weights())
    h = x.new_zeros(32, 16)
    for _ in range(300):
        h = torch.tanh(x @ w_in.T + m.W_in.bias + h @ w_rec.T)
    loss = torch.nn.functional.cross_entropy(h @ w_out.T + m.W_out.bias, labels)
    ref = torch.autograd.grad(loss, (w_in, w_rec, w_out))
    # W_rec is constrained symmetric: compare with the symmetric part of its gradient
    ref = (ref[0], 0.5 * (ref[1] + ref[1].T), ref[2])
    for name, r in zip(("W_in", "W_rec", "W_out"), ref, strict=True):
        c = compare(g[name], r)
        assert c["cosine"] > 0.999, (name, c)


@pytest.mark.parametrize("model", ["looped-eqprop", "looped-bptt"])
def test_looped_learns_synthetic_task(model):
    _, metrics = fit(TrainConfig(model=model, hidden=[32], epochs=10, lr=3e-3), synthetic_blobs(), progress=False,
                     log=None)
    assert metrics["final_test_acc"] >= 0.95  # chance 0.25


def test_eqprop_needs_symmetric_recurrence():
    m = LoopedMLP(4, 5, 2, symmetric=False)
    with pytest.raises(ValueError, match="symmetric W_rec"):
        m.eqprop_step(torch.rand(2, 4), torch.tensor([0, 1]), torch.optim.SGD(m.parameters(), lr=0.1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden_dim must be a positive integer, not 0"):
        LoopedMLP(4, 0, 2)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\), not \(2, 3\)"):
        LoopedMLP(4, 5, 2)(torch.rand(2, 3))
