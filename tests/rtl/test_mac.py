# amaranth: UnusedElaboratable=no
"""MAC lanes against the golden model's sums: bottom-up and top-down blocks at the extremes of every
weight format (int8, int4, ternary), one accumulator check per operation."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.hw.formats import memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_words
from rtl.mac import MacLanes, bias_delay, mac_latency
from rtl.schedule import Issue
from tests.rtl._sim import run

CONFIGS = {
    "int8": HwConfig(sizes=(5, 6, 3), mac_lanes=4, weight_frac=(4, 7)),
    "int4": HwConfig(sizes=(5, 6, 3), mac_lanes=2, weight_bits=4, shadow_bits=10, weight_frac=(3, 1)),
    "ternary": HwConfig(sizes=(5, 6, 3), mac_lanes=4, weight_format="ternary", weight_bits=2, shadow_bits=8),
    "int8-P1": HwConfig(sizes=(5, 6, 3), mac_lanes=1),
    "int8-P3": HwConfig(sizes=(7, 5, 3), mac_lanes=3),                 # P does not divide the layers
    "int8-P8": HwConfig(sizes=(20, 9, 3), mac_lanes=8),                # two adder-tree stages
}


def block_ops(cfg, l, rng, kind):
    """The operations of one neuron block of layer l, as the core issues them: load the biases, the
    top-down words (one per upper neuron), then the bottom-up words of each neuron of the block.
    `kind` "max"/"min" drives every operand to its extreme of one sign (the worst-case sum)."""
    p, n = cfg.mac_lanes, cfg.sizes
    def weights(valid):  # lanes past the matrix edge hold the layout's zero padding
        if kind == "max":
            w = [cfg.weight_max] * p
        elif kind == "min":
            w = [-cfg.weight_max] * p
        else:
            w = rng.integers(-cfg.weight_max, cfg.weight_max + 1, p).tolist()
        return [v if i < valid else 0 for i, v in enumerate(w)]
    def states():
        return [cfg.state_max] * p if kind != "random" else rng.integers(0, cfg.state_max + 1, p).tolist()
    bias = {"max": [cfg.bias_max] * p, "min": [-cfg.bias_max] * p}.get(
        kind, rng.integers(-cfg.bias_max, cfg.bias_max + 1, p).tolist())
    ops = [dict(op=Issue.LOAD, bias=bias)]
    a = cfg.acc_align(l)
    if l + 1 < cfg.n_layers:
        for j in range(n[l + 2]):   # upper state j is lane j % P of its state word
            ops.append(dict(op=Issue.TOP_DOWN, weights=weights(n[l + 1]), bcast=states()[0], lane=j % p,
                            shift=a - cfg.weight_frac[l + 1]))
    words = memory_layout(cfg)[f"weight.{l}"].words_per_row
    for lane in range(min(p, n[l + 1])):  # the first block: neurons 0 .. P-1
        for word in range(words):
            ops.append(dict(op=Issue.BOTTOM_UP, weights=weights(n[l] - word * p), states=states(), lane=lane,
                            shift=a - cfg.weight_frac[l]))
    ops.append(dict(op=Issue.NONE))
    return ops


def ref_mac(cfg, ops):
    """The accumulators after each operation, computed with Python integers."""
    acc = np.zeros(cfg.mac_lanes, dtype=object)
    out = []
    for o in ops:
        if o["op"] == Issue.LOAD:
            acc[:] = o["bias"]
        elif o["op"] == Issue.BOTTOM_UP:
            acc[o["lane"]] += sum(w * s for w, s in zip(o["weights"], o["states"], strict=True)) << o["shift"]
        elif o["op"] == Issue.TOP_DOWN:
            acc += np.array([w * o["bcast"] << o["shift"] for w in o["weights"]], dtype=object)
        out.append(acc.astype(np.int64))
    return np.array(out)


def rtl_mac(cfg, ops, bubbles=None):
    """The accumulators once each operation has reached them (`mac_latency` cycles after it is presented),
    the operations presented one per cycle with a bubble (``Issue.NONE``) before each where `bubbles`
    (a random generator) says so: the answers must not depend on the bubbles."""
    dut = MacLanes(cfg=cfg)
    p, latency = cfg.mac_lanes, mac_latency(cfg)
    schedule, when = [], []
    for o in ops:
        while bubbles is not None and bubbles.random() < 0.3:
            schedule.append(dict(op=Issue.NONE, weights=bubbles.integers(-1, 2, p).tolist(), lane=0))
        when.append(len(schedule))
        schedule.append(o)
    out = {}

    async def tb(ctx):
        for cycle in range(len(schedule) + latency):
            o = schedule[cycle] if cycle < len(schedule) else dict(op=Issue.NONE)
            ctx.set(dut.op, o["op"])
            ctx.set(dut.weights, pack_words(o.get("weights", [0] * p), cfg.weight_bits, p, True)[0])
            states = o.get("states", [0] * p)
            if o["op"] == Issue.TOP_DOWN:    # the broadcast state sits in lane `lane` of its word
                states = [o["bcast"] if i == o.get("lane", 0) else 0 for i in range(p)]
            ctx.set(dut.states, pack_words(states, cfg.state_bits, p, False)[0])
            late = cycle - bias_delay(cfg)      # a LOAD's bias comes when the LOAD reaches the accumulators
            b = schedule[late] if 0 <= late < len(schedule) else {}
            ctx.set(dut.load, [int(v) for v in b.get("bias", [0] * p)])
            ctx.set(dut.lane, o.get("lane", 0))
            ctx.set(dut.shift, o.get("shift", 0))
            await ctx.tick()
            out[cycle + 1] = [ctx.get(dut.acc[i]) for i in range(p)]

    run(dut, tb)
    return np.array([out[t + latency] for t in when], dtype=np.int64)


def cases():
    rng = np.random.default_rng(1)
    for name, cfg in CONFIGS.items():
        for l in range(cfg.n_layers):
            for kind in ("max", "min", "random", "random"):
                yield pytest.param(cfg, block_ops(cfg, l, rng, kind), id=f"{name}-layer{l}-{kind}")


@pytest.mark.parametrize("cfg, ops", list(cases()))
@pytest.mark.parametrize("bubbles", [False, True])
def test_mac_matches_reference(cfg, ops, bubbles):
    ref = ref_mac(cfg, ops)
    rtl = rtl_mac(cfg, ops, np.random.default_rng(len(ops)) if bubbles else None)
    for i, (r, g) in enumerate(zip(ref, rtl, strict=True)):
        assert_array_equal(g, r, err_msg=f"op {i} ({ops[i]['op'].name}): accumulators")


def test_extremes_reach_the_accumulator_width():
    """The all-max block uses the top bits of the accumulator: the width is tight, not just safe."""
    cfg = CONFIGS["int8"]
    ops = block_ops(cfg, 0, np.random.default_rng(0), "max")
    top = int(ref_mac(cfg, ops)[-1].max())
    assert top.bit_length() + 1 >= cfg.acc_bits - 1


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not 3$"):
        MacLanes(cfg=3)
