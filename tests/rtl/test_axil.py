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
    REGISTERS,
    WEIGHT_WINDOW,
    WINDOW_SIZE,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
    lr_shift_range,
    register_counts,
    unpack,
    windows,
)
from eqprop.hw.hwconfig import HwConfig
from rtl.axil import SLVERR, AxiLiteAccelerator
from rtl.command import ref_infer, ref_train
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

    async def write(self, addr, value, strb=0xF):
        ctx, d = self.ctx, self.dut
        await self._idle()
        ctx.set(d.s_axil_awaddr, int(addr))
        ctx.set(d.s_axil_wdata, int(value) & 0xFFFF_FFFF)   # int(): an IntFlag would be cast to its enum's width
        ctx.set(d.s_axil_wstrb, strb)
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
    expect = ref_train(cfg, params, x, target)
    ref = expect["params"]
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
        read["phase_steps"] = [(await bus.read(Reg.PHASE_STEPS + 4 * i))[0] for i in range(3)]
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
        assert_array_equal(read["states"][k], expect["states"][k - 1], err_msg=f"state layer {k}")
    for name in ("cycles", "steps", "result", "phase_steps"):
        assert read[name] == expect[name], name
    assert read["status"] == Status.DONE | (Status.UNSETTLED if expect["unsettled"] else 0)


ILLEGAL = {   # name -> (kind, byte address, value or None for a read, expected ErrorCode)
    "unknown mode": ("write", Reg.CONTROL, Control.START | 3 << CONTROL_MODE_SHIFT, ErrorCode.BAD_MODE),
    "unmapped write": ("write", 0x3FFC, 1, ErrorCode.BAD_ADDRESS),
    "one past the input window": ("write", Reg.INPUT + 4 * CFG.sizes[0], 1, ErrorCode.BAD_ADDRESS),
    "read-only register": ("write", Reg.ID, 0, ErrorCode.BAD_ADDRESS),
    "read-only state window": ("write", Reg.STATE + WINDOW_SIZE, 5, ErrorCode.BAD_ADDRESS),
    "one past the weight window": ("read", Reg.WEIGHT + 4 * CFG.sizes[0] * CFG.sizes[1], None, ErrorCode.BAD_ADDRESS),
    "unaligned window write": ("write", Reg.INPUT + 1, 7, ErrorCode.BAD_ADDRESS),
    "unaligned window read": ("read", Reg.INPUT + 6, None, ErrorCode.BAD_ADDRESS),
    "unaligned register read": ("read", Reg.ID + 2, None, ErrorCode.BAD_ADDRESS),
    "unaligned register write": ("write", Reg.LR_SHIFT + 1, 3, ErrorCode.BAD_ADDRESS),
    "partial write strobe": ("write-low-half", Reg.INPUT, 7, ErrorCode.BAD_STROBE),
    "input above its range": ("write", Reg.INPUT, CFG.state_max + 1, ErrorCode.BAD_VALUE),
    "negative input": ("write", Reg.INPUT + 4, -1, ErrorCode.BAD_VALUE),
    "target above its range": ("write", Reg.TARGET, CFG.state_max + 1, ErrorCode.BAD_VALUE),
    "weight -128 (INT8 is symmetric)": ("write", Reg.WEIGHT, -CFG.weight_max - 1, ErrorCode.BAD_VALUE),
    "weight above its range": ("write", Reg.WEIGHT + WEIGHT_WINDOW, CFG.weight_max + 1, ErrorCode.BAD_VALUE),
    "shadow below its range": ("write", Reg.SHADOW + 4, -CFG.shadow_max - 1, ErrorCode.BAD_VALUE),
    "bias above its range": ("write", Reg.BIAS, CFG.bias_max + 1, ErrorCode.BAD_VALUE),
    "LR_SHIFT 31": ("write", Reg.LR_SHIFT, 31, ErrorCode.BAD_VALUE),
    "LR_SHIFT 32 (once kept its low bits: 0)": ("write", Reg.LR_SHIFT + 4, 32, ErrorCode.BAD_VALUE),
    "CONTROL reserved bit": ("write", Reg.CONTROL, 1 << 8, ErrorCode.BAD_VALUE),
    "CONTROL START and RESET": ("write", Reg.CONTROL, Control.START | Control.RESET, ErrorCode.BAD_VALUE),
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
            if kind == "read":
                resp = (await bus.read(addr))[1]
            else:
                resp = await bus.write(addr, value, strb=0xF if kind == "write" else 0x3)
            got[name] = (resp, *await error_state())
        got["busy after the unknown mode"] = (await bus.read(Reg.STATUS))[0] & Status.BUSY
        await bus.write(Reg.CONTROL, Control.START | Mode.TRAIN << CONTROL_MODE_SHIFT)
        await ctx.tick().repeat(50)
        resp = await bus.write(Reg.CONTROL, Control.START | Mode.INFER << CONTROL_MODE_SHIFT)
        got["start while busy"] = (resp, *await error_state())
        resp = await bus.write(Reg.CONTROL, Control.START | 3 << CONTROL_MODE_SHIFT)
        got["bad mode while busy"] = (resp, *await error_state())
        while not (await bus.read(Reg.STATUS))[0] & Status.DONE:
            pass
        got["cycles"] = (await bus.read(Reg.CYCLES))[0]
        await bus.write(Reg.CONTROL, Control.RESET)
        got["after reset"] = await error_state()
        got["state after reset"] = (await bus.read(Reg.STATE + WINDOW_SIZE))[0]
        for what, base in (("weights", Reg.WEIGHT), ("shadow", Reg.SHADOW)):
            got[what] = [[(await bus.read(base + l * WEIGHT_WINDOW + 4 * i))[0]
                          for i in range(cfg.sizes[l] * cfg.sizes[l + 1])] for l in range(cfg.n_layers)]
        got["biases"] = [[(await bus.read(Reg.BIAS + l * WINDOW_SIZE + 4 * i))[0] for i in range(cfg.sizes[l + 1])]
                         for l in range(cfg.n_layers)]
        got["input"] = [(await bus.read(Reg.INPUT + 4 * i))[0] for i in range(cfg.sizes[0])]
        got["target"] = [(await bus.read(Reg.TARGET + 4 * i))[0] for i in range(cfg.sizes[-1])]
        got["lr"] = [(await bus.read(Reg.LR_SHIFT + 4 * l))[0] for l in range(cfg.n_layers)]

    run(dut, tb)
    for name, (*_, code) in ILLEGAL.items():
        assert got[name] == (SLVERR, code, True), f"{name}: (resp, ERROR, STATUS.ERROR) = {got[name]}"
    assert got["busy after the unknown mode"] == 0
    assert got["start while busy"] == (SLVERR, ErrorCode.START_WHILE_BUSY, True)
    assert got["bad mode while busy"] == (SLVERR, ErrorCode.START_WHILE_BUSY, True), "busy is checked first"
    assert got["cycles"] == cycle_model(cfg)["train"], "the refused START changed the running command"
    for what in ("weights", "shadow", "biases"):   # the refused writes wrote nothing; TRAIN ran as golden says
        assert got[what] == [getattr(ref, what)[l].ravel().tolist() for l in range(cfg.n_layers)], what
    assert got["input"] == x[0].tolist(), "a refused write changed the input"
    assert got["target"] == target[0].tolist(), "a refused write changed the target"
    assert got["lr"] == list(cfg.lr_shifts), "a refused write changed LR_SHIFT"
    assert got["after reset"] == (ErrorCode.NONE, False)
    assert got["state after reset"] == 0


TERNARY = HwConfig(sizes=(5, 6, 3), weight_format="ternary", weight_bits=2, free_steps=2, nudge_steps=1,
                   mac_lanes=2)


@pytest.mark.parametrize("cfg", [CFG, TERNARY], ids=["int8", "ternary"])
def test_a_write_is_accepted_exactly_when_its_code_is_in_range(cfg):
    """Every writable window and LR_SHIFT, at the edges of `formats.windows` / `lr_shift_range`, one past
    them and at random 32-bit words: OKAY and stored (the read-back sign- or zero-extends it) exactly when
    the code is in range, else SLVERR with BAD_VALUE and the element keeps its value. The golden model
    is defined on exactly the accepted codes."""
    dut = AxiLiteAccelerator(cfg=cfg)
    rng = np.random.default_rng(11)
    targets = [(f"{w.name}[{i}]", w.base + 4 * i, w.lo, w.hi) for w in windows(cfg) if w.writable
               for i in (0, w.count - 1)]
    targets += [(f"LR_SHIFT.{l}", Reg.LR_SHIFT + 4 * l, *lr_shift_range(cfg, l)) for l in range(cfg.n_layers)]
    failures = []

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for name, addr, lo, hi in targets:
            values = [lo, hi, lo - 1, hi + 1, -(1 << 31), (1 << 31) - 1, *rng.integers(-(1 << 31), 1 << 31, 4)]
            values += list(rng.integers(lo, hi + 1, 4))
            held = (await bus.read(addr))[0]
            for v in map(int, values):
                resp = await bus.write(addr, v)
                back = (await bus.read(addr))[0]
                ok = lo <= v <= hi
                expected = (0, v) if ok else (SLVERR, held)
                if (resp, back) != expected:
                    failures.append(f"{name} <- {v}: (resp, read-back) = {(resp, back)}, expected {expected}")
                if ok:
                    held = v
                else:
                    code = (await bus.read(Reg.ERROR))[0]
                    if code != ErrorCode.BAD_VALUE:
                        failures.append(f"{name} <- {v}: ERROR {code}, expected BAD_VALUE")

    run(dut, tb)
    assert not failures, "\n".join(failures[:20])


def test_the_bus_answers_exactly_the_documented_registers():
    """Every word offset below the first window, read and written: the registers of `formats.REGISTERS`
    (with L + 1 LAYER_SIZE, L LR_SHIFT, L LAYER_FRAC and 3 PHASE_STEPS entries) answer OKAY as their access
    allows, every other offset SLVERR, so a register added to the RTL and not to the map (and its document)
    fails here."""
    cfg = CFG
    L = cfg.n_layers
    counts = register_counts(cfg)
    assert counts == {"LAYER_SIZE": L + 1, "LR_SHIFT": L, "LAYER_FRAC": L, "PHASE_STEPS": 3, "RESULTS": cfg.samples}
    expected = {}
    for r in REGISTERS:
        if r.offset < Reg.INPUT:
            for i in range(counts.get(r.name, 1)):
                expected[r.offset + 4 * i] = (r.access in ("ro", "rw"), r.access in ("wo", "rw"))
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for offset in range(0, Reg.INPUT, 4):
            readable = (await bus.read(offset))[1] == 0
            if offset == Reg.CONTROL:
                value = 0                                     # neither START nor RESET: no side effect
            elif Reg.LR_SHIFT <= offset < Reg.LR_SHIFT + 4 * L:
                value = (await bus.read(offset))[0]           # write back what it holds
            else:
                value = 0
            got[offset] = (readable, await bus.write(offset, value) == 0)

    run(dut, tb)
    documented = {o: expected.get(o, (False, False)) for o in got}
    wrong = {hex(o): (got[o], documented[o]) for o in got if got[o] != documented[o]}
    assert not wrong, f"offset: (readable, writable) on the bus vs documented: {wrong}"


def test_register_semantics_match_the_register_map():
    """What docs/register-map.md says beyond the tables: CONTROL reads back the last started mode (START
    and RESET read 0); a successful START clears ERROR; RELAX sets RESULT from the states it ends with;
    STEPS after TRAIN counts every phase's steps (T + 2K symmetric, T + K one-sided); RESET clears DONE,
    ERROR, CYCLES, STEPS and the states of layers 1 .. L and keeps the input, the target, RESULT, the
    parameters and LR_SHIFT."""
    for cfg in (CFG, CFG.replace(estimator="one-sided", weight_frac=CFG.weight_frac, lr_shifts=CFG.lr_shifts)):
        params, x, target = make_case(cfg, seed=8)
        ref_free = golden.relax(cfg, params, x, steps=cfg.free_steps)
        ref_relax = golden.relax(cfg, params, x, ref_free, steps=cfg.free_steps)
        dut = AxiLiteAccelerator(cfg=cfg, params=params)
        got = {}

        async def tb(ctx, cfg=cfg, params=params, x=x, target=target, dut=dut, got=got):
            bus = AxiLiteMaster(ctx, dut)
            for i, v in enumerate(x[0]):
                await bus.write(Reg.INPUT + 4 * i, int(v))
            for i, v in enumerate(target[0]):
                await bus.write(Reg.TARGET + 4 * i, int(v))
            await bus.write(Reg.LR_SHIFT, 9)
            await bus.write(Reg.ID, 0)                                 # an error before the command
            got["error before"] = (await bus.read(Reg.ERROR))[0]
            await bus.run_command(Mode.TRAIN)
            got["error after START"] = (await bus.read(Reg.ERROR))[0]
            got["control after TRAIN"] = (await bus.read(Reg.CONTROL))[0]
            got["steps after TRAIN"] = (await bus.read(Reg.STEPS))[0]
            await bus.write(Reg.LR_SHIFT, cfg.lr_shifts[0])
            # undo the TRAIN's update, INFER, then RELAX from its states: RESULT follows the relaxed states
            for l in range(cfg.n_layers):
                for i, v in enumerate(params.shadow[l].ravel()):
                    await bus.write(Reg.SHADOW + l * WEIGHT_WINDOW + 4 * i, int(v))
                for i, v in enumerate(params.biases[l]):
                    await bus.write(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v))
            await bus.run_command(Mode.INFER)
            await bus.run_command(Mode.RELAX)
            got["control after RELAX"] = (await bus.read(Reg.CONTROL))[0]
            got["result after RELAX"] = (await bus.read(Reg.RESULT))[0]
            got["relaxed"] = [(await bus.read(Reg.STATE + cfg.n_layers * WINDOW_SIZE + 4 * i))[0]
                              for i in range(cfg.sizes[-1])]
            await bus.write(Reg.ID, 0)
            await bus.write(Reg.CONTROL, Control.RESET)
            got["after RESET"] = {name: (await bus.read(Reg[name]))[0]
                                  for name in ("STATUS", "ERROR", "CYCLES", "STEPS", "RESULT", "CONTROL")}
            got["states after RESET"] = [(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0]
                                         for k in range(cfg.n_layers + 1) for i in range(cfg.sizes[k])]
            got["target after RESET"] = [(await bus.read(Reg.TARGET + 4 * i))[0] for i in range(cfg.sizes[-1])]
            got["LR_SHIFT after RESET"] = (await bus.read(Reg.LR_SHIFT))[0]

        run(dut, tb)
        nudged = 2 if cfg.estimator == "symmetric" else 1
        relaxed = ref_relax[-1][0]
        assert got["error before"] == ErrorCode.BAD_ADDRESS
        assert got["error after START"] == ErrorCode.NONE
        assert got["control after TRAIN"] == Mode.TRAIN << CONTROL_MODE_SHIFT
        assert got["steps after TRAIN"] == cfg.free_steps + nudged * cfg.nudge_steps
        assert got["control after RELAX"] == Mode.RELAX << CONTROL_MODE_SHIFT
        assert got["relaxed"] == relaxed.tolist()
        assert got["result after RELAX"] == int(np.argmax(relaxed))
        assert got["after RESET"] == {"STATUS": 0, "ERROR": 0, "CYCLES": 0, "STEPS": 0,
                                      "RESULT": int(np.argmax(relaxed)), "CONTROL": Mode.RELAX << CONTROL_MODE_SHIFT}
        assert got["states after RESET"] == x[0].tolist() + [0] * sum(cfg.sizes[1:])
        assert got["target after RESET"] == target[0].tolist()
        assert got["LR_SHIFT after RESET"] == cfg.lr_shifts[0]


def test_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not 'x'$"):
        AxiLiteAccelerator(cfg="x")
    with pytest.raises(ValueError, match=r"^the number of weight layers must be at most 8, not 9$"):
        AxiLiteAccelerator(cfg=HwConfig(sizes=(2,) * 10, mac_lanes=1))


def test_access_latency_is_as_documented():
    """docs/register-map.md's timing, counted from the cycle the address is accepted to the cycle RVALID
    rises: a register 3 cycles; a window element 11 + r + floor(c / P) (row r, column c; a vector element
    is row 0), except a sequential access (the next element of the previous window access's window),
    which takes 9."""
    cfg = CFG
    p, n0 = cfg.mac_lanes, cfg.sizes[0]
    dut = AxiLiteAccelerator(cfg=cfg)
    got, want = {}, {}

    async def tb(ctx):
        async def latency(addr):
            ctx.set(dut.s_axil_araddr, int(addr))
            ctx.set(dut.s_axil_arvalid, 1)
            ctx.set(dut.s_axil_rready, 1)
            cycles = 0
            while not ctx.get(dut.s_axil_rvalid):
                taken = ctx.get(dut.s_axil_arready)
                await ctx.tick()
                cycles += 1
                if taken:
                    ctx.set(dut.s_axil_arvalid, 0)
            await ctx.tick()
            ctx.set(dut.s_axil_rready, 0)
            return cycles

        got["register"], want["register"] = await latency(Reg.VERSION), 3
        for i in range(n0):
            await latency(Reg.BIAS)                      # another window: the next access is not sequential
            got[f"input {i}"], want[f"input {i}"] = await latency(Reg.INPUT + 4 * i), 11 + i // p
        for r in range(cfg.sizes[1]):
            for c in range(n0):
                await latency(Reg.BIAS)
                got[f"weight [{r}, {c}]"] = await latency(Reg.WEIGHT + 4 * (r * n0 + c))
                want[f"weight [{r}, {c}]"] = 11 + r + c // p
        await latency(Reg.WEIGHT)
        for i in range(1, cfg.sizes[0] * cfg.sizes[1]):  # a bulk read in index order
            got[f"weight {i} after {i - 1}"], want[f"weight {i} after {i - 1}"] = await latency(Reg.WEIGHT + 4 * i), 9

    run(dut, tb)
    assert got == want


def test_inference_only_core_through_the_bus():
    """learning=False: weights and biases written directly, INFER as the golden model says (states, RESULT,
    CYCLES, STEPS); TRAIN refused with BAD_MODE, the SHADOW and TARGET windows unmapped (BAD_ADDRESS), and
    CFG_FEATURES.learning reads 0."""
    cfg = CFG.replace(learning=False, free_steps=30)
    params, x, _ = make_case(cfg, seed=5)
    expect = ref_infer(cfg, params, x)
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for l in range(cfg.n_layers):
            for i, v in enumerate(params.weights[l].flat):
                assert await bus.write(Reg.WEIGHT + l * WEIGHT_WINDOW + 4 * i, int(v)) == 0
            for i, v in enumerate(params.biases[l]):
                assert await bus.write(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v)) == 0
        for i, v in enumerate(x[0]):
            await bus.write(Reg.INPUT + 4 * i, int(v))
        got["features"] = unpack("CFG_FEATURES", (await bus.read(Reg.CFG_FEATURES))[0])
        got["train"] = await bus.write(Reg.CONTROL, Control.START | Mode.TRAIN << CONTROL_MODE_SHIFT)
        got["train error"] = (await bus.read(Reg.ERROR))[0]
        got["target"] = (await bus.read(Reg.TARGET))[1]
        got["shadow"] = await bus.write(Reg.SHADOW, 0)
        got["shadow error"] = (await bus.read(Reg.ERROR))[0]
        await bus.run_command(Mode.INFER)
        for name, reg in (("cycles", Reg.CYCLES), ("steps", Reg.STEPS), ("result", Reg.RESULT)):
            got[name] = (await bus.read(reg))[0]
        got["states"] = [[(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0] for i in range(cfg.sizes[k])]
                         for k in range(1, cfg.n_layers + 1)]

    run(dut, tb)
    assert got["features"] == {"early_exit": 1, "cache_drive": 1, "learning": 0, "zero_skip": 0, "samples": 1}
    assert (got["train"], got["train error"]) == (SLVERR, ErrorCode.BAD_MODE)
    assert (got["shadow"], got["shadow error"]) == (SLVERR, ErrorCode.BAD_ADDRESS)   # the same 23-bit region
    assert got["target"] == SLVERR
    for name in ("cycles", "steps", "result"):
        assert got[name] == expect[name], name
    assert got["states"] == [s.tolist() for s in expect["states"]]


def test_samples_through_the_bus():
    """B = 3 samples per command: SAMPLE picks the sample INPUT writes and STATE reads; one INFER relaxes all
    three; RESULTS + 4 b holds sample b's result (RESULTS + 0 reads as RESULT), the STATE windows each
    sample's states, CYCLES and STEPS the group's; SAMPLE = B is refused (BAD_VALUE) and keeps its value
    across RESET; RESULTS + 4 B is unmapped; CFG_FEATURES.samples reads 3."""
    cfg = CFG.replace(learning=False, free_steps=30, samples=3)
    params, _, _ = make_case(cfg, seed=5)
    x = np.random.default_rng(2).integers(0, cfg.state_max + 1, (3, cfg.sizes[0]))
    expect = ref_infer(cfg, params, x)
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        for l in range(cfg.n_layers):
            for i, v in enumerate(params.weights[l].flat):
                await bus.write(Reg.WEIGHT + l * WEIGHT_WINDOW + 4 * i, int(v))
            for i, v in enumerate(params.biases[l]):
                await bus.write(Reg.BIAS + l * WINDOW_SIZE + 4 * i, int(v))
        for b in (2, 0, 1):          # any order
            assert await bus.write(Reg.SAMPLE, b) == 0
            for i, v in enumerate(x[b]):
                await bus.write(Reg.INPUT + 4 * i, int(v))
        got["inputs"] = []
        for b in range(3):
            await bus.write(Reg.SAMPLE, b)
            got["inputs"].append([(await bus.read(Reg.INPUT + 4 * i))[0] for i in range(cfg.sizes[0])])
        got["features"] = unpack("CFG_FEATURES", (await bus.read(Reg.CFG_FEATURES))[0])
        await bus.run_command(Mode.INFER)
        for name, reg in (("cycles", Reg.CYCLES), ("steps", Reg.STEPS), ("result", Reg.RESULT)):
            got[name] = (await bus.read(reg))[0]
        got["results"] = [(await bus.read(Reg.RESULTS + 4 * b))[0] for b in range(3)]
        got["states"] = []
        for b in range(3):
            await bus.write(Reg.SAMPLE, b)
            got["states"].append([[(await bus.read(Reg.STATE + k * WINDOW_SIZE + 4 * i))[0]
                                   for i in range(cfg.sizes[k])] for k in range(1, cfg.n_layers + 1)])
        got["sample 3"] = await bus.write(Reg.SAMPLE, 3)
        got["sample 3 error"] = (await bus.read(Reg.ERROR))[0]
        got["results 3"] = (await bus.read(Reg.RESULTS + 12))[1]
        await bus.write(Reg.CONTROL, Control.RESET)
        got["sample after reset"] = (await bus.read(Reg.SAMPLE))[0]

    run(dut, tb)
    assert got["inputs"] == x.tolist()
    assert got["features"] == {"early_exit": 1, "cache_drive": 1, "learning": 0, "zero_skip": 0, "samples": 3}
    for name in ("cycles", "steps", "result"):
        assert got[name] == expect[name], name
    assert got["results"] == [s["result"] for s in expect["samples"]]
    assert got["states"] == [[s.tolist() for s in smp["states"]] for smp in expect["samples"]]
    assert (got["sample 3"], got["sample 3 error"]) == (SLVERR, ErrorCode.BAD_VALUE)
    assert got["results 3"] == SLVERR
    assert got["sample after reset"] == 2


def _latency_probe(ctx, dut):
    """An ``async (addr, write=False, value=0) -> cycles`` measuring one access from the cycle its address is
    accepted to the cycle RVALID or BVALID rises (docs/register-map.md's Timing)."""
    async def latency(addr, write=False, value=0):
        a, valid, ready = ((dut.s_axil_awaddr, (dut.s_axil_awvalid, dut.s_axil_wvalid), dut.s_axil_awready) if write
                           else (dut.s_axil_araddr, (dut.s_axil_arvalid,), dut.s_axil_arready))
        done, take = (dut.s_axil_bvalid, dut.s_axil_bready) if write else (dut.s_axil_rvalid, dut.s_axil_rready)
        ctx.set(a, int(addr))
        ctx.set(dut.s_axil_wdata, int(value) & 0xFFFF_FFFF)
        ctx.set(dut.s_axil_wstrb, 0xF)
        for v in valid:
            ctx.set(v, 1)
        ctx.set(take, 1)
        cycles = 0
        while not ctx.get(done):
            taken = ctx.get(ready)
            await ctx.tick()
            cycles += 1
            if taken:
                for v in valid:
                    ctx.set(v, 0)
        await ctx.tick()
        ctx.set(take, 0)
        return cycles
    return latency


def test_access_latency_around_sequential_accesses_is_as_documented():
    """docs/register-map.md's Timing, the cases between the plain ones: registers, refused accesses, RESET
    and a command between two neighbouring window accesses keep the second sequential (9); a read followed
    by a write of the next element is sequential; the same element twice is not; nor is an element of
    another window (the next layer's bias window, STATE.0 after INPUT); a refused access takes 3 cycles,
    a window element's too."""
    cfg = CFG
    p, n0 = cfg.mac_lanes, cfg.sizes[0]
    dut = AxiLiteAccelerator(cfg=cfg)
    got, want = {}, {}

    def weight(i):
        return Reg.WEIGHT + 4 * i

    def full(i, cols):
        return 11 + i // cols + (i % cols) // p

    async def tb(ctx):
        latency = _latency_probe(ctx, dut)
        bus = AxiLiteMaster(ctx, dut)

        async def case(name, addr, expect, write=False, value=0):
            got[name], want[name] = await latency(addr, write, value), expect

        await case("weight 0", weight(0), full(0, n0))
        await case("a register between", Reg.VERSION, 3)
        await case("weight 1 after a register", weight(1), 9)
        await case("weight 2, a read", weight(2), 9)
        await case("weight 3 written after reading 2", weight(3), 9, write=True, value=1)
        await case("weight 4 written after writing 3", weight(4), 9, write=True, value=-1)
        await case("weight 5 read after writing 4 (next row)", weight(5), 9)
        await case("weight 5 again", weight(5), full(5, n0))
        await case("weight 6 after 5 twice", weight(6), 9)
        await case("refused: a read-only register written", Reg.ID, 3, write=True)
        await case("refused: a weight out of range", weight(7), 3, write=True, value=1 << 20)
        await case("refused: past the INPUT window", Reg.INPUT + 4 * n0, 3)
        await case("refused: unaligned", weight(7) + 2, 3)
        await case("weight 7 after refused accesses", weight(7), 9)
        await case("RESET", Reg.CONTROL, 3, write=True, value=Control.RESET)
        await case("weight 8 after RESET", weight(8), 9)
        await bus.run_command(Mode.INFER)
        await case("weight 9 after a command", weight(9), 9)
        await case("input 1", Reg.INPUT + 4, full(1, n0))
        await case("state.0 element 2 after input 1", Reg.STATE + 8, full(2, n0))
        await case("bias.0 last", Reg.BIAS + 4 * (cfg.sizes[1] - 1), full(cfg.sizes[1] - 1, cfg.sizes[1]))
        await case("bias.1 first after bias.0 last", Reg.BIAS + WINDOW_SIZE, full(0, cfg.sizes[2]))
        await case("refused: an input code out of range", Reg.INPUT, 3, write=True, value=cfg.state_max + 1)

    run(dut, tb)
    assert got == want


def test_register_semantics_the_docs_spell_out():
    """docs/register-map.md on what an integrator's testbench found unsaid: INPUT and TARGET read 0 at power-up;
    STATUS.ERROR follows ERROR, so a successful START clears it and a refused one sets it; CONTROL = RESET
    with mode bits (3 too) is accepted, resets, and keeps the last started mode; CONTROL = 0 or mode bits
    alone while a command runs are accepted and change nothing (the command ends with the same CYCLES)."""
    cfg = CFG
    params, x, _ = make_case(cfg, seed=2)
    dut = AxiLiteAccelerator(cfg=cfg, params=params)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        got["input at power-up"] = [(await bus.read(Reg.INPUT + 4 * i))[0] for i in range(cfg.sizes[0])]
        got["target at power-up"] = [(await bus.read(Reg.TARGET + 4 * i))[0] for i in range(cfg.sizes[-1])]
        for i, v in enumerate(x[0]):
            await bus.write(Reg.INPUT + 4 * i, int(v))
        await bus.write(Reg.ID, 0)
        got["status after a refused access"] = (await bus.read(Reg.STATUS))[0] & Status.ERROR
        await bus.run_command(Mode.INFER)
        got["status, error after START"] = ((await bus.read(Reg.STATUS))[0] & Status.ERROR,
                                            (await bus.read(Reg.ERROR))[0])
        cycles = (await bus.read(Reg.CYCLES))[0]
        got["refused START"] = await bus.write(Reg.CONTROL, Control.START | 3 << CONTROL_MODE_SHIFT)
        got["status, error after a refused START"] = ((await bus.read(Reg.STATUS))[0] & Status.ERROR,
                                                      (await bus.read(Reg.ERROR))[0])
        got["RESET with mode 3"] = await bus.write(Reg.CONTROL, Control.RESET | 3 << CONTROL_MODE_SHIFT)
        got["after RESET with mode 3"] = [(await bus.read(r))[0] for r in (Reg.STATUS, Reg.ERROR, Reg.CONTROL)]
        await bus.write(Reg.CONTROL, Control.START | Mode.INFER << CONTROL_MODE_SHIFT)
        got["CONTROL = 0 while busy"] = await bus.write(Reg.CONTROL, 0)
        got["mode bits alone while busy"] = await bus.write(Reg.CONTROL, Mode.RELAX << CONTROL_MODE_SHIFT)
        got["busy, error after them"] = ((await bus.read(Reg.STATUS))[0] & Status.BUSY, (await bus.read(Reg.ERROR))[0])
        while not (await bus.read(Reg.STATUS))[0] & Status.DONE:
            pass
        got["cycles, control after"] = ((await bus.read(Reg.CYCLES))[0], (await bus.read(Reg.CONTROL))[0])
        got["cycles before"] = cycles

    run(dut, tb)
    assert got["input at power-up"] == [0] * cfg.sizes[0] and got["target at power-up"] == [0] * cfg.sizes[-1]
    assert got["status after a refused access"] == Status.ERROR
    assert got["status, error after START"] == (0, ErrorCode.NONE)
    assert got["refused START"] == SLVERR
    assert got["status, error after a refused START"] == (Status.ERROR, ErrorCode.BAD_MODE)
    assert got["RESET with mode 3"] == 0
    assert got["after RESET with mode 3"] == [0, ErrorCode.NONE, Mode.INFER << CONTROL_MODE_SHIFT]
    assert got["CONTROL = 0 while busy"] == 0 and got["mode bits alone while busy"] == 0
    assert got["busy, error after them"] == (Status.BUSY, ErrorCode.NONE)
    assert got["cycles, control after"] == (got["cycles before"], Mode.INFER << CONTROL_MODE_SHIFT)


def test_inference_only_core_keeps_lr_shift():
    """docs/register-map.md: an inference-only core's LR_SHIFT accepts, keeps and reads back a value of
    `lr_shift_range` and refuses any other with BAD_VALUE, as a learning core's does."""
    cfg = CFG.replace(learning=False)
    lo, hi = lr_shift_range(cfg, 0)
    dut = AxiLiteAccelerator(cfg=cfg)
    got = {}

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut)
        got["write"] = await bus.write(Reg.LR_SHIFT, hi)
        got["read"] = (await bus.read(Reg.LR_SHIFT))[0]
        got["refused"] = await bus.write(Reg.LR_SHIFT, hi + 1)
        got["error"] = (await bus.read(Reg.ERROR))[0]
        got["kept"] = (await bus.read(Reg.LR_SHIFT))[0]
        got["low"] = await bus.write(Reg.LR_SHIFT, lo)
        got["read low"] = (await bus.read(Reg.LR_SHIFT))[0]

    run(dut, tb)
    assert got == {"write": 0, "read": hi, "refused": SLVERR, "error": ErrorCode.BAD_VALUE, "kept": hi,
                   "low": 0, "read low": lo}
