import pytest
import torch

from tests.tracks.conftest import check_outcome
from tracks import t21_continual as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["models"]) == {"EqProp", t.REFERENCE}


def test_the_reference_uses_the_same_optimiser_and_loss():
    ls = t._learners(16, seed=3)
    eq, bp = ls["EqProp"], ls[t.REFERENCE]
    assert type(eq.optimizer) is type(bp.optimizer)
    assert [g["lr"] for g in eq.optimizer.param_groups] == [g["lr"] for g in bp.optimizer.param_groups] == [0.2, 0.1]
    assert [g["momentum"] for g in eq.optimizer.param_groups] == [g["momentum"] for g in bp.optimizer.param_groups]
    assert bp.model.sizes == eq.model.sizes
    x = torch.rand(5, 64, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 4])
    out = bp.model(x).detach()
    target = torch.nn.functional.one_hot(labels, 10).float()
    assert bp.step(x, labels) == pytest.approx(float(0.5 * ((target - out) ** 2).sum(1).mean()), rel=1e-6)


def test_untrained_first_task_fails():
    m = t.experiment(hidden=16, epochs=1, epochs_a=0)  # task A never trained: nothing to forget
    v = t.judge(m)
    assert v.status == Status.FAIL and "not learned" in v.reason


def test_judge_thresholds():
    def m(eq_forget, bp_forget):
        def r(f):
            return {"a_before": 0.98, "a_after": 0.98 - f, "b_after": 0.97, "forgetting": f}
        return {"models": {"EqProp": r(eq_forget), t.REFERENCE: r(bp_forget)}}
    assert t.judge(m(0.05, 0.9)).status == Status.PASS
    assert t.judge(m(0.6, 0.9)).status == Status.PARTIAL
    assert t.judge(m(0.9, 0.9)).status == Status.FAIL
    unlearned = m(0.6, 0.9)
    unlearned["models"][t.REFERENCE]["b_after"] = 0.5   # a reference that never learned B says nothing
    v = t.judge(unlearned)
    assert v.status == Status.FAIL and "no like-for-like comparison" in v.reason
