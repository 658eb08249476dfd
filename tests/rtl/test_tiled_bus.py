# amaranth: UnusedElaboratable=no
"""The tiled core behind the AXI4-Lite slave (`rtl.tiled_bus.TiledWindows` in `rtl.axil`): every window written and
read back element by element (the tile layout, transposed for odd layers, a PE and SIMD that divide no layer), an
INFER of several samples and a TRAIN through the bus against the golden model and the tiled cycle models (states,
RESULTS, CYCLES, STEPS, PHASE_STEPS, STATUS, every trained shadow, weight and bias), RESET, the refused RELAX and the
CFG_TILE register."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.hw.formats import (
    WINDOW_SIZE,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
    shadow_base,
    unpack,
    weight_base,
)
from eqprop.hw.hwconfig import HwConfig
from rtl.axil import SLVERR, AxiLiteAccelerator
from rtl.command import ref_infer, ref_train
from tests.rtl._sim import run
from tests.rtl.test_axil import AxiLiteMaster
from tests.rtl.test_core import make_case

# 12-9-5: blocks of SIMD = 4 (layers 0 and 2) and PE = 3 (layer 1) neurons; 9 % 4 and 5 % 4 leave part-blocks
LEARN = HwConfig(sizes=(12, 9, 5), free_steps=30, nudge_steps=10, pe=3, simd=4)
INFER = HwConfig(sizes=(12, 9, 5), learning=False, free_steps=30, pe=3, simd=4, samples=3, slots=2)


async def _load(bus, cfg, params, x):
    """Every parameter window (the shadows of a learning core: the weights derive from them) and input, in order."""
    for l in range(cfg.n_layers):
        base, values = ((shadow_base(cfg, l), params.shadow[l]) if cfg.learning
                        else (weight_base(cfg, l), params.weights[l]))
        for i, v in enumerate(values.flat):
            assert await bus.write(base + 4 * i, int(v)) == 0
        for i, v in enumerate(params.biases[l]):
            assert await bus.write(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v)) == 0
    for b, row in enumerate(x):
        if cfg.samples > 1:
            await bus.write(Reg.SAMPLE, b)
        for i, v in enumerate(row):
            assert await bus.write(Reg.INPUT + 4 * i, int(v)) == 0


async def _matrix(bus, cfg, base, l):
    n = cfg.sizes
    return np.array([(await bus.read(base + 4 * i))[0] for i in range(n[l] * n[l + 1])]).reshape(n[l + 1], n[l])


# a tile as wide as the widest layer (SIMD = n_0 = 4): the block sizes need more bits than a column index (the
# formal check `axil-tiled` found an access that never ended when they did not)
WIDE = HwConfig(sizes=(4, 3, 2), free_steps=6, nudge_steps=3, pe=2, simd=4)


@pytest.mark.parametrize("cfg", [LEARN, INFER, WIDE], ids=["learning", "inference", "simd-as-wide-as-a-layer"])
def test_windows_read_back_in_any_order(cfg):
    """Each weight (or shadow), bias and input element written in a shuffled order reads back, through the tile
    layout; the weights read back are those derived from the shadows written; CFG_TILE and CFG_LANES describe the
    folding."""
    params, _, _ = make_case(cfg, seed=3)
    rng = np.random.default_rng(3)
    x = rng.integers(0, cfg.state_max + 1, (cfg.samples, cfg.sizes[0]))
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}
    writes = []
    for l in range(cfg.n_layers):
        base, values = ((shadow_base(cfg, l), params.shadow[l]) if cfg.learning
                        else (weight_base(cfg, l), params.weights[l]))
        writes += [(base + 4 * i, int(v)) for i, v in enumerate(values.flat)]
        writes += [(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v)) for i, v in enumerate(params.biases[l])]
    order = rng.permutation(len(writes))

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for i in order:
            assert await bus.write(*writes[i]) == 0
        for b in (cfg.samples - 1, 0):
            await bus.write(Reg.SAMPLE, b)
            for i in rng.permutation(cfg.sizes[0]):
                await bus.write(Reg.INPUT + 4 * int(i), int(x[b, i]))
        got["read"] = [(await bus.read(a))[0] for a, _ in writes]
        got["weights"] = [await _matrix(bus, cfg, weight_base(cfg, l), l) for l in range(cfg.n_layers)]
        got["inputs"] = []
        for b in (cfg.samples - 1, 0):
            await bus.write(Reg.SAMPLE, b)
            got["inputs"].append([(await bus.read(Reg.INPUT + 4 * i))[0] for i in range(cfg.sizes[0])])
        got["tile"] = (await bus.read(Reg.CFG_TILE))[0]
        got["lanes"] = (await bus.read(Reg.CFG_LANES))[0]

    run(dut, tb)
    assert got["read"] == [v for _, v in writes]
    for l in range(cfg.n_layers):
        assert_array_equal(got["weights"][l], params.weights[l], err_msg=f"weights of layer {l}")
    assert got["inputs"] == [x[cfg.samples - 1].tolist(), x[0].tolist()]
    assert unpack("CFG_TILE", got["tile"]) == {"pe": cfg.pe, "simd": cfg.simd, "slots": cfg.slots or cfg.samples,
                                               "tiled": 1}
    assert got["tile"] == config_registers(cfg)["CFG_TILE"]
    assert got["lanes"] == cfg.pe * cfg.simd


def test_infer_of_several_samples_through_the_bus():
    """INFER of three samples on two slots: RESULTS, each sample's STATE windows, CYCLES (`command_cycles` of the
    samples' own steps), STEPS and PHASE_STEPS (the largest), STATUS; RESET then zeroes the states; RELAX is refused
    (BAD_MODE) and changes nothing."""
    cfg = INFER
    params, _, _ = make_case(cfg, seed=5)
    x = np.random.default_rng(5).integers(0, cfg.state_max + 1, (3, cfg.sizes[0]))
    expect = ref_infer(cfg, params, x)
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        await _load(bus, cfg, params, x)
        await bus.run_command(Mode.INFER)
        for name in ("CYCLES", "STEPS", "RESULT", "STATUS"):
            got[name] = (await bus.read(Reg[name]))[0]
        got["PHASE_STEPS"] = [(await bus.read(Reg.PHASE_STEPS + 4 * i))[0] for i in range(3)]
        got["RESULTS"] = [(await bus.read(Reg.RESULTS + 4 * b))[0] for b in range(3)]
        got["states"] = []
        for b in range(3):
            await bus.write(Reg.SAMPLE, b)
            got["states"].append([[(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0]
                                   for i in range(cfg.sizes[k])] for k in range(cfg.n_layers + 1)])
        got["relax"] = await bus.write(Reg.CONTROL, Control.START | Mode.RELAX << 4)
        got["relax error"] = (await bus.read(Reg.ERROR))[0]
        got["relax status"] = (await bus.read(Reg.STATUS))[0]
        await bus.write(Reg.CONTROL, Control.RESET)
        got["after reset"] = [(await bus.read(Reg.STATE + WINDOW_SIZE + 4 * i))[0] for i in range(cfg.sizes[1])]
        got["input after reset"] = [(await bus.read(Reg.STATE + 4 * i))[0] for i in range(cfg.sizes[0])]
        got["cycles after reset"] = (await bus.read(Reg.CYCLES))[0]

    run(dut, tb)
    assert got["RESULTS"] == [s["result"] for s in expect["samples"]]
    assert got["RESULT"] == expect["result"]
    assert got["states"] == [[xb.tolist()] + [s.tolist() for s in smp["states"]]
                             for xb, smp in zip(x, expect["samples"], strict=True)]
    assert (got["CYCLES"], got["STEPS"], got["PHASE_STEPS"]) == (expect["cycles"], expect["steps"],
                                                                 expect["phase_steps"])
    assert got["STATUS"] == Status.DONE | (Status.UNSETTLED if expect["unsettled"] else 0)
    assert (got["relax"], got["relax error"]) == (SLVERR, ErrorCode.BAD_MODE)
    assert got["relax status"] & Status.DONE
    assert got["after reset"] == [0] * cfg.sizes[1]
    assert got["input after reset"] == x[2].tolist()      # SAMPLE is still 2
    assert got["cycles after reset"] == 0


@pytest.mark.parametrize("estimator", ["symmetric", "one-sided"])
def test_train_through_the_bus_matches_golden(estimator):
    """TRAIN through the bus: the shadows, weights and biases read back equal `golden` (`ref_train`), the STATE
    windows show the free phase, CYCLES is `train_cycles`, PHASE_STEPS each phase's steps; then an INFER."""
    cfg = LEARN.replace(estimator=estimator)
    params, x, target = make_case(cfg, seed=7)
    expect = ref_train(cfg, params, x, target)
    after = ref_infer(cfg, expect["params"], x)
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        await _load(bus, cfg, params, x)
        for i, v in enumerate(target[0]):
            await bus.write(Reg.TARGET + 4 * i, int(v))
        await bus.run_command(Mode.TRAIN)
        for name in ("CYCLES", "STEPS", "RESULT", "STATUS"):
            got[name] = (await bus.read(Reg[name]))[0]
        got["PHASE_STEPS"] = [(await bus.read(Reg.PHASE_STEPS + 4 * i))[0] for i in range(3)]
        got["states"] = [[(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0] for i in range(cfg.sizes[k])]
                         for k in range(1, cfg.n_layers + 1)]
        got["shadow"] = [await _matrix(bus, cfg, shadow_base(cfg, l), l) for l in range(cfg.n_layers)]
        got["weights"] = [await _matrix(bus, cfg, weight_base(cfg, l), l) for l in range(cfg.n_layers)]
        got["biases"] = [[(await bus.read(Reg.BIAS + l * WINDOW_SIZE + 4 * i))[0] for i in range(cfg.sizes[l + 1])]
                         for l in range(cfg.n_layers)]
        await bus.run_command(Mode.INFER)
        got["infer"] = [(await bus.read(Reg[name]))[0] for name in ("CYCLES", "STEPS", "RESULT")]

    run(dut, tb)
    new = expect["params"]
    for l in range(cfg.n_layers):
        assert_array_equal(got["shadow"][l], new.shadow[l], err_msg=f"shadow of layer {l}")
        assert_array_equal(got["weights"][l], new.weights[l], err_msg=f"weights of layer {l}")
        assert got["biases"][l] == new.biases[l].tolist(), f"biases of layer {l}"
    assert got["states"] == [s.tolist() for s in expect["states"]]
    assert (got["CYCLES"], got["STEPS"], got["PHASE_STEPS"], got["RESULT"]) == (
        expect["cycles"], expect["steps"], expect["phase_steps"], expect["result"])
    assert got["STATUS"] == Status.DONE | (Status.UNSETTLED if expect["unsettled"] else 0)
    assert got["infer"] == [after["cycles"], after["steps"], after["result"]]


def test_access_latency_is_as_documented():
    """docs/register-map.md's timing of the tiled core's windows, from the accepted address to RVALID or BVALID:
    14 + r + max(r // N_{l+1}, c // N_l) for a matrix element read (the blocks of layer 0: PE = 3 rows, SIMD = 4
    columns; of layer 1, transposed, SIMD = 4 and PE = 3), 14 + i // N_k for a vector's, a write one more, a shadow
    write seven more; a sequential access 2 + r fewer."""
    from tests.rtl.test_axil import _latency_probe

    cfg, n0 = LEARN, LEARN.sizes[0]
    dut = AxiLiteAccelerator(cfg=cfg)
    got, want = {}, {}

    async def tb(ctx):
        latency = _latency_probe(ctx, dut)
        for l, (rb, cb) in enumerate(((3, 4), (4, 3))):
            for r, c in ((0, 0), (0, 4), (2, 11), (3, 0), (8, 8), (4, 7)):
                if c >= cfg.sizes[l] or r >= cfg.sizes[l + 1]:
                    continue
                i, base = r * cfg.sizes[l] + c, max(r // rb, c // cb)
                for what, addr, write, extra in (("read", weight_base(cfg, l), False, 0),
                                                 ("write", weight_base(cfg, l), True, 1),
                                                 ("shadow write", shadow_base(cfg, l), True, 7)):
                    await latency(Reg.BIAS)                 # another window: the next access is not sequential
                    got[l, r, c, what] = await latency(addr + 4 * i, write, 1)
                    want[l, r, c, what] = 14 + r + base + extra
        for i in (0, 3, 4, 11):
            await latency(Reg.BIAS)
            got["input", i], want["input", i] = await latency(Reg.INPUT + 4 * i), 14 + i // 4
        await latency(weight_base(cfg, 0) + 4 * (2 * n0 + 6))
        got["sequential"] = await latency(weight_base(cfg, 0) + 4 * (2 * n0 + 7))
        want["sequential"] = 14 + 2 + 7 // 4 - (2 + 2)         # [2, 7] after [2, 6]

    run(dut, tb)
    assert got == want
