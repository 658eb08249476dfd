from tests.tracks.conftest import check_outcome
from tracks import t16_bit_precision as t
from tracks.base import Status


def test_tiny_run_has_the_structure(tiny):
    out = t.run(tiny)
    check_outcome(out, tiny)
    assert set(out.metrics["int_mean"]) == {"2", "8"}


def test_untrained_model_fails():
    m = t.experiment(seeds=[0], epochs=1, bits=[8], lr=1e-12)
    assert t.judge(m).status == Status.FAIL


def test_judge_thresholds():
    def m(f, i8):
        return {"float_mean": f, "int_mean": {"8": i8, "4": i8 - 0.05}}
    assert t.judge(m(0.97, 0.968)).status == Status.PASS
    assert t.judge(m(0.97, 0.955)).status == Status.PARTIAL
    assert t.judge(m(0.97, 0.90)).status == Status.FAIL
    assert t.judge(m(0.50, 0.50)).status == Status.FAIL
