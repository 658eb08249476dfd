from eqprop.looped import LoopedMLP
from tests.tracks.conftest import check_outcome
from tracks import t01_spectral_norm as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["arms"]) == {"looped-eqprop, SN", "looped-eqprop, no SN", "looped-bptt, SN",
                                        "looped-bptt, no SN"}


def test_spectral_norm_that_does_not_normalise_fails(monkeypatch):
    def broken(*args, use_spectral_norm, **kw):  # ignores the flag: "SN" arms are unnormalised
        return LoopedMLP(*args, use_spectral_norm=False, **kw)

    monkeypatch.setattr(t, "LoopedMLP", broken)
    m = t.experiment(hidden=32, epochs=1, arms=[("looped-bptt", True), ("looped-bptt", False)], lr=1e-2)
    v = t.judge(m)
    assert v.status == Status.FAIL


def _arm(sn, l0, l1, lmax, acc=0.95):
    return {"spectral_norm": sn, "L_initial": l0, "L_final": l1, "L_max": lmax, "test_acc": acc}


def test_judge_thresholds():
    raw = _arm(False, 0.8, 1.5, 1.5)
    assert t.judge({"arms": {"a": _arm(True, 1.0, 1.0, 1.005), "b": raw}}).status == Status.PASS
    assert t.judge({"arms": {"a": _arm(True, 1.0, 1.0, 1.05), "b": raw}}).status == Status.PARTIAL
    assert t.judge({"arms": {"a": _arm(True, 1.0, 1.0, 1.2), "b": raw}}).status == Status.FAIL
    # a control that does not grow shows nothing
    assert t.judge({"arms": {"a": _arm(True, 1.0, 1.0, 1.0), "b": _arm(False, 0.8, 0.85, 0.85)}}).status == Status.FAIL
    # a normalised network at chance level is not evidence
    assert t.judge({"arms": {"a": _arm(True, 1.0, 1.0, 1.0, 0.1), "b": raw}}).status == Status.FAIL
