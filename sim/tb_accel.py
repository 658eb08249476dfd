"""cocotb testbench of the exported accelerator (``eqprop_accel``) against the golden model `eqprop.golden`.

The host's view only: the parameters, input and target are loaded in bulk through the AXI4-Lite
windows of `eqprop.formats.Reg` (cocotbext-axi's `AxiLiteMaster`), CONTROL starts a command, and
Python then waits for the ``irq`` output (STATUS.DONE) under a cycle limit instead of driving every
cycle. Everything is read back through the windows and compared with the golden model bit for bit;
a mismatch names the case, the phase, the layer, the index, the expected and the actual code.

The cases come from the JSON file named by the environment variable `sim.runner.CASES_ENV`
(written by `write_cases`; figures such as simulated cycles per second go to the file named by
`sim.runner.STATS_ENV`); the expected values are computed here, from the same file, by the
reference helpers below. File order as in verilog-axis's testbenches: reference helpers,
``class TB``, ``run_test``-style test bodies, then the cocotb tests. The pytest entry point is
``tests/sim/test_cosim.py`` (via `sim.runner`).
"""

from __future__ import annotations

import dataclasses
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

from eqprop import golden
from eqprop.formats import CONTROL_MODE_SHIFT, WEIGHT_WINDOW, WINDOW_SIZE, Control, ErrorCode, Mode, Reg, Status
from eqprop.hwconfig import HwConfig
from rtl.schedule import cycle_model
from sim.runner import CASES_ENV, STATS_ENV

CLOCK_NS = 10   # the clock period; only the cycle counts matter


# ----------------------------------------------------------------------------------------------
# reference helpers

def write_cases(cfg: HwConfig, params: golden.IntParams, x: np.ndarray, target: np.ndarray) -> dict:
    """The JSON-able case file: configuration, parameters and, per case, an input and a target row."""
    return {"cfg": dataclasses.asdict(cfg),
            "params": {"shadow": [s.tolist() for s in params.shadow], "biases": [b.tolist() for b in params.biases]},
            "x": np.asarray(x).tolist(), "target": np.asarray(target).tolist()}


def load_cases(path: str | None = None) -> tuple[HwConfig, golden.IntParams, np.ndarray, np.ndarray]:
    """(cfg, params, x (B, n_0), target (B, n_out)) from the case file at `path` or ``$EQPROP_SIM_CASES``."""
    with open(path or os.environ[CASES_ENV]) as f:
        data = json.load(f)
    cfg = HwConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["cfg"].items()})
    params = golden.IntParams.from_shadow(cfg, [np.array(s, dtype=np.int64) for s in data["params"]["shadow"]],
                                          [np.array(b, dtype=np.int64) for b in data["params"]["biases"]])
    return cfg, params, np.array(data["x"], dtype=np.int64), np.array(data["target"], dtype=np.int64)


def ref_infer(cfg: HwConfig, params: golden.IntParams, x: np.ndarray) -> dict:
    """What INFER leaves behind for one input row x (1, n_0): the states s_1 .. s_L, RESULT and CYCLES."""
    states = golden.relax(cfg, params, x, steps=cfg.free_steps)   # L arrays, (1, n_{l+1})
    return {"states": [s[0] for s in states], "result": int(np.argmax(states[-1][0])),
            "cycles": cycle_model(cfg)["infer"], "steps": cfg.free_steps}


def ref_train(cfg: HwConfig, params: golden.IntParams, x: np.ndarray, target: np.ndarray) -> dict:
    """What TRAIN leaves behind: the new parameters, the free-phase states (the STATE windows show the
    free phase after TRAIN), RESULT (argmax of the free output), CYCLES and STEPS."""
    free = ref_infer(cfg, params, x)
    nudges = 2 if cfg.estimator == "symmetric" else 1
    return {**free, "params": golden.train_sample(cfg, params, x, target), "cycles": cycle_model(cfg)["train"],
            "steps": cfg.free_steps + nudges * cfg.nudge_steps}


def assert_codes(actual: np.ndarray, expected: np.ndarray, where: str) -> None:
    """Raise AssertionError naming `where`, the first mismatching index, expected and actual."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != expected {expected.shape}"
    bad = np.argwhere(actual != expected)
    if len(bad):
        i = tuple(int(v) for v in bad[0])
        raise AssertionError(f"{where}, index {i if len(i) > 1 else i[0]}: expected {int(expected[i])}, "
                             f"actual {int(actual[i])} ({len(bad)} of {expected.size} codes differ)\n"
                             f"expected {expected.tolist()}\nactual   {actual.tolist()}")


# ----------------------------------------------------------------------------------------------
# testbench

def _pauses(pattern):
    """A cocotbext-axi pause generator: True in a cycle means idle (source) or not ready (sink)."""
    return itertools.cycle(pattern)


class TB:
    """Clock, AXI4-Lite master and reset of ``eqprop_accel``; bulk window access and commands."""

    def __init__(self, dut, cfg: HwConfig):
        self.dut, self.cfg = dut, cfg
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.wait_cycles, self.wait_s = 0, 0.0   # cycles and wall time spent waiting for DONE

    def set_stalls(self, on: bool) -> None:
        """Idle cycles on AW, W and AR and back-pressure on B and R (a 1-in-3 and a 1-in-2 pattern), or none."""
        w, r = self.axil.write_if, self.axil.read_if
        for channel, pattern in ((w.aw_channel, [0, 0, 1]), (w.w_channel, [0, 1, 1]), (w.b_channel, [1, 0]),
                                 (r.ar_channel, [0, 1, 0]), (r.r_channel, [1, 1, 0])):
            if on:
                channel.set_pause_generator(_pauses(pattern))
            else:
                channel.clear_pause_generator()

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
        await self.axil.write_dwords(int(base), [int(v) & 0xFFFF_FFFF for v in np.ravel(values)])

    async def read_words(self, base: int, count: int, *, signed: bool) -> np.ndarray:
        words = np.array(await self.axil.read_dwords(int(base), count), dtype=np.int64)
        return np.where(words >= 1 << 31, words - (1 << 32), words) if signed else words

    async def read_reg(self, reg: int) -> int:
        return int(await self.axil.read_dword(int(reg)))

    async def load_params(self, params: golden.IntParams) -> None:
        """Shadows (each write re-derives its weight) and biases, through the windows."""
        for l in range(self.cfg.n_layers):
            await self.write_words(Reg.SHADOW + l * WEIGHT_WINDOW, params.shadow[l])   # row-major [r, c]
            await self.write_words(Reg.BIAS + l * WINDOW_SIZE, params.biases[l])

    async def load_sample(self, x: np.ndarray, target: np.ndarray | None = None) -> None:
        await self.write_words(Reg.INPUT, x)
        if target is not None:
            await self.write_words(Reg.TARGET, target)

    async def read_states(self) -> list[np.ndarray]:
        """s_0 (the input) .. s_L from the STATE windows."""
        return [await self.read_words(Reg.STATE + k * WINDOW_SIZE, n, signed=False)
                for k, n in enumerate(self.cfg.sizes)]

    async def read_params(self) -> dict[str, list[np.ndarray]]:
        cfg, out = self.cfg, {"shadow": [], "weights": [], "biases": []}
        for l in range(cfg.n_layers):
            shape = (cfg.sizes[l + 1], cfg.sizes[l])
            out["shadow"].append((await self.read_words(Reg.SHADOW + l * WEIGHT_WINDOW, shape[0] * shape[1],
                                                        signed=True)).reshape(shape))
            out["weights"].append((await self.read_words(Reg.WEIGHT + l * WEIGHT_WINDOW, shape[0] * shape[1],
                                                         signed=True)).reshape(shape))
            out["biases"].append(await self.read_words(Reg.BIAS + l * WINDOW_SIZE, shape[0], signed=True))
        return out

    async def command(self, mode: int, *, what: str) -> int:
        """Write CONTROL = START | mode, then wait for the rising edge of ``irq`` (STATUS.DONE) within
        twice the longest command's modelled cycles plus 1,000 (a hung design fails, it does not hang);
        returns STATUS, which must show DONE and neither BUSY nor ERROR."""
        model = cycle_model(self.cfg)
        limit = 2 * max(model["infer"], model["train"]) + 1000
        await self.axil.write_dword(int(Reg.CONTROL), int(Control.START) | int(mode) << CONTROL_MODE_SHIFT)
        wall, sim0 = time.perf_counter(), get_sim_time("ns")
        try:
            # irq (sticky DONE) fell when the START was taken; its rising edge ends the command
            await with_timeout(RisingEdge(self.dut.irq), limit * CLOCK_NS, "ns")
        except SimTimeoutError:
            raise AssertionError(f"{what}: no DONE within {limit} cycles (the model says "
                                 f"{model['infer'] if mode == Mode.INFER else model['train']})") from None
        self.wait_s += time.perf_counter() - wall
        self.wait_cycles += round((get_sim_time("ns") - sim0) / CLOCK_NS)
        status = await self.read_reg(Reg.STATUS)
        assert status == Status.DONE, f"{what}: STATUS {status:#x} after the command, expected DONE only"
        return status


# ----------------------------------------------------------------------------------------------
# test bodies

async def start(dut, stalls: bool) -> tuple[TB, HwConfig, golden.IntParams, np.ndarray, np.ndarray]:
    cfg, params, x, target = load_cases()
    tb = TB(dut, cfg)
    await tb.reset()
    tb.set_stalls(stalls)
    return tb, cfg, params, x, target


def save_stats(**stats) -> None:
    path = os.environ.get(STATS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(stats) + "\n")


async def run_infer(dut, stalls: bool) -> None:
    """Every case: load, INFER, read back every state, RESULT, CYCLES and STEPS; compare with `ref_infer`."""
    tb, cfg, params, xs, _ = await start(dut, stalls)
    await tb.load_params(params)
    back = await tb.read_params()
    for l in range(cfg.n_layers):   # the loading path itself: shadows written, weights derived
        assert_codes(back["shadow"][l], params.shadow[l], f"after loading: shadow layer {l}")
        assert_codes(back["weights"][l], params.weights[l], f"after loading: weight layer {l}")
        assert_codes(back["biases"][l], params.biases[l], f"after loading: bias layer {l}")
    wall, sim0 = time.perf_counter(), get_sim_time("ns")
    results = []
    for case, x in enumerate(xs):
        ref = ref_infer(cfg, params, x[None, :])
        await tb.load_sample(x)
        await tb.command(Mode.INFER, what=f"case {case} INFER")
        states = await tb.read_states()
        assert_codes(states[0], x, f"case {case} INFER: state window 0 (the input)")
        for k in range(1, cfg.n_layers + 1):
            assert_codes(states[k], ref["states"][k - 1], f"case {case} INFER free phase: state layer {k}")
        for reg, name in ((Reg.RESULT, "result"), (Reg.CYCLES, "cycles"), (Reg.STEPS, "steps")):
            got = await tb.read_reg(reg)
            assert got == ref[name], f"case {case} INFER: {reg.name} expected {ref[name]}, actual {got}"
            if reg == Reg.RESULT:
                results.append(got)
    save_stats(test="infer", stalls=stalls, cases=len(xs), results=results,
               command_cycles=len(xs) * cycle_model(cfg)["infer"],
               sim_cycles=round((get_sim_time("ns") - sim0) / CLOCK_NS), wall_s=time.perf_counter() - wall,
               wait_cycles=tb.wait_cycles, wait_s=tb.wait_s)


async def run_train(dut, stalls: bool) -> None:
    """Every case in turn (online): TRAIN, then every shadow, weight and bias, the states and the
    counters against `ref_train`, whose new parameters are the next case's reference."""
    tb, cfg, params, xs, targets = await start(dut, stalls)
    await tb.load_params(params)
    for case, (x, t) in enumerate(zip(xs, targets, strict=True)):
        ref = ref_train(cfg, params, x[None, :], t[None, :])
        await tb.load_sample(x, t)
        await tb.command(Mode.TRAIN, what=f"case {case} TRAIN")
        back = await tb.read_params()
        for what in ("shadow", "weights", "biases"):
            for l in range(cfg.n_layers):
                assert_codes(back[what][l], getattr(ref["params"], what)[l],
                             f"case {case} TRAIN update: {what} layer {l}")
        states = await tb.read_states()
        for k in range(1, cfg.n_layers + 1):
            assert_codes(states[k], ref["states"][k - 1], f"case {case} TRAIN free phase: state layer {k}")
        for reg, name in ((Reg.RESULT, "result"), (Reg.CYCLES, "cycles"), (Reg.STEPS, "steps")):
            got = await tb.read_reg(reg)
            assert got == ref[name], f"case {case} TRAIN: {reg.name} expected {ref[name]}, actual {got}"
        params = ref["params"]


async def run_bad_mode(dut) -> None:
    """START with mode 3 (not a Mode): SLVERR, STATUS.ERROR with BAD_MODE, no command runs, no state changes."""
    tb, cfg, params, xs, _ = await start(dut, False)
    await tb.load_params(params)
    await tb.load_sample(xs[0])
    await tb.command(Mode.INFER, what="INFER before the illegal command")
    before = (await tb.read_states(), await tb.read_params(), await tb.read_reg(Reg.CYCLES))
    resp = await tb.axil.write(int(Reg.CONTROL), (int(Control.START) | 3 << CONTROL_MODE_SHIFT).to_bytes(4, "little"))
    assert resp.resp == AxiResp.SLVERR, f"unknown mode: BRESP expected SLVERR, actual {resp.resp!r}"
    await ClockCycles(dut.clk, cycle_model(cfg)["infer"] + 10)   # long enough for a command to have run
    status, error = await tb.read_reg(Reg.STATUS), await tb.read_reg(Reg.ERROR)
    assert status & Status.ERROR and not status & Status.BUSY, f"unknown mode: STATUS {status:#x}"
    assert error == ErrorCode.BAD_MODE, f"unknown mode: ERROR expected {int(ErrorCode.BAD_MODE)}, actual {error}"
    after = (await tb.read_states(), await tb.read_params(), await tb.read_reg(Reg.CYCLES))
    for k, (a, b) in enumerate(zip(after[0], before[0], strict=True)):
        assert_codes(a, b, f"unknown mode changed state layer {k}")
    for what in before[1]:
        for l, (a, b) in enumerate(zip(after[1][what], before[1][what], strict=True)):
            assert_codes(a, b, f"unknown mode changed {what} layer {l}")
    assert after[2] == before[2], f"unknown mode changed CYCLES: {before[2]} -> {after[2]}"


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
async def test_bad_mode(dut):
    await run_bad_mode(dut)
