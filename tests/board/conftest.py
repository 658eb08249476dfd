"""Fixtures of the board tests: the accelerator on the golden model and on the co-simulated board (the board
design's Verilog under Verilator, its UART behind a pty), one small configuration for both."""

import os

import pytest

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig

CFG = HwConfig(sizes=(5, 6, 3), free_steps=3, nudge_steps=2, mac_lanes=2)


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def cosim_board():
    """One co-simulated board for the session (its Verilator build is cached in the build cache, eqprop.cache)."""
    from sim import boardsim as cosim
    from sim.runner import ToolMissing

    try:
        acc = cosim.board(CFG, timeout_s=30.0)
    except ToolMissing as e:
        _missing(str(e))
    yield acc
    acc.close()


@pytest.fixture(params=["golden", "cosim"])
def accelerator(request):
    """The same tests on the golden model and on the co-simulated board."""
    from eqprop.device import Accelerator

    if request.param == "golden":
        acc = Accelerator.golden(CFG)
        yield acc
        acc.close()
    else:
        acc = request.getfixturevalue("cosim_board")
        acc.set_lr_shifts(CFG.lr_shifts)       # each test starts from the configuration's learning rates
        yield acc


@pytest.fixture
def params():
    return golden.init_params(CFG, seed=3, gain=3.0)
