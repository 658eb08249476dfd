"""The examples in examples/ run: `examples/amaranth_classifier.py`'s user design, holding the core and
driving its bus itself, classifies inputs one after another exactly as the golden model does."""

import importlib.util
from pathlib import Path

import numpy as np

from eqprop.hw.hwconfig import HwConfig
from rtl.command import ref_infer
from tests.rtl._sim import run
from tests.rtl.test_core import make_case

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_amaranth_classifier_matches_the_golden_model():
    cfg = HwConfig(sizes=(4, 5, 3), mac_lanes=2, free_steps=6, nudge_steps=2)
    params, _, _ = make_case(cfg, seed=3)
    rng = np.random.default_rng(4)
    inputs = rng.integers(0, cfg.state_max + 1, (4, cfg.sizes[0]))
    expected = [ref_infer(cfg, params, x[None])["result"] for x in inputs]
    assert len(set(expected)) > 1, "the inputs give different classes, so a stale result would show"
    dut = _load("amaranth_classifier").Classifier(cfg, params)
    got = []

    async def tb(ctx):
        for x in inputs:
            ctx.set(dut.pixels, [int(v) for v in x])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for _ in range(20_000):
                await ctx.tick()
                if ctx.get(dut.valid):
                    break
            got.append(ctx.get(dut.result) if ctx.get(dut.valid) else None)

    run(dut, tb)
    assert got == expected
