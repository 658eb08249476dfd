import torch

from eqprop.eqpropnet import EqPropNet
from tests.tracks.conftest import check_outcome
from tracks import t09_gradient_alignment as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert {r["estimator"] for r in out.metrics["rows"]} == {"one-sided", "symmetric"}
    assert set(out.metrics["looped"]) == set(t.LOOPED)
    assert f"trained {out.metrics['epochs']} epochs" in out.notes


class WrongSignHidden(EqPropNet):
    """A broken EqProp: the first layer's update has the wrong sign."""

    def eqprop_update(self, *args, **kw):
        out = super().eqprop_update(*args, **kw)
        out["dW"][0] = -out["dW"][0]
        return out


def _looped(cos_in, cos_rec, beta=0.01):
    rows = [{"beta": beta, "layer": "W_in", "cosine": cos_in}, {"beta": beta, "layer": "W_rec, symmetrised",
                                                                 "cosine": cos_rec}]
    return {t.SYMMETRIC: {"steps": 200, "rows": rows}}


def test_broken_update_fails():
    net = t.trained_net(hidden=[32], epochs=1)
    broken = WrongSignHidden(net.config)
    broken.load_state_dict(net.state_dict())
    m = t.experiment(broken, batch=16, steps=100, betas=(0.05, 0.01))
    v = t.judge({**m, "looped": _looped(1.0, 1.0)})
    assert v.status == Status.FAIL and "W1 -" in v.reason
    good = t.experiment(net, batch=16, steps=100, betas=(0.05, 0.01))
    assert t.judge({**good, "looped": _looped(1.0, 1.0)}).status != Status.FAIL
    # the layered network passing is not enough: the looped one is judged as well
    assert t.judge({**good, "looped": _looped(1.0, 0.5)}).status == Status.FAIL


def _small_looped(symmetric):
    return t.LoopedMLP(64, 16, 10, symmetric=symmetric, generator=torch.Generator().manual_seed(0))


def test_looped_estimate_is_the_library_formula():
    model = _small_looped(True).double().eval()
    w = model.effective_weights()
    x = torch.rand(8, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.arange(8) % 10
    ours = t.looped_estimate(model, w, x, labels, beta=0.1, steps=50)
    lib = model.eqprop_gradients(x, labels, beta=0.1, free_steps=50, nudge_steps=50)
    for k in ("W_in", "W_rec"):
        torch.testing.assert_close(ours[k], lib[k])


def test_looped_check_matches_only_with_a_symmetric_w_rec():
    sym = t.looped_check(_small_looped(True), batch=16, betas=(0.01,))
    cos = {r["layer"]: r["cosine"] for r in sym["rows"]}
    assert cos["W_in"] > 0.999 and cos["W_rec, symmetrised"] > 0.999 and cos["W_rec, raw"] < 0.99
    free = t.looped_check(_small_looped(False), batch=16, betas=(0.01,))
    assert min(r["cosine"] for r in free["rows"]) < 0.99  # no energy function: EqProp is not the gradient
    # the mechanism removed: a free W_rec in the symmetric network's place does not pass
    m = t.experiment(t.trained_net(hidden=[16], epochs=1), batch=16, steps=100, betas=(0.01,))
    assert t.judge({**m, "looped": {t.SYMMETRIC: free}}).status != Status.PASS
