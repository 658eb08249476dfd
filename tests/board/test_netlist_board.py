"""The board designs of ``make bitstream`` as Yosys synthesises them (the script of ``make fpga``: ``synth_ice40
-dsp`` for the iCEBreaker, ``synth_ecp5`` for the OrangeCrab 25F), co-simulated with the family's cell models
under Verilator and driven through their UART by the host API (`eqprop.device.Accelerator`,
``Accelerator.cosim(cfg, netlist=family)``): a few digits images' results, states and counters against the
golden model's reference. The parameters are the design's initial contents (synthesised into the block RAMs'
INIT), not loaded over the UART: the gate-level model runs 600 to 2,000 cycles a second, and loading the
weights would take a quarter of an hour or more. Slow (a synthesis, a netlist build of one to a few minutes and
one to two minutes of simulation an image: the ECP5 case takes about ten minutes from a cold build cache),
so in the slow suite only."""

import pytest
from numpy.testing import assert_array_equal

from eqprop.device import Accelerator
from eqprop.hw import golden
from rtl.command import ref_infer
from tests.board.conftest import _missing

IMAGES = 3


# (board of export.bitstream.BOARDS, its family, a cell type its synthesised netlist must have): the ECP5 board is
# the OrangeCrab's inference-only default core (64-64-10, INT8, 8 lanes), the smaller of the two ECP5 boards' cores
NETLIST_BOARDS = [("icebreaker", "ice40", "SB_LUT4"), ("orangecrab-25f", "ecp5", "LUT4")]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "family", "cell"), NETLIST_BOARDS, ids=[b[0] for b in NETLIST_BOARDS])
def test_netlist_board_matches_golden(name, family, cell):
    from eqprop.data import load_digits_split
    from eqprop.hw.quantise import quantise_input
    from export.bitstream import BOARDS, board_config
    from sim.runner import ToolMissing

    assert BOARDS[name].family == family
    cfg = board_config(name)
    params = golden.init_params(cfg, seed=0, gain=3.0)
    x = quantise_input(cfg, load_digits_split().x_test[:IMAGES])
    try:
        acc = Accelerator.cosim(cfg, netlist=family, params=params, timeout_s=600.0)
    except ToolMissing as e:
        _missing(str(e))
    with acc:
        assert acc.backend.built.netlist == family and acc.backend.built.cells.get(cell, 0) > 0
        assert acc.cfg == cfg
        for i, image in enumerate(x):
            ref = ref_infer(cfg, params, image[None, :])
            assert acc.infer(image) == ref["result"], f"image {i}: RESULT"
            for k, (a, b) in enumerate(zip(acc.states(), ref["states"], strict=True)):
                assert_array_equal(a, b, err_msg=f"image {i}: state layer {k + 1}")
            c = acc.counters()
            assert (c.cycles, c.steps, list(c.phase_steps), c.unsettled) == (
                ref["cycles"], ref["steps"], ref["phase_steps"], bool(ref["unsettled"])), f"image {i}: counters"


@pytest.mark.slow
def test_icebreaker_routed_netlist_board_matches_golden():
    """The same board design after place and route for the UP5K (nextpnr-ice40 ``--write``, read back by Yosys;
    `sim.netlist.route_board`): its ports are the UART, clock, reset and LEDs, so it needs no pin harness, and the
    routed netlist (ICESTORM_LC, ICESTORM_RAM, SB_IO, SB_GB) answers the same UART frames as the golden model."""
    from eqprop.data import load_digits_split
    from eqprop.hw.quantise import quantise_input
    from export.bitstream import board_config
    from sim.runner import ToolMissing

    cfg = board_config("icebreaker")
    params = golden.init_params(cfg, seed=0, gain=3.0)
    x = quantise_input(cfg, load_digits_split().x_test[:IMAGES])
    try:
        acc = Accelerator.cosim(cfg, netlist="ice40", stage="routed", params=params, timeout_s=600.0)
    except ToolMissing as e:
        _missing(str(e))
    with acc:
        built = acc.backend.built
        assert built.stage == "routed" and built.cells.get("ICESTORM_LC", 0) > 0
        assert built.cells.get("ICESTORM_RAM", 0) > 0 and "SB_LUT4" not in built.cells
        for i, image in enumerate(x):
            ref = ref_infer(cfg, params, image[None, :])
            assert acc.infer(image) == ref["result"], f"image {i}: RESULT"
            for k, (a, b) in enumerate(zip(acc.states(), ref["states"], strict=True)):
                assert_array_equal(a, b, err_msg=f"image {i}: state layer {k + 1}")
            c = acc.counters()
            assert (c.cycles, c.steps, list(c.phase_steps), c.unsettled) == (
                ref["cycles"], ref["steps"], ref["phase_steps"], bool(ref["unsettled"])), f"image {i}: counters"


def test_the_routed_board_design_is_ice40_only():
    from sim import boardsim
    from tests.board.conftest import CFG

    with pytest.raises(ValueError, match="stage must be synth or routed, not 'placed'"):
        boardsim.build(CFG, netlist="ice40", stage="placed")
    with pytest.raises(ValueError, match="netlist must be 'ice40' for stage routed, not 'ecp5'"):
        boardsim.build(CFG, netlist="ecp5", stage="routed")
    with pytest.raises(ValueError, match="netlist must be 'ice40' for stage routed, not None"):
        boardsim.build(CFG, stage="routed")
    with pytest.raises(ValueError, match="stage must be routed to mutate a routed cell, not 'synth'"):
        boardsim.build(CFG, netlist="ice40", mutate="lc")
    with pytest.raises(ValueError, match="netlist must be None or one of ecp5, ice40, not 'gowin'"):
        boardsim.build(CFG, netlist="gowin")


@pytest.mark.slow
def test_a_mutated_cell_of_the_routed_board_design_is_caught():
    """The logic cell that drives the tx pad with its truth table complemented (`sim.netlist.mutate_lc`): every
    UART frame passes it, and the host sees no valid answer."""
    import json

    from eqprop.device.link import LinkError
    from export.bitstream import board_config
    from sim import netlist
    from sim.runner import ToolMissing

    cfg = board_config("icebreaker")
    params = golden.init_params(cfg, seed=0, gain=3.0)
    try:
        good = Accelerator.cosim(cfg, netlist="ice40", stage="routed", params=params, timeout_s=600.0)
    except ToolMissing as e:
        _missing(str(e))
    with good:
        routed = good.backend.built.routed
        assert good.cfg == cfg
    name = netlist.lc_on_output(json.loads(routed.json.read_text()), "tx")
    with pytest.raises(LinkError):
        Accelerator.cosim(cfg, netlist="ice40", stage="routed", params=params, mutate=name, timeout_s=20.0,
                          retries=0)
