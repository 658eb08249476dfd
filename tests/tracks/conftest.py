import pytest

from tracks.base import Context


@pytest.fixture
def tiny(tmp_path):
    """A tiny-size context writing into a temporary folder."""
    return Context(mode="tiny", out_dir=tmp_path)


def check_outcome(out, ctx):
    """The structure every track's Outcome must have; figures exist as PNG files."""
    import json

    from tracks.base import Outcome, Status

    assert isinstance(out, Outcome)
    assert out.verdict.status in (Status.PASS, Status.PARTIAL, Status.FAIL)
    assert out.verdict.reason and out.evidence
    json.dumps(out.metrics)
    assert out.figures, "every track draws at least one plot"
    for f in out.figures:
        path = ctx.out_dir / f
        assert path.suffix == ".png" and path.stat().st_size > 1000, path
    for t in out.tables:
        assert t.startswith("| ")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tracks run single-threaded (as `python -m tracks` does by default): same numbers on any machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
