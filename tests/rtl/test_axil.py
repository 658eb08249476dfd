# amaranth: UnusedElaboratable=no
"""The AXI4-Lite top level: register map read-back from `eqprop.hw.formats`, parameters, input and target
through the windows, a TRAIN command against `golden.train_sample`, and the illegal accesses (start
while busy, unknown mode, out-of-range or read-only address): each sets ERROR and changes no state.
Transfers run with and without idle cycles and back-pressure on the response channels."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    WEIGHT_WINDOW,
    WINDOW_SIZE,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
)
from eqprop.hw.hwconfig import HwConfig
from rtl.axil import SLVERR, AxiLiteAccelerator
from rtl.schedule import cycle_model
from tests.rtl._sim import run
from tests.rtl.test_core import make_case

CFG = HwConfig(sizes=(5, 6, 3), free_steps=3, nudge_steps=2, mac_lanes=2)


class AxiLiteMaster:
    """Drives the s_axil_* ports; `stall` cycles of idle before each transfer and of back-pressure on
    the B and R channels."""

    def __init__(self, ctx, dut, stall=0):
        self.ctx, self.dut, self.stall = ctx, dut, stall

    async def _idle(self):
        if self.stall:
            await self.ctx.tick().repeat(self.stall)

    async def write(self, addr, value):
        ctx, d = self.ctx, self.dut
        await self._idle()
        ctx.set(d.s_axil_awaddr, int(addr))
        ctx.set(d.s_axil_wdata, int(value) & 0xFFFF_FFFF)   # int(): an IntFlag would be cast to its enum's width
        ctx.set(d.s_axil_wstrb, 0xF)
        ctx.set(d.s_axil_awvalid, 1)
        ctx.set(d.s_axil_wvalid, 1)
        while True:   # both are accepted in the same cycle
            ready = ctx.get(d.s_axil_awready)
            await ctx.tick()
            if ready:
                break
        ctx.set(d.s_axil_awvalid, 0)
        ctx.set(d.s_axil_wvalid, 0)
        await self._idle()                       # back-pressure: BREADY low for `stall` cycles
        ctx.set(d.s_axil_bready, 1)
        while True:
            valid, resp = ctx.get(d.s_axil_bvalid), ctx.get(d.s_axil_bresp)
            await ctx.tick()
            if valid:
                break
        ctx.set(d.s_axil_bready, 0)
        return resp

    async def read(self, addr):
        ctx, d = self.ctx, self.dut
        await self._idle()
        ctx.set(d.s_axil_araddr, int(addr))
        ctx.set(d.s_axil_arvalid, 1)
        while True:
            ready = ctx.get(d.s_axil_arready)
            await ctx.tick()
            if ready:
                break
        ctx.set(d.s_axil_arvalid, 0)
        await self._idle()
        ctx.set(d.s_axil_rready, 1)
        while True:
            valid, data, resp = ctx.get(d.s_axil_rvalid), ctx.get(d.s_axil_rdata), ctx.get(d.s_axil_rresp)
            await ctx.tick()
            if valid:
                break
        ctx.set(d.s_axil_rready, 0)
        return data - (1 << 32) if data >> 31 else data, resp

    async def run_command(self, mode):
        await self.write(Reg.CONTROL, Control.START | mode << CONTROL_MODE_SHIFT)
        while True:
            status, _ = await self.read(Reg.STATUS)
            if status & Status.DONE:
                return


def test_register_map_reads_back_config():
    dut = AxiLiteAccelerator(cfg=CFG)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for name, value in config_registers(CFG).items():
            base, _, index = name.partition(".")
            got[name] = (await bus.read(Reg[base] + 4 * int(index or 0)))[0], value

    run(dut, tb)
    for name, (actual, expected) in got.items():
        assert actual == expected, f"register {name}: expected {expected:#x}, actual {actual:#x}"


@pytest.mark.parametrize("lanes", [2, 4])
def test_window_accesses_in_any_order_reach_the_same_memory_and_sequential_ones_skip_the_split(lanes):
    """A weight matrix written in a shuffled order, then in index order, reads back equal both ways (the
    weights derived from the shadows written); a sequential pass (each access the element after the
    previous one, so rows and word boundaries are stepped over) costs the bus cycles only, a shuffled one
    also the row/column split. Interleaving another window breaks the sequence without harm."""
    cfg = HwConfig(sizes=(7, 5, 3), free_steps=3, nudge_steps=2, mac_lanes=lanes)   # 7 % lanes != 0
    dut = AxiLiteAccelerator(cfg=cfg)
    rng = np.random.default_rng(lanes)
    shadow = rng.integers(-cfg.shadow_max, cfg.shadow_max + 1, (5, 7))
    order = rng.permutation(shadow.size)
    got, cycles, ticks = {}, {}, [0]

    async def count_cycles(ctx):
        async for _ in ctx.tick():
            ticks[0] += 1

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        t0 = ticks[0]
        for i in order:
            await bus.write(Reg.SHADOW + 4 * int(i), shadow.flat[i])
        t1 = ticks[0]
        got["shuffled"] = [(await bus.read(Reg.SHADOW + 4 * int(i)))[0] for i in order]
        t2 = ticks[0]
        for i, v in enumerate(shadow.flat):
            await bus.write(Reg.SHADOW + 4 * i, v)
        t3 = ticks[0]
        got["sequential"] = [(await bus.read(Reg.SHADOW + 4 * i))[0] for i in range(shadow.size)]
        t4 = ticks[0]
        got["weights"] = [(await bus.read(Reg.WEIGHT + 4 * i))[0] for i in range(shadow.size)]
        cycles.update({"shuffled write": t1 - t0, "shuffled read": t2 - t1, "sequential write": t3 - t2,
                       "sequential read": t4 - t3})
        # another window in between: the next shadow access is not sequential, and still right
        await bus.read(Reg.BIAS)
        got["after"] = (await bus.read(Reg.SHADOW + 4 * 8))[0]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(count_cycles)
    sim.add_testbench(tb)
    sim.run()
    assert_array_equal(np.array(got["shuffled"])[np.argsort(order)], shadow.flat)
    assert_array_equal(got["sequential"], shadow.flat)
    assert_array_equal(got["weights"], golden.derive_weights(cfg, shadow).flat)
    assert got["after"] == shadow.flat[8]
    per = {k: v / shadow.size for k, v in cycles.items()}
    assert per["sequential write"] <= per["shuffled write"] - 2, per
    assert per["sequential read"] <= per["shuffled read"] - 2, per


@pytest.mark.parametrize("stall", [0, 2], ids=["back-to-back", "stalled"])
def test_train_through_the_bus_matches_golden(stall):
    """Load shadows (weights derive from them), biases, input and target over AXI, TRAIN, read back."""
    cfg = CFG
    params, x, target = make_case(cfg, seed=5)
    ref = golden.train_sample(cfg, params, x, target)
    ref_free = golden.relax(cfg, params, x, steps=cfg.free_steps)
    dut = AxiLiteAccelerator(cfg=cfg)
    read = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut, stall)
        for l in range(cfg.n_layers):
            for (r, c), v in np.ndenumerate(params.shadow[l]):
                assert await bus.write(Reg.SHADOW + l * WEIGHT_WINDOW + 4 * (r * cfg.sizes[l] + c), int(v)) == 0
            for i, v in enumerate(params.biases[l]):
                await bus.write(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v))
        for i, v in enumerate(x[0]):
            await bus.write(Reg.INPUT + 4 * i, int(v))
        for i, v in enumerate(target[0]):
            await bus.write(Reg.TARGET + 4 * i, int(v))
        await bus.run_command(Mode.TRAIN)
        read["cycles"] = (await bus.read(Reg.CYCLES))[0]
        read["steps"] = (await bus.read(Reg.STEPS))[0]
        read["result"] = (await bus.read(Reg.RESULT))[0]
        read["status"] = (await bus.read(Reg.STATUS))[0]
        for what, base in (("shadow", Reg.SHADOW), ("weights", Reg.WEIGHT)):
            read[what] = [np.array([[(await bus.read(base + l * WEIGHT_WINDOW + 4 * (r * cfg.sizes[l] + c)))[0]
                                     for c in range(cfg.sizes[l])] for r in range(cfg.sizes[l + 1])])
                          for l in range(cfg.n_layers)]
        read["biases"] = [np.array([(await bus.read(Reg.BIAS + l * WINDOW_SIZE + 4 * i))[0]
                                    for i in range(cfg.sizes[l + 1])]) for l in range(cfg.n_layers)]
        read["states"] = [np.array([(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0]
                                    for i in range(cfg.sizes[k])]) for k in range(cfg.n_layers + 1)]

    run(dut, tb)
    for what in ("shadow", "weights", "biases"):
        for l in range(cfg.n_layers):
            assert_array_equal(read[what][l], getattr(ref, what)[l], err_msg=f"{what} layer {l}")
    assert_array_equal(read["states"][0], x[0], err_msg="state window 0 (the input)")
    for k in range(1, cfg.n_layers + 1):   # the STATE windows show the free phase after TRAIN
        assert_array_equal(read["states"][k], ref_free[k - 1][0], err_msg=f"state layer {k}")
    assert read["cycles"] == cycle_model(cfg)["train"]
    assert read["steps"] == cfg.free_steps + 2 * cfg.nudge_steps
    assert read["result"] == int(np.argmax(ref_free[-1][0]))
    assert read["status"] == Status.DONE


ILLEGAL = {   # name -> (kind, byte address, value or None for a read, expected ErrorCode)
    "unknown mode": ("write", Reg.CONTROL, Control.START | 3 << CONTROL_MODE_SHIFT, ErrorCode.BAD_MODE),
    "unmapped write": ("write", 0x3FFC, 1, ErrorCode.BAD_ADDRESS),
    "one past the input window": ("write", Reg.INPUT + 4 * CFG.sizes[0], 1, ErrorCode.BAD_ADDRESS),
    "read-only register": ("write", Reg.ID, 0, ErrorCode.BAD_ADDRESS),
    "read-only state window": ("write", Reg.STATE + WINDOW_SIZE, 5, ErrorCode.BAD_ADDRESS),
    "one past the weight window": ("read", Reg.WEIGHT + 4 * CFG.sizes[0] * CFG.sizes[1], None, ErrorCode.BAD_ADDRESS),
}


def test_illegal_accesses_set_error_and_change_nothing():
    """Each illegal access answers SLVERR and sets ERROR; then a TRAIN with a START in its middle still
    gives the golden parameters and cycle count, and RESET clears the error and the states."""
    cfg = CFG
    params, x, target = make_case(cfg, seed=6)
    ref = golden.train_sample(cfg, params, x, target)
    dut = AxiLiteAccelerator(cfg=cfg, params=params)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)

        async def error_state():
            return (await bus.read(Reg.ERROR))[0], bool((await bus.read(Reg.STATUS))[0] & Status.ERROR)

        for i, v in enumerate(x[0]):
            await bus.write(Reg.INPUT + 4 * i, int(v))
        for i, v in enumerate(target[0]):
            await bus.write(Reg.TARGET + 4 * i, int(v))
        for name, (kind, addr, value, _) in ILLEGAL.items():
            resp = await bus.write(addr, value) if kind == "write" else (await bus.read(addr))[1]
            got[name] = (resp, *await error_state())
        got["busy after the unknown mode"] = (await bus.read(Reg.STATUS))[0] & Status.BUSY
        await bus.write(Reg.CONTROL, Control.START | Mode.TRAIN << CONTROL_MODE_SHIFT)
        await ctx.tick().repeat(50)
        resp = await bus.write(Reg.CONTROL, Control.START | Mode.INFER << CONTROL_MODE_SHIFT)
        got["start while busy"] = (resp, *await error_state())
        while not (await bus.read(Reg.STATUS))[0] & Status.DONE:
            pass
        got["cycles"] = (await bus.read(Reg.CYCLES))[0]
        await bus.write(Reg.CONTROL, Control.RESET)
        got["after reset"] = await error_state()
        got["state after reset"] = (await bus.read(Reg.STATE + WINDOW_SIZE))[0]
        got["weights"] = [[(await bus.read(Reg.WEIGHT + l * WEIGHT_WINDOW + 4 * i))[0]
                           for i in range(cfg.sizes[l] * cfg.sizes[l + 1])] for l in range(cfg.n_layers)]
        got["input"] = [(await bus.read(Reg.INPUT + 4 * i))[0] for i in range(cfg.sizes[0])]

    run(dut, tb)
    for name, (*_, code) in ILLEGAL.items():
        assert got[name] == (SLVERR, code, True), f"{name}: (resp, ERROR, STATUS.ERROR) = {got[name]}"
    assert got["busy after the unknown mode"] == 0
    assert got["start while busy"] == (SLVERR, ErrorCode.START_WHILE_BUSY, True)
    assert got["cycles"] == cycle_model(cfg)["train"], "the refused START changed the running command"
    assert got["weights"] == [ref.weights[l].ravel().tolist() for l in range(cfg.n_layers)]
    assert got["input"] == x[0].tolist()
    assert got["after reset"] == (ErrorCode.NONE, False)
    assert got["state after reset"] == 0


def test_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not 'x'$"):
        AxiLiteAccelerator(cfg="x")
    with pytest.raises(ValueError, match=r"^the number of weight layers must be at most 8, not 9$"):
        AxiLiteAccelerator(cfg=HwConfig(sizes=(2,) * 10, mac_lanes=1))
