"""The tiled core (`rtl.tiled_core.TiledCore`) simulated against the golden model, and its fuzzer.

`simulate` runs one command on the core in Amaranth's simulator (the core has no register map yet, so the
memories are loaded as the host port writes them, or given as initial contents, and read back directly) and
`compare` checks it against `eqprop.hw.golden.settle`: every state of every sample, each sample's steps, its
argmax, and the command's CYCLES against the exact cycle model (`rtl.tiled_core.command_cycles`).

``python -m sim.fuzz --tiled --count 50 --seed 1`` (`fuzz`) draws `count` points (`sim.fuzz.draw_tiled`),
each a configuration of `sim.fuzz.random_config` made inference-only (widths, sizes, shifts, rounding, early
exit and the cached drive all drawn) with a drawn tile (PE and SIMD from 1 to the widest layer, most dividing
no layer), samples per command and slots, and runs every parameter family of `sim.vectors.corner_sets`
(random weights, the largest and smallest weights and biases, checkerboards, sparse and tiny ones) on corner
and random inputs. Point i is drawn from ``numpy.random.default_rng([seed, i])``; a failing point prints the
line that replays it.

Learning cores: `simulate_train` runs TRAIN and INFER commands one after another (each command's input and
target written through the host port) and reads back every shadow weight, weight and bias after each;
`compare_train` checks them against `eqprop.hw.golden.train_sample`, with each phase's steps, the result and
CYCLES (`rtl.tiled_core.train_cycles`). ``python -m sim.fuzz --tiled --learning`` (`sim.fuzz.draw_tiled_learning`)
fuzzes them: two TRAINs and an INFER of the core's samples on each parameter family.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import unpack_words
from sim.vectors import FAMILIES, corner_sets

__all__ = ["TiledPoint", "compare", "compare_train", "fuzz", "run_tiled_point", "simulate", "simulate_train"]

MAX_CYCLES = 1_000_000


async def _write_rows(ctx, dut, rows: dict[int, dict[int, list[int]]]):
    """Write `rows` ({``host.sel``: {row: codes}}) through the host port: each row's chunks into the staging
    row, then committed."""
    ctx.set(dut.host.we, 1)
    for sel, memory in rows.items():
        ctx.set(dut.host.sel, sel)
        for addr, codes in memory.items():
            ctx.set(dut.host.commit, 0)
            for chunk, bits in enumerate(dut.host_chunks(sel, codes)):
                ctx.set(dut.host.lane, chunk)
                ctx.set(dut.host.wdata, bits)
                await ctx.tick()
            ctx.set(dut.host.commit, 1)
            ctx.set(dut.host.addr, addr)
            await ctx.tick()
    ctx.set(dut.host.we, 0)
    ctx.set(dut.host.commit, 0)


async def _command(ctx, dut, what: str = "the command"):
    """Start a command and wait for DONE (at most `MAX_CYCLES` cycles)."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    for _ in range(MAX_CYCLES):
        await ctx.tick()
        if ctx.get(dut.done):
            return
    raise AssertionError(f"{what} did not finish in {MAX_CYCLES} cycles")


def simulate(cfg: HwConfig, pe: int, simd: int, samples: int, x, params: golden.IntParams, slots: int | None = None,
             *, through_host: bool = False, dsp_products: int | None = None) -> dict:
    """Run one command of `samples` samples on `TiledCore` in Amaranth's simulator; return its final states (per
    layer, (samples, n_k)), ``steps``, ``results`` and ``cycles``. The memories start with `params` and `x`, or
    with `through_host`, empty and written through the host port first (elements into the staging row, then
    committed). `dsp_products`: `TiledCore`'s (INT products built in logic)."""
    from amaranth.sim import Simulator

    from rtl.tiled_core import TiledCore

    if through_host:
        dut = TiledCore(cfg=cfg, pe=pe, simd=simd, samples=samples, slots=slots, dsp_products=dsp_products)
        written = dut.host_rows(params, x)
    else:
        dut = TiledCore(cfg=cfg, pe=pe, simd=simd, samples=samples, slots=slots, params=params, inputs=x,
                        dsp_products=dsp_products)
    out = {}

    async def tb(ctx):
        if through_host:
            await _write_rows(ctx, dut, written)
        await _command(ctx, dut)
        steps = [ctx.get(dut.steps[s]) for s in range(samples)]
        states = []
        for k in range(1, cfg.n_layers + 1):
            size, rows = dut.plan.block_size(k), []
            for s in range(samples):
                words = [ctx.get(dut.state_mem[k][dut.state_address(k, s, steps[s] % 2, a)])
                         for a in range(dut.plan.blocks(k))]
                rows.append(unpack_words(words, cfg.state_bits, size, signed=False, count=cfg.sizes[k]))
            states.append(np.array(rows, dtype=np.int64))
        out.update(steps=steps, states=states, cycles=ctx.get(dut.cycles),
                   results=[ctx.get(dut.results[s]) for s in range(samples)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return out


def compare(cfg: HwConfig, pe: int, simd: int, got: dict, x, params: golden.IntParams,
            slots: int | None = None) -> list[str]:
    """The mismatches of a `simulate` result against the golden model (none: an empty list), one line each."""
    from rtl.tiled_core import command_cycles

    want = golden.settle(cfg, params, x, steps=cfg.free_steps)
    bad = []
    for k, (g, w) in enumerate(zip(got["states"], want.states, strict=True), start=1):
        rows = [int(s) for s in np.flatnonzero((g != w).any(axis=1))]
        if rows:
            bad.append(f"states of layer {k} differ in samples {rows}")
    if got["steps"] != want.steps.tolist():
        bad.append(f"steps {got['steps']}, golden {want.steps.tolist()}")
    if got["results"] != want.states[-1].argmax(axis=1).tolist():
        bad.append(f"results {got['results']}, golden {want.states[-1].argmax(axis=1).tolist()}")
    model = command_cycles(cfg, pe, simd, want.steps, slots)
    if got["cycles"] != model:
        bad.append(f"CYCLES {got['cycles']}, cycle model {model}")
    return bad


def simulate_train(cfg: HwConfig, pe: int, simd: int, x, targets, params: golden.IntParams, *,
                   train=True, through_host: bool = False, dsp_products: int | None = None,
                   update_rows: int = 1, samples: int = 1, slots: int | None = None) -> list[dict]:
    """Run one command a row of `x` ((commands, n_0) codes) on a learning `TiledCore` in Amaranth's simulator:
    TRAIN with the row of `targets` ((commands, n_out) codes), or INFER where `train` (a bool, or one per
    command) is False. The parameters start as `params` (initial contents, or with `through_host` written
    through the host port); each command's input and target are written through the host port before it.
    After each command: ``steps`` (free, then the nudged phases'), ``result``, ``cycles``, the free states
    (``states``, per layer) and the parameters as the memories hold them (``params``: shadow, weights and
    biases). `dsp_products`, `update_rows`, `samples`, `slots`: `TiledCore`'s (a core of several samples runs
    TRAIN commands only here, each on its first sample; `simulate` runs its INFER)."""
    from amaranth.sim import Simulator

    from rtl.tiled_core import TiledCore

    x, targets = np.asarray(x, dtype=np.int64), np.asarray(targets, dtype=np.int64)
    trains = [train] * len(x) if isinstance(train, bool) else list(train)
    if samples > 1 and not all(trains):
        raise ValueError("simulate_train runs TRAIN commands only on a core of several samples (simulate: INFER)")
    dut = TiledCore(cfg=cfg, pe=pe, simd=simd, samples=samples, slots=slots,
                    params=None if through_host else params, dsp_products=dsp_products, update_rows=update_rows)
    plan, L = dut.plan, cfg.n_layers
    out = []

    def read_params(ctx):
        return dut.params_from_words({sel: [ctx.get(md[a]) for a in range(md.depth)]
                                      for sel, md in dut.parameter_memories().items()})

    async def tb(ctx):
        if through_host:
            await _write_rows(ctx, dut, dut.host_rows(params))
        for l in range(L):
            ctx.set(dut.lr_shift[l], cfg.lr_shifts[l])
        for i in range(len(x)):
            rows = dut.host_rows(None, None, targets[i:i + 1])
            rows[dut.host_target("input")] = dut.input_rows(0, x[i])
            await _write_rows(ctx, dut, rows)
            ctx.set(dut.train, int(trains[i]))
            await _command(ctx, dut, f"command {i}")
            steps = [ctx.get(dut.steps[s]) for s in range(dut.state_samples)]
            states = []
            for k in range(1, L + 1):
                words = [ctx.get(dut.state_mem[k][dut.state_address(k, 0, steps[0] % 2, a)])
                         for a in range(plan.blocks(k))]
                states.append(unpack_words(words, cfg.state_bits, plan.block_size(k), signed=False,
                                           count=cfg.sizes[k])[None])
            out.append(dict(steps=steps[:1 + dut.nudged] if trains[i] else steps[:1], result=ctx.get(dut.results[0]),
                            cycles=ctx.get(dut.cycles), states=states, params=read_params(ctx)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return out


def compare_train(cfg: HwConfig, pe: int, simd: int, got: list[dict], x, targets, params: golden.IntParams,
                  train=True, *, update_rows: int = 1) -> list[str]:
    """The mismatches of a `simulate_train` run against `eqprop.hw.golden` (none: an empty list), one line each:
    each command's phases (``run_phases``: every free state, each phase's steps), its result, its cycles (the
    exact models `rtl.tiled_core.train_cycles` and `command_cycles`) and, after a TRAIN, every shadow weight,
    weight and bias (`golden.train_sample`)."""
    from rtl.tiled_core import command_cycles, train_cycles

    x, targets = np.asarray(x, dtype=np.int64), np.asarray(targets, dtype=np.int64)
    trains = [train] * len(x) if isinstance(train, bool) else list(train)
    bad = []
    for i, g in enumerate(got):
        xi, ti = x[i:i + 1], targets[i:i + 1]
        phases = golden.run_phases(cfg, params, xi, ti) if trains[i] else {
            "free": golden.settle(cfg, params, xi, steps=cfg.free_steps)}
        names = [p for p in ("free", "plus", "minus", "nudged") if p in phases]
        steps = [int(phases[p].steps[0]) for p in names]
        where = f"command {i} ({'TRAIN' if trains[i] else 'INFER'})"
        for k, (gs, ws) in enumerate(zip(g["states"], phases["free"].states, strict=True), start=1):
            if not np.array_equal(gs, ws):
                bad.append(f"{where}: free states of layer {k} differ at {np.flatnonzero(gs != ws).tolist()}")
        if g["steps"] != steps:
            bad.append(f"{where}: steps {g['steps']}, golden {steps} ({', '.join(names)})")
        if g["result"] != int(phases["free"].states[-1][0].argmax()):
            bad.append(f"{where}: result {g['result']}, golden {int(phases['free'].states[-1][0].argmax())}")
        model = (train_cycles(cfg, pe, simd, *steps, update_rows=update_rows) if trains[i]
                 else command_cycles(cfg, pe, simd, steps, 1))
        if g["cycles"] != model:
            bad.append(f"{where}: CYCLES {g['cycles']}, cycle model {model}")
        if trains[i]:
            params = golden.train_sample(cfg, params, xi, ti)
        for what in ("shadow", "weights", "biases"):
            for l, (gp, wp) in enumerate(zip(getattr(g["params"], what), getattr(params, what), strict=True)):
                if not np.array_equal(gp, wp):
                    idx = [tuple(int(v) for v in t) for t in np.argwhere(gp != wp)[:4]]
                    bad.append(f"{where}: {what} of layer {l} differ at {idx} (first: RTL {gp[idx[0]]}, golden "
                               f"{wp[idx[0]]})")
    return bad


@dataclasses.dataclass(frozen=True)
class TiledPoint:
    """A fuzzed tiled core: its configuration, tile, samples per command and slots (a learning core's: its tile rows
    updated a cycle)."""

    cfg: HwConfig
    pe: int
    simd: int
    samples: int
    slots: int
    update_rows: int = 1

    def describe(self) -> str:
        c = self.cfg
        return (f"{'-'.join(map(str, c.sizes))} {c.weight_format}{c.weight_bits} s{c.state_bits} T={c.free_steps} "
                f"early_exit={c.early_exit} cache_drive={c.cache_drive} tile {self.pe}x{self.simd} "
                f"samples {self.samples} slots {self.slots}"
                + (f" learning {c.estimator} K={c.nudge_steps} {c.rounding} update_rows {self.update_rows}"
                   if c.learning else ""))


def run_tiled_point(point: TiledPoint, *, vector_seed: int = 0) -> list[str]:
    """Every parameter family of `sim.vectors.corner_sets` on the point (a command of its samples each); the
    mismatches, each prefixed with its family."""
    c = point.cfg
    bad = []
    if c.learning:     # two TRAIN commands a family (every shadow weight, weight and bias after each), and an INFER
        n = max(2, point.samples)
        for case in corner_sets(c, len(FAMILIES) * n, seed=vector_seed):
            x, t = (np.asarray(case[k], dtype=np.int64)[:n] for k in ("x", "target"))
            params = golden.IntParams.from_shadow(c, [np.asarray(a, dtype=np.int64) for a in case["shadow"]],
                                                  [np.asarray(b, dtype=np.int64) for b in case["biases"]])
            got = simulate_train(c, point.pe, point.simd, x[:2], t[:2], params, update_rows=point.update_rows,
                                 samples=point.samples, slots=point.slots)
            bad += [f"{case['name']}: {line}" for line in compare_train(c, point.pe, point.simd, got, x[:2], t[:2],
                                                                         params, update_rows=point.update_rows)]
            got = simulate(c, point.pe, point.simd, point.samples, x[:point.samples], params, point.slots)
            bad += [f"{case['name']} INFER: {line}" for line in compare(c, point.pe, point.simd, got,
                                                                         x[:point.samples], params, point.slots)]
        return bad
    for case in corner_sets(c, len(FAMILIES) * point.samples, seed=vector_seed):
        x = np.asarray(case["x"], dtype=np.int64)[:point.samples]
        params = golden.IntParams.from_shadow(c, [np.asarray(a, dtype=np.int64) for a in case["shadow"]],
                                              [np.asarray(b, dtype=np.int64) for b in case["biases"]])
        got = simulate(c, point.pe, point.simd, point.samples, x, params, point.slots)
        bad += [f"{case['name']}: {line}" for line in compare(c, point.pe, point.simd, got, x, params, point.slots)]
    return bad


def fuzz(count: int, draw, *, seed: int = 0, start: int = 0, echo=print) -> int:
    """Run points ``start .. start + count - 1`` of the tiled fuzz run with `seed`, point i being ``draw(seed, i)``
    (`sim.fuzz.draw_tiled`); returns the number that failed."""
    failed = 0
    for i in range(start, start + count):
        point, t = draw(seed, i), time.perf_counter()
        bad = run_tiled_point(point, vector_seed=seed)
        status = "ok" if not bad else "MISMATCH"
        echo(f"[tiled {i}] {point.describe()}: {status} ({time.perf_counter() - t:.1f} s)")
        if bad:
            failed += 1
            echo("    " + "\n    ".join(bad[:8]))
            echo(f"    replay: python -m sim.fuzz --tiled --seed {seed} --start {i} --count 1")
    return failed
