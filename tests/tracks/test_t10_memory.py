from tests.tracks.conftest import check_outcome
from tracks import t10_memory as t
from tracks.base import Status


def test_structure_and_an_eqprop_that_keeps_its_trajectory_fails(tiny):
    # one set of probes (fresh processes are the slow part) serves both checks
    m = t.experiment(steps=(5, 100), depths=(1,), hidden=128, batch=64, methods=("eqprop", "bptt", "eqprop-trace"))
    check_outcome(t.outcome(tiny, m), tiny)
    assert m["slope_mb_per_step"]["bptt"] > 0
    assert t.judge(m, eqprop="eqprop-trace").status in (Status.FAIL, Status.PARTIAL)
    assert m["slope_mb_per_step"]["eqprop-trace"] > 0.05 * m["slope_mb_per_step"]["bptt"]
