"""cocotb testbench of the exported accelerator (``eqprop_accel``) against the golden model `eqprop.hw.golden`.

The host's view only: the parameters, input and target are loaded in bulk through the AXI4-Lite
windows of `eqprop.hw.formats.Reg` (cocotbext-axi's `AxiLiteMaster`), CONTROL starts a command, and
Python then waits for the ``irq`` output (STATUS.DONE) under a cycle limit instead of driving every
cycle. Everything is read back through the windows and compared with the golden model bit for bit;
a mismatch names the case, the phase, the layer, the index, the expected and the actual code.

The cases come from the JSON file named by the environment variable `sim.runner.CASES_ENV`
(written by `sim.cases.write_cases`; figures such as simulated cycles per second go to the file
named by `sim.runner.STATS_ENV`); the expected values are computed from the same file by the
reference helpers of `sim.cases`. File order as in verilog-axis's testbenches: ``class TB``,
``run_test``-style test bodies, then the cocotb tests. The pytest entry point is
``tests/sim/test_cosim.py`` (via `sim.runner`).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from eqprop.hw import golden
from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    WINDOW_SIZE,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    Window,
    config_registers,
    lr_shift_range,
    memory_layout,
    shadow_base,
    weight_base,
    windows,
)
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import unpack_region
from rtl.command import longest_commands, ref_infer, ref_train
from sim.cases import CaseSet, assert_codes, dump_trace, load_cases
from sim.runner import CLOCK_NS, STATS_ENV

# ----------------------------------------------------------------------------------------------
# testbench

def _pauses(pattern):
    """A cocotbext-axi pause generator: True in a cycle means idle (source) or not ready (sink)."""
    return itertools.cycle(pattern)


PARAMS = ("shadow", "weights", "biases")


def param_keys(cfg: HwConfig) -> tuple[str, ...]:
    """The parameters a core holds: an inference-only core (``learning=False``) has no shadows."""
    return PARAMS if cfg.learning else ("weights", "biases")


class TB:
    """Clock, AXI4-Lite master and reset of ``eqprop_accel``; bulk window access, commands, and reading
    the parameter memories directly (`peek_params`).

    cocotb clocks the design while the bus is in use; `run_free` hands the clock to the Verilog of
    `sim.runner.TB_TOP` while Python only waits for an event such as ``irq``. Every wait has a cycle
    limit: a hung design fails with the operation's name instead of hanging."""

    def __init__(self, dut, cfg: HwConfig, *, free_run: bool = True):
        self.dut, self.cfg, self.free_run = dut, cfg, free_run
        dut.free_run.value = 0
        self.clock = Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi")
        self.clock.start(start_high=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.wait_cycles, self.wait_s = 0, 0.0   # cycles and wall time spent waiting for DONE
        self.command_cycles = 0                   # CYCLES of the commands checked (`check_registers`)
        # the longest window access: a weight index split by repeated subtraction (rtl.axil), then the bus
        self.access_cycles = 64 + 2 * max(cfg.sizes) + max(cfg.sizes) // cfg.mac_lanes

    def set_stalls(self, on: bool) -> None:
        """Idle cycles on AW, W and AR and back-pressure on B and R (a 1-in-3 and a 1-in-2 pattern), or none."""
        w, r = self.axil.write_if, self.axil.read_if
        for channel, pattern in ((w.aw_channel, [0, 0, 1]), (w.w_channel, [0, 1, 1]), (w.b_channel, [1, 0]),
                                 (r.ar_channel, [0, 1, 0]), (r.r_channel, [1, 1, 0])):
            if on:
                channel.set_pause_generator(_pauses(pattern))
            else:
                channel.clear_pause_generator()

    async def run_free(self, trigger, limit: int, what: str) -> None:
        """Await `trigger` (an edge of an output) within `limit` cycles while the wrapper's Verilog clock
        runs the design; cocotb's clock stops at a rising edge and restarts, high, at the edge where
        `trigger` fired, so the clock keeps its period across both hand-overs. (With ``free_run`` False,
        cocotb's clock goes on: the slow baseline.)"""
        if not self.free_run:
            try:
                return await with_timeout(trigger, limit * CLOCK_NS, "ns")
            except SimTimeoutError:
                raise AssertionError(f"{what}: nothing within {limit} cycles") from None
        await RisingEdge(self.dut.clk)
        self.clock.stop()
        self.dut.free_run.value = 1
        try:
            await with_timeout(trigger, limit * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: nothing within {limit} cycles") from None
        finally:
            self.dut.free_run.value = 0
            self.clock.start(start_high=True)

    async def bus(self, op, words: int, what: str):
        """Await the bus operation `op` within the cycles `words` window accesses may take."""
        limit = 100 + words * self.access_cycles
        try:
            return await with_timeout(op, limit * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: the bus did not answer within {limit} cycles") from None

    async def reset(self) -> None:
        """Amaranth's synchronous, active-high ``rst`` for a few cycles."""
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def write_words(self, base: int, values) -> None:
        """Consecutive 32-bit registers from `base`; negative codes in two's complement."""
        words = [int(v) & 0xFFFF_FFFF for v in np.ravel(values)]
        await self.bus(self.axil.write_dwords(int(base), words), len(words), f"writing {len(words)} words at {base:#x}")

    async def read_words(self, base: int, count: int, *, signed: bool) -> np.ndarray:
        words = np.array(await self.bus(self.axil.read_dwords(int(base), count), count,
                                        f"reading {count} words at {base:#x}"), dtype=np.int64)
        return np.where(words >= 1 << 31, words - (1 << 32), words) if signed else words

    async def read_reg(self, reg: int) -> int:
        return int(await self.bus(self.axil.read_dword(int(reg)), 1, f"reading register {reg:#x}"))

    async def write_reg(self, reg: int, value: int) -> None:
        await self.bus(self.axil.write_dword(int(reg), int(value)), 1, f"writing register {reg:#x}")

    async def load_params(self, params: golden.IntParams) -> None:
        """Shadows (each write re-derives its weight; an inference-only core: the weights) and biases,
        through the windows."""
        for l in range(self.cfg.n_layers):
            if self.cfg.learning:
                await self.write_words(shadow_base(self.cfg, l), params.shadow[l])   # row-major [r, c]
            else:
                await self.write_words(weight_base(self.cfg, l), params.weights[l])
            await self.write_words(Reg.BIAS + l * WINDOW_SIZE, params.biases[l])

    async def load_sample(self, x: np.ndarray, target: np.ndarray | None = None) -> None:
        """The input, and the target where the core has one (not an inference-only core). A core with B > 1
        samples per command gets `x` in every sample, so that its command is that of `x` alone."""
        if self.cfg.samples > 1:
            await self.load_samples(np.repeat(np.asarray(x)[None, :], self.cfg.samples, axis=0))
        else:
            await self.write_words(Reg.INPUT, x)
        if target is not None and target.size and self.cfg.learning:
            await self.write_words(Reg.TARGET, target)

    async def load_samples(self, xs: np.ndarray) -> None:
        """The inputs of the B samples of a command, one row each: SAMPLE = b, then the INPUT window."""
        for b, x in enumerate(xs):
            await self.write_reg(Reg.SAMPLE, b)
            await self.write_words(Reg.INPUT, x)

    async def select_sample(self, b: int) -> None:
        """SAMPLE = b: the sample whose input and states the INPUT and STATE windows show (B > 1 only)."""
        if self.cfg.samples > 1:
            await self.write_reg(Reg.SAMPLE, b)

    async def set_lr_shifts(self, shifts) -> None:
        await self.write_words(Reg.LR_SHIFT, shifts)

    async def read_states(self) -> list[np.ndarray]:
        """s_0 (the input) .. s_L from the STATE windows."""
        return [await self.read_words(Reg.STATE + k * WINDOW_SIZE, n, signed=False)
                for k, n in enumerate(self.cfg.sizes)]

    async def read_params(self) -> dict[str, list[np.ndarray]]:
        """Every shadow, weight and bias through the windows."""
        cfg, out = self.cfg, {k: [] for k in param_keys(self.cfg)}
        for l in range(cfg.n_layers):
            shape = (cfg.sizes[l + 1], cfg.sizes[l])
            for key, base in (("shadow", shadow_base), ("weights", weight_base))[0 if cfg.learning else 1:]:
                words = await self.read_words(base(cfg, l), shape[0] * shape[1], signed=True)
                out[key].append(words.reshape(shape))
            out["biases"].append(await self.read_words(Reg.BIAS + l * WINDOW_SIZE, shape[0], signed=True))
        return out

    def peek_params(self) -> dict[str, list[np.ndarray]]:
        """Every shadow, weight and bias read straight from the memories (``shadow_l``, ``weight_l``,
        ``bias_l`` of the core), decoded with `eqprop.hw.formats.memory_layout`: no simulated cycles."""
        core, layout = self.dut.dut.core, memory_layout(self.cfg)
        out = {k: [] for k in param_keys(self.cfg)}
        for l in range(self.cfg.n_layers):
            kinds = (("shadow", "shadow"), ("weights", "weight"), ("biases", "bias"))
            for key, mem in kinds[0 if self.cfg.learning else 1:]:
                region = layout[f"{mem}.{l}"]
                handle = getattr(core, f"{mem}_{l}")
                words = [handle[i].value.to_unsigned() for i in range(region.depth)]
                array = unpack_region(region, words)
                out[key].append(array.reshape(-1) if key == "biases" else array)
        return out

    async def params_back(self, check: str) -> dict[str, list[np.ndarray]]:
        # (the tiled core's memories hold tiles: its parameters are read through the bus)
        return await self.read_params() if check == "bus" or self.cfg.tiled else self.peek_params()

    async def command(self, mode: int, *, what: str) -> int:
        """Write CONTROL = START | mode, then wait for the rising edge of ``irq`` (STATUS.DONE) within
        twice the longest command's modelled cycles plus 1,000 (a hung design fails, it does not hang);
        returns STATUS, which must show DONE and neither BUSY nor ERROR (UNSETTLED is checked by
        `check_registers`)."""
        model = longest_commands(self.cfg)
        limit = 2 * max(model["infer"], model["train"]) + 1000
        await self.write_reg(Reg.CONTROL, int(Control.START) | int(mode) << CONTROL_MODE_SHIFT)
        wall, sim0 = time.perf_counter(), get_sim_time("ns")
        # irq (sticky DONE) fell when the START was taken; its rising edge ends the command
        expected = model["infer"] if mode == Mode.INFER else model["train"]
        await self.run_free(RisingEdge(self.dut.irq), limit, f"{what}: no DONE (the model says {expected} cycles)")
        self.wait_s += time.perf_counter() - wall
        self.wait_cycles += round((get_sim_time("ns") - sim0) / CLOCK_NS)
        status = await self.read_reg(Reg.STATUS)
        assert status & ~Status.UNSETTLED == Status.DONE, f"{what}: STATUS {status:#x} after the command, expected DONE"
        return status


# ----------------------------------------------------------------------------------------------
# test bodies

def save_stats(**stats) -> None:
    path = os.environ.get(STATS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(stats) + "\n")


def progress(done: int, total: int) -> None:
    """One line for the parent's progress bar (`sim.runner.run`), in the file beside the stats."""
    path = os.environ.get(STATS_ENV)
    if path:
        with open(path + ".progress", "w") as f:
            f.write(f"{done} {total}\n")


async def start(dut, stalls: bool) -> tuple[TB, HwConfig, str, list[CaseSet]]:
    cfg, check, sets, free_run = load_cases()
    tb = TB(dut, cfg, free_run=free_run)
    await tb.reset()
    tb.set_stalls(stalls)
    return tb, cfg, check, sets


def compare_params(back: dict, expected: golden.IntParams, where: str, dump=None) -> None:
    for key in back:
        for l, (a, e) in enumerate(zip(back[key], getattr(expected, key), strict=True)):
            assert_codes(a, e, f"{where}: {key} layer {l}", dump)


async def check_registers(tb: TB, ref: dict, where: str) -> int:
    """RESULT, CYCLES, STEPS, PHASE_STEPS and STATUS.UNSETTLED against `ref`; returns RESULT."""
    got = {}
    for reg, name in ((Reg.RESULT, "result"), (Reg.CYCLES, "cycles"), (Reg.STEPS, "steps")):
        got[name] = await tb.read_reg(reg)
        assert got[name] == ref[name], f"{where}: {reg.name} expected {ref[name]}, actual {got[name]}"
    tb.command_cycles += got["cycles"]
    phase_steps = [await tb.read_reg(Reg.PHASE_STEPS + 4 * i) for i in range(len(ref["phase_steps"]))]
    assert phase_steps == ref["phase_steps"], (f"{where}: PHASE_STEPS expected {ref['phase_steps']}, "
                                               f"actual {phase_steps}")
    unsettled = int(bool(await tb.read_reg(Reg.STATUS) & Status.UNSETTLED))
    assert unsettled == ref["unsettled"], f"{where}: STATUS.UNSETTLED expected {ref['unsettled']}, actual {unsettled}"
    return got["result"]


async def infer_case(tb: TB, params: golden.IntParams, x: np.ndarray, where: str) -> int:
    """Load `x`, INFER, and compare every state window (the input too), RESULT, CYCLES and STEPS with
    `ref_infer`; returns RESULT."""
    return (await infer_cases(tb, params, x[None, :], where))[0]


async def infer_cases(tb: TB, params: golden.IntParams, xs: np.ndarray, where: str) -> list[int]:
    """One INFER of up to B = ``cfg.samples`` rows of `xs`, one per sample (a short group is filled with
    its first row, which changes neither its STEPS nor its CYCLES): every state window of every sample
    (the input too) and its RESULTS entry, and the command's RESULT, CYCLES, STEPS, PHASE_STEPS and
    STATUS.UNSETTLED against `ref_infer`; returns the results of the rows of `xs`."""
    cfg, rows = tb.cfg, len(xs)
    if cfg.samples > 1:
        xs = np.concatenate([xs, np.repeat(xs[:1], cfg.samples - rows, axis=0)])
        await tb.load_samples(xs)
    else:
        await tb.load_sample(xs[0])
    ref = ref_infer(cfg, params, xs)
    await tb.command(Mode.INFER, what=where)
    results = []
    for b in range(rows):
        at = where if cfg.samples == 1 else f"{where} sample {b}"
        await tb.select_sample(b)
        states = await tb.read_states()
        dump = functools.partial(dump_trace, at, cfg, params, xs[b:b + 1])
        assert_codes(states[0], xs[b], f"{at}: state window 0 (the input)")
        for k in range(1, cfg.n_layers + 1):
            assert_codes(states[k], ref["samples"][b]["states"][k - 1], f"{at} free phase: state layer {k}", dump)
        if cfg.samples > 1:
            got = await tb.read_reg(Reg.RESULTS + 4 * b)
            want = ref["samples"][b]["result"]
            assert got == want, f"{at}: RESULTS + 4 {b} expected {want}, actual {got}"
        results.append(ref["samples"][b]["result"])
    assert await check_registers(tb, ref, where) == results[0]
    return results


async def run_infer(dut, stalls: bool) -> None:
    """Every set: load the parameters and read them back; every case: load, INFER, read back every state,
    RESULT, CYCLES and STEPS and compare with `ref_infer`."""
    tb, cfg, check, sets = await start(dut, stalls)
    wall, sim0 = time.perf_counter(), get_sim_time("ns")
    results, total, done = [], sum(len(s.x) for s in sets), 0
    for cs in sets:
        await tb.load_params(cs.params)
        compare_params(await tb.params_back(cs.check), cs.params, f"set {cs.name} after loading")
        B = cfg.samples
        for case in range(0, len(cs.x), B):
            what = f"set {cs.name} case {case}" + (f" .. {min(case + B, len(cs.x)) - 1}" if B > 1 else "")
            results += await infer_cases(tb, cs.params, cs.x[case:case + B], f"{what} INFER")
            done += len(cs.x[case:case + B])
            progress(done, total)
    save_stats(test="infer", stalls=stalls, cases=total, sets=[s.name for s in sets], results=results,
               command_cycles=tb.command_cycles,
               sim_cycles=round((get_sim_time("ns") - sim0) / CLOCK_NS), wall_s=time.perf_counter() - wall,
               wait_cycles=tb.wait_cycles, wait_s=tb.wait_s)


async def run_train(dut, stalls: bool) -> None:
    """Every case of every set in turn (online): LR_SHIFT if the case gives it, TRAIN, then every shadow,
    weight and bias, the states and the counters against `ref_train`, whose new parameters are the next
    case's reference. The final parameters go to the stats, for the host to evaluate."""
    tb, cfg, check, sets = await start(dut, stalls)
    if not cfg.learning:       # an inference-only core: nothing to train (TRAIN is refused, run_illegal)
        return
    wall, sim0 = time.perf_counter(), get_sim_time("ns")
    total, done, params, evaluated, train_cycles = sum(len(s.x) for s in sets), 0, None, [], []
    for cs in sets:
        if cs.evaluate:   # INFER with what the hardware has learnt
            for case, x in enumerate(cs.x):
                evaluated.append(await infer_case(tb, params, x, f"set {cs.name} case {case} INFER after training"))
                done += 1
                progress(done, total)
            continue
        params = cs.params
        await tb.load_params(params)
        compare_params(await tb.params_back(cs.check), params, f"set {cs.name} after loading")
        for case, (x, t) in enumerate(zip(cs.x, cs.target, strict=True)):
            where = f"set {cs.name} case {case} TRAIN"
            ccfg = cfg
            if cs.lr_shifts is not None:
                ccfg = cfg.replace(lr_shifts=tuple(int(v) for v in cs.lr_shifts[case]))
                if case == 0 or not np.array_equal(cs.lr_shifts[case], cs.lr_shifts[case - 1]):
                    await tb.set_lr_shifts(cs.lr_shifts[case])
            ref = ref_train(ccfg, params, x[None, :], t[None, :])
            await tb.load_sample(x, t)
            await tb.command(Mode.TRAIN, what=where)
            dump = functools.partial(dump_trace, where, ccfg, params, x[None, :], t[None, :])
            compare_params(await tb.params_back(cs.check), ref["params"], f"{where} update", dump)
            states = await tb.read_states()
            for k in range(1, cfg.n_layers + 1):
                assert_codes(states[k], ref["states"][k - 1], f"{where} free phase: state layer {k}", dump)
            await check_registers(tb, ref, where)
            train_cycles.append(ref["cycles"])      # equal to the RTL's CYCLES, just checked
            params = ref["params"]
            done += 1
            progress(done, total)
    trained = sum(len(s.x) for s in sets if not s.evaluate)
    save_stats(test="train", stalls=stalls, cases=trained, evaluated=len(evaluated), results=evaluated,
               command_cycles=tb.command_cycles, train_cycles=sum(train_cycles),
               sim_cycles=round((get_sim_time("ns") - sim0) / CLOCK_NS), wall_s=time.perf_counter() - wall,
               wait_cycles=tb.wait_cycles, wait_s=tb.wait_s,
               final={"shadow": [a.tolist() for a in params.shadow], "biases": [b.tolist() for b in params.biases]})


async def wait_idle(tb: TB, limit: int, what: str) -> None:
    """Poll STATUS until BUSY falls, within `limit` cycles (a command that has already ended returns at once;
    a register read is answered while a command runs)."""
    for _ in range(limit // 8 + 1):
        if not await tb.read_reg(Reg.STATUS) & Status.BUSY:
            return
        await ClockCycles(tb.dut.clk, 8)
    raise AssertionError(f"{what}: still BUSY after {limit} cycles")


async def expect_error(tb: TB, resp, code: ErrorCode, what: str, busy_ok: bool = False) -> None:
    """The access answered SLVERR and set STATUS.ERROR with `code` (and, unless `busy_ok`, is not busy)."""
    assert resp.resp == AxiResp.SLVERR, f"{what}: response expected SLVERR, actual {resp.resp!r}"
    status, error = await tb.read_reg(Reg.STATUS), await tb.read_reg(Reg.ERROR)
    assert status & Status.ERROR and (busy_ok or not status & Status.BUSY), f"{what}: STATUS {status:#x}"
    assert error == code, f"{what}: ERROR expected {int(code)} ({code.name}), actual {error}"


async def snapshot(tb: TB):
    """What a refused access must not change: the states (the input is state 0), the target, LR_SHIFT,
    CONTROL's read-back and CYCLES. (The parameters are compared once, after all the refused accesses.)"""
    cfg = tb.cfg
    return {"states": await tb.read_states(),
            "target": await tb.read_words(Reg.TARGET, cfg.sizes[-1], signed=False) if cfg.learning else None,
            "LR_SHIFT": await tb.read_words(Reg.LR_SHIFT, cfg.n_layers, signed=False),
            "CONTROL": await tb.read_reg(Reg.CONTROL), "CYCLES": await tb.read_reg(Reg.CYCLES),
            "SAMPLE": await tb.read_reg(Reg.SAMPLE)}


def compare_snapshots(after, before, what: str) -> None:
    for k, (a, b) in enumerate(zip(after["states"], before["states"], strict=True)):
        assert_codes(a, b, f"{what} changed state layer {k}")
    for key in ("target", "LR_SHIFT"):
        if before[key] is not None:
            assert_codes(after[key], before[key], f"{what} changed {key}")
    for key in ("CONTROL", "CYCLES", "SAMPLE"):
        assert after[key] == before[key], f"{what} changed {key}: {before[key]} -> {after[key]}"


def illegal_accesses(cfg: HwConfig) -> list[tuple[str, str, int, bytes | int, ErrorCode]]:
    """(what, "write" or "read", byte address, bytes written or bytes read, expected code): one of every
    kind of refused access of docs/register-map.md for `cfg`, the value ranges from `windows(cfg)`."""
    def word(v: int) -> bytes:
        return (int(v) & 0xFFFF_FFFF).to_bytes(4, "little")

    outside = Reg.INPUT + 4 * cfg.sizes[0]   # just past the input window
    cases = [
        ("unknown mode", "write", Reg.CONTROL, word(Control.START | 3 << CONTROL_MODE_SHIFT), ErrorCode.BAD_MODE),
        ("write past the input window", "write", outside, word(1), ErrorCode.BAD_ADDRESS),
        ("read past the input window", "read", outside, 4, ErrorCode.BAD_ADDRESS),
        ("write to read-only STATUS", "write", Reg.STATUS, word(0), ErrorCode.BAD_ADDRESS),
        ("write to the read-only state window", "write", Reg.STATE + WINDOW_SIZE, word(1), ErrorCode.BAD_ADDRESS),
        # cocotbext-axi puts an unaligned start address on the bus as it is, with the strobes of its bytes
        ("unaligned write", "write", Reg.INPUT + 1, bytes(3), ErrorCode.BAD_ADDRESS),
        ("unaligned read", "read", Reg.INPUT + 2, 2, ErrorCode.BAD_ADDRESS),
        ("unaligned register read", "read", Reg.ID + 1, 3, ErrorCode.BAD_ADDRESS),
        ("write of the low half (WSTRB 0b0011)", "write", Reg.INPUT, bytes(2), ErrorCode.BAD_STROBE),
        ("CONTROL reserved bit", "write", Reg.CONTROL, word(1 << 8), ErrorCode.BAD_VALUE),
        ("CONTROL START and RESET", "write", Reg.CONTROL, word(Control.START | Control.RESET), ErrorCode.BAD_VALUE),
    ]
    for l in range(cfg.n_layers):
        lo, hi = lr_shift_range(cfg, l)
        cases.append((f"LR_SHIFT {l} = {hi + 1}", "write", Reg.LR_SHIFT + 4 * l, word(hi + 1), ErrorCode.BAD_VALUE))
        if lo > 0:
            cases.append((f"LR_SHIFT {l} = {lo - 1}", "write", Reg.LR_SHIFT + 4 * l, word(lo - 1), ErrorCode.BAD_VALUE))
    for w in windows(cfg):
        if w.kind in (Window.INPUT, Window.TARGET) or (w.writable and w.layer == cfg.n_layers - 1):
            for v, at in ((w.lo - 1, 0), (w.hi + 1, w.count - 1)):
                cases.append((f"{w.name}[{at}] = {v} (codes {w.lo} .. {w.hi})", "write", w.base + 4 * at, word(v),
                              ErrorCode.BAD_VALUE))
    cases.append(("32 in LR_SHIFT 0 (once kept its low 5 bits)", "write", Reg.LR_SHIFT, word(32), ErrorCode.BAD_VALUE))
    cases += [(f"SAMPLE = {cfg.samples} (samples 0 .. {cfg.samples - 1})", "write", Reg.SAMPLE, word(cfg.samples),
               ErrorCode.BAD_VALUE),
              ("SAMPLE = -1", "write", Reg.SAMPLE, word(-1), ErrorCode.BAD_VALUE),
              (f"read of RESULTS + 4 {cfg.samples} (past the last sample)", "read", Reg.RESULTS + 4 * cfg.samples, 4,
               ErrorCode.BAD_ADDRESS)]
    if cfg.tiled:           # the tiled core has no RELAX
        cases.append(("RELAX on the tiled core", "write", Reg.CONTROL,
                      word(Control.START | Mode.RELAX << CONTROL_MODE_SHIFT), ErrorCode.BAD_MODE))
    if not cfg.learning:    # an inference-only core: no TRAIN, no shadows, no target
        cases += [("TRAIN on an inference-only core", "write", Reg.CONTROL,
                   word(Control.START | Mode.TRAIN << CONTROL_MODE_SHIFT), ErrorCode.BAD_MODE),
                  ("write to SHADOW (an inference-only core has none)", "write", Reg.SHADOW, word(0),
                   ErrorCode.BAD_ADDRESS),
                  ("read of TARGET (an inference-only core has none)", "read", Reg.TARGET, 4, ErrorCode.BAD_ADDRESS)]
    return cases


async def run_illegal(dut) -> None:
    """Every kind of refused access on the real Verilog (`illegal_accesses`): SLVERR (a refused read
    returns 0), STATUS.ERROR with its code, and nothing else changes: not the states, the input, the
    target, LR_SHIFT, CONTROL or CYCLES after each, not a parameter after all of them. Then START and
    RESET while a command runs, and a bad mode while busy, are refused with START_WHILE_BUSY and the
    command (a TRAIN) finishes as the golden model says; RESET clears ERROR and STATUS."""
    tb, cfg, check, sets = await start(dut, False)
    cs = sets[0]
    target = np.zeros(cfg.sizes[-1], dtype=np.int64)
    target[0] = cfg.state_max
    await tb.load_params(cs.params)
    await tb.load_sample(cs.x[0], target)
    await tb.command(Mode.INFER, what="INFER before the illegal accesses")
    before = await snapshot(tb)
    for what, kind, addr, payload, code in illegal_accesses(cfg):
        if kind == "write":
            resp = await tb.bus(tb.axil.write(int(addr), payload), 1, what)
        else:
            resp = await tb.bus(tb.axil.read(int(addr), payload), 1, what)
            assert resp.data == bytes(payload), f"{what}: a refused read returned {resp.data!r}, expected zeros"
        await ClockCycles(dut.clk, 20 if code != ErrorCode.BAD_MODE else longest_commands(cfg)["infer"] + 10)
        await expect_error(tb, resp, code, what)
        compare_snapshots(await snapshot(tb), before, what)
    compare_params(await tb.params_back(check), cs.params, "after the refused accesses: parameters")
    await tb.write_reg(Reg.CONTROL, int(Control.RESET))
    assert await tb.read_reg(Reg.ERROR) == ErrorCode.NONE, "RESET left ERROR set"
    assert await tb.read_reg(Reg.STATUS) == 0, "RESET left STATUS bits set"
    # while busy: START, RESET and a bad mode are refused as START_WHILE_BUSY; the running TRAIN (INFER on
    # an inference-only core) finishes as golden says
    mode = Mode.TRAIN if cfg.learning else Mode.INFER
    ref = ref_train(cfg, cs.params, cs.x[:1], target[None, :]) if cfg.learning else ref_infer(cfg, cs.params, cs.x[:1])
    start_word = int(Control.START) | int(mode) << CONTROL_MODE_SHIFT
    limit = 2 * max(longest_commands(cfg)["infer"], longest_commands(cfg)["train"]) + 1000
    what = f"the {mode.name} the refused STARTs ran into"
    await tb.write_reg(Reg.CONTROL, start_word)
    for i, (refused, value) in enumerate((("START while busy", Control.START | Mode.INFER << CONTROL_MODE_SHIFT),
                                          ("RESET while busy", Control.RESET),
                                          ("a bad mode while busy", Control.START | 3 << CONTROL_MODE_SHIFT))):
        if i and not cfg.learning:
            # an INFER can reach its fixed point within a few bus accesses (early exit): let it end and start
            # the same INFER again, so that each refused write meets a running command
            await wait_idle(tb, limit, f"{what} (before {refused})")
            await tb.write_reg(Reg.CONTROL, start_word)
        resp = await tb.bus(tb.axil.write(int(Reg.CONTROL), int(value).to_bytes(4, "little")), 1, refused)
        # START_WHILE_BUSY itself says that the command was running when the write was checked
        await expect_error(tb, resp, ErrorCode.START_WHILE_BUSY, refused, busy_ok=True)
        if cfg.learning:
            assert await tb.read_reg(Reg.STATUS) & Status.BUSY, f"{refused}: TRAIN ended before the test could go on"
    await wait_idle(tb, limit, f"{what}: no DONE")
    status = await tb.read_reg(Reg.STATUS)
    assert status & ~Status.UNSETTLED == Status.DONE | Status.ERROR, (
        f"{what}: STATUS {status:#x} after the command, expected DONE | ERROR")
    states = await tb.read_states()
    for k in range(1, cfg.n_layers + 1):
        assert_codes(states[k], ref["states"][k - 1], f"{what}: state layer {k}")
    await check_registers(tb, ref, what)
    compare_params(await tb.params_back(check), ref.get("params", cs.params), f"{what}: parameters")


async def run_contract(dut) -> None:
    """The behaviour docs/register-map.md states beyond the tables, on the real Verilog: the configuration
    registers (LAYER_FRAC among them) hold `config_registers`; INPUT and TARGET read back; a successful
    START clears ERROR; CONTROL reads back the last started mode; STEPS after TRAIN is the sum of the
    steps of its phases (T + 2K, symmetric, or T + K, one-sided, without early exit); RELAX continues
    from the states INFER left and sets RESULT (the tiled core refuses it, BAD_MODE); ``irq`` follows DONE;
    RESET clears STATUS, ERROR, CYCLES, STEPS, PHASE_STEPS and the states of layers 1 .. L and keeps the input,
    the target, RESULT, CONTROL's mode, LR_SHIFT and the parameters."""
    tb, cfg, check, sets = await start(dut, False)
    cs = sets[0]
    for name, value in config_registers(cfg).items():
        reg, _, index = name.partition(".")
        got = await tb.read_reg(Reg[reg] + 4 * int(index or 0))
        assert got == value, f"{name}: expected {value:#x}, actual {got:#x}"
    x = cs.x[0]
    target = np.zeros(cfg.sizes[-1], dtype=np.int64)
    target[-1] = cfg.state_max
    await tb.load_params(cs.params)
    await tb.load_sample(x, target)
    assert_codes(await tb.read_words(Reg.INPUT, cfg.sizes[0], signed=False), x, "INPUT read back")
    if cfg.learning:
        assert_codes(await tb.read_words(Reg.TARGET, cfg.sizes[-1], signed=False), target, "TARGET read back")
    assert int(dut.irq.value) == 0, "irq before any command"

    resp = await tb.bus(tb.axil.write(int(Reg.ID), bytes(4)), 1, "write to ID")
    await expect_error(tb, resp, ErrorCode.BAD_ADDRESS, "write to ID")
    # TRAIN (INFER on an inference-only core)
    mode = Mode.TRAIN if cfg.learning else Mode.INFER
    ref = (ref_train(cfg, cs.params, x[None, :], target[None, :]) if cfg.learning
           else ref_infer(cfg, cs.params, x[None, :]))
    await tb.write_reg(Reg.CONTROL, int(Control.START) | int(mode) << CONTROL_MODE_SHIFT)
    assert await tb.read_reg(Reg.ERROR) == ErrorCode.NONE, "a successful START left ERROR set"
    await tb.run_free(RisingEdge(dut.irq), 2 * longest_commands(cfg)["train"] + 1000, f"{mode.name}: no DONE")
    assert await tb.read_reg(Reg.STATUS) & Status.DONE and int(dut.irq.value) == 1, "irq follows DONE"
    assert await tb.read_reg(Reg.CONTROL) == mode << CONTROL_MODE_SHIFT, f"CONTROL after {mode.name}"
    if not cfg.early_exit and cfg.learning:
        nudged = 2 if cfg.estimator == "symmetric" else 1
        assert ref["steps"] == cfg.free_steps + nudged * cfg.nudge_steps
    await check_registers(tb, ref, mode.name)
    params = ref.get("params", cs.params)

    await tb.command(Mode.INFER, what="INFER before RELAX")
    inferred = ref_infer(cfg, params, x[None, :])
    last = Mode.RELAX
    if cfg.tiled:     # the tiled core has no RELAX: refused (BAD_MODE), the INFER's states and RESULT stay
        relax = int(Control.START | Mode.RELAX << CONTROL_MODE_SHIFT).to_bytes(4, "little")
        resp = await tb.bus(tb.axil.write(int(Reg.CONTROL), relax), 1, "RELAX on the tiled core")
        await expect_error(tb, resp, ErrorCode.BAD_MODE, "RELAX on the tiled core")
        states = await tb.read_states()
        for k in range(1, cfg.n_layers + 1):
            assert_codes(states[k], inferred["states"][k - 1], f"INFER, then the refused RELAX: state layer {k}")
        result, last = inferred["result"], Mode.INFER
        assert await tb.read_reg(Reg.RESULT) == result, "RESULT after the refused RELAX"
    else:
        relaxed = golden.settle(cfg, params, x[None, :], [s[None, :] for s in inferred["states"]],
                                steps=cfg.free_steps)
        relax_steps, relaxed = int(relaxed.steps[0]), relaxed.states
        await tb.command(Mode.RELAX, what="RELAX")
        states = await tb.read_states()
        for k in range(1, cfg.n_layers + 1):
            assert_codes(states[k], relaxed[k - 1][0], f"RELAX from INFER's states: state layer {k}")
        result = int(np.argmax(relaxed[-1][0]))
        assert await tb.read_reg(Reg.RESULT) == result, "RELAX sets RESULT"
        assert await tb.read_reg(Reg.STEPS) == relax_steps, "STEPS after RELAX"
    assert await tb.read_reg(Reg.CONTROL) == last << CONTROL_MODE_SHIFT, f"CONTROL after {last.name}"

    lr = await tb.read_words(Reg.LR_SHIFT, cfg.n_layers, signed=False)
    await tb.bus(tb.axil.write(int(Reg.ID), bytes(4)), 1, "write to ID")   # an error for RESET to clear
    await tb.write_reg(Reg.CONTROL, int(Control.RESET))
    got = {name: await tb.read_reg(Reg[name])
           for name in ("STATUS", "ERROR", "CYCLES", "STEPS", "RESULT", "CONTROL", "SAMPLE")}
    got["PHASE_STEPS"] = [await tb.read_reg(Reg.PHASE_STEPS + 4 * i) for i in range(3)]
    # SAMPLE keeps the last sample load_sample selected (B - 1; never written when B = 1)
    assert got == {"STATUS": 0, "ERROR": 0, "CYCLES": 0, "STEPS": 0, "RESULT": result,
                   "CONTROL": last << CONTROL_MODE_SHIFT, "SAMPLE": cfg.samples - 1,
                   "PHASE_STEPS": [0, 0, 0]}, (
        f"registers after RESET: {got}")
    assert int(dut.irq.value) == 0, "irq after RESET (DONE is clear)"
    states = await tb.read_states()
    assert_codes(states[0], x, "RESET kept the input (state 0)")
    for k in range(1, cfg.n_layers + 1):
        assert_codes(states[k], np.zeros(cfg.sizes[k], dtype=np.int64), f"RESET cleared state layer {k}")
    if cfg.learning:
        assert_codes(await tb.read_words(Reg.TARGET, cfg.sizes[-1], signed=False), target, "RESET kept the target")
    assert_codes(await tb.read_words(Reg.LR_SHIFT, cfg.n_layers, signed=False), lr, "RESET kept LR_SHIFT")
    compare_params(await tb.params_back(check), params, "RESET kept the parameters")


# ----------------------------------------------------------------------------------------------
# cocotb tests

@cocotb.test()
@cocotb.parametrize(stalls=[False, True])
async def test_infer(dut, stalls):
    await run_infer(dut, stalls)


@cocotb.test()
@cocotb.parametrize(stalls=[False, True])
async def test_train(dut, stalls):
    await run_train(dut, stalls)


@cocotb.test()
async def test_illegal(dut):
    await run_illegal(dut)


@cocotb.test()
async def test_contract(dut):
    await run_contract(dut)
