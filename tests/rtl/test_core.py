# amaranth: UnusedElaboratable=no
"""The core against the golden model: every state after every relaxation step of every phase
(`golden.relax` traces), every shadow, weight and bias after a training step (`golden.train_sample`),
the argmax result, and the simulated cycle count against `rtl.core.cycle_model`."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.formats import Mode, Window, memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import pack_region, unpack_region
from rtl.core import Core
from rtl.schedule import Phase, command_cycles, command_phases, cycle_model, golden_steps, phase_name, zero_skips
from tests.rtl._sim import run

SMALL = dict(sizes=(5, 6, 3), free_steps=4, nudge_steps=2)
CONFIGS = {
    "int8-P2": HwConfig(**SMALL, mac_lanes=2),
    "int8-P4-3layer": HwConfig(sizes=(5, 6, 4, 3), free_steps=3, nudge_steps=2, mac_lanes=4, weight_frac=(5, 7, 6)),
    "int4-floor-onesided-P4": HwConfig(**SMALL, mac_lanes=4, weight_bits=4, shadow_bits=10, rounding="floor",
                                       estimator="one-sided", weight_frac=(3, 2)),
    "ternary-half_up-P4": HwConfig(**SMALL, mac_lanes=4, weight_format="ternary", weight_bits=2, shadow_bits=8,
                                   rounding="half_up", eps_shift=0, lr_shifts=(2, 3)),
    "int8-eps2-beta3-P1": HwConfig(**SMALL, mac_lanes=1, eps_shift=2, beta_shift=3),
    # P does not divide n; the drive recomputed at every step, every phase to its limit
    "int8-P3-wide-full": HwConfig(sizes=(7, 4, 5), free_steps=3, nudge_steps=2, mac_lanes=3, cache_drive=False,
                                  early_exit=False),
    "one-layer-P2": HwConfig(sizes=(4, 3), free_steps=3, nudge_steps=2, mac_lanes=2),      # no hidden layer
    # limits long enough for the phases to reach their fixed points: early exit ends them
    "int8-P2-settles": HwConfig(sizes=(5, 6, 3), free_steps=40, nudge_steps=25, mac_lanes=2),
    "int8-P3-settles-nocache": HwConfig(sizes=(7, 4, 5), free_steps=40, nudge_steps=25, mac_lanes=3,
                                        cache_drive=False),
    # 64 lanes: one word per state, a 64-input adder tree (three stages)
    "int8-P64": HwConfig(sizes=(64, 12, 5), free_steps=8, nudge_steps=4, mac_lanes=64),
    # zero-skipping: the top-down runs walk the nonzero upper states (two such layers; P does not divide n)
    "int8-P4-3layer-skip": HwConfig(sizes=(5, 6, 4, 3), free_steps=30, nudge_steps=12, mac_lanes=4,
                                    weight_frac=(5, 7, 6), zero_skip=True),
    "int8-P3-settles-skip-nocache": HwConfig(sizes=(7, 4, 5), free_steps=40, nudge_steps=25, mac_lanes=3,
                                             cache_drive=False, zero_skip=True),
}


def make_case(cfg, seed):
    """Parameters that give lively states (gain 3, random biases), an input and a one-hot target."""
    rng = np.random.default_rng(seed)
    params = golden.init_params(cfg, seed=seed, gain=3.0)
    biases = [rng.integers(-(cfg.state_max << cfg.acc_align(l)) // 2, (cfg.state_max << cfg.acc_align(l)) // 2,
                           cfg.sizes[l + 1]) for l in range(cfg.n_layers)]
    params = golden.IntParams.from_shadow(cfg, params.shadow, [np.clip(b, -cfg.bias_max, cfg.bias_max)
                                                               for b in biases])
    x = rng.integers(0, cfg.state_max + 1, (1, cfg.sizes[0]))
    target = golden.encode_targets(cfg, rng.integers(0, cfg.sizes[-1], 1))
    return params, x, target


def ref_train(cfg, params, x, target):
    trace = golden.Trace()
    new = golden.train_sample(cfg, params, x, target, trace=trace)
    return trace, new


def rtl_run(cfg, params, x, target, mode):
    """Run one command; returns (states per phase per step, params read back, result, cycles, steps)."""
    dut = Core(cfg=cfg, params=params)
    layout = memory_layout(cfg)
    names = {Phase.FREE: "free", Phase.PLUS: "plus" if cfg.estimator == "symmetric" else "nudged",
             Phase.MINUS: "minus"}
    states = {}
    out = {}

    def joined(region, rows):      # the words of B samples side by side (sample b in the b-th slice)
        return [sum(w << (b * region.word_bits) for b, w in enumerate(ws))
                for ws in zip(*(pack_region(region, r) for r in rows), strict=True)]

    def split(region, words):      # (B, n): each sample's slice of the words
        mask = (1 << region.word_bits) - 1
        return np.stack([unpack_region(region, [w >> (b * region.word_bits) & mask for w in words])
                         for b in range(cfg.samples)])

    async def tb(ctx):
        assert len(x) == cfg.samples
        for a, word in enumerate(joined(layout["state.0"], x)):
            ctx.set(dut.input_mem[a], word)
        for a, word in enumerate(pack_region(layout[f"state.{cfg.n_layers}"], target[0]) if cfg.learning else []):
            ctx.set(dut.target_mem[a], word)
        for l, s in enumerate(cfg.lr_shifts):
            ctx.set(dut.lr_shift[l], s)
        ctx.set(dut.mode, mode)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(cycle_model(cfg)["train"] + 100):
            if ctx.get(dut.step_done):
                bank, phase = ctx.get(dut.step_bank), names[Phase(ctx.get(dut.phase))]
                step = []
                for k in range(1, cfg.n_layers + 1):
                    region = layout[f"state.{k}"]
                    words = [ctx.get(dut.state_mem[k][dut.state_address(k, bank, w)]) for w in range(region.depth)]
                    step.append(split(region, words))
                states.setdefault(phase, []).append(step)
            if ctx.get(dut.done):
                break
            await ctx.tick()
        assert ctx.get(dut.done), "the command did not finish"
        read = {}
        read["shadow"] = params.shadow      # an inference-only core has no shadow memory (not compared)
        for what, mems in (("shadow", dut.shadow_mem), ("weights", dut.weight_mem), ("biases", dut.bias_mem)):
            if mems is None:
                continue
            prefix = {"shadow": "shadow", "weights": "weight", "biases": "bias"}[what]
            read[what] = [unpack_region(layout[f"{prefix}.{l}"], [ctx.get(mems[l][a]) for a in
                                                                  range(layout[f"{prefix}.{l}"].depth)])
                          for l in range(cfg.n_layers)]
        out.update(params=golden.IntParams(read["shadow"], read["weights"], read["biases"]),
                   result=ctx.get(dut.result), results=[ctx.get(dut.results[b]) for b in range(cfg.samples)],
                   cycles=ctx.get(dut.cycles), steps=ctx.get(dut.steps),
                   phase_steps={names[ph]: ctx.get(dut.phase_steps[ph.value]) for ph in command_phases(cfg, mode)},
                   unsettled=ctx.get(dut.unsettled))

    run(dut, tb)
    return states, out


def assert_states_equal(name, rtl_states, ref_states):
    assert sorted(rtl_states) == sorted(ref_states), f"case {name}: phases {sorted(rtl_states)}"
    for phase, steps in ref_states.items():
        assert len(rtl_states[phase]) == len(steps), f"case {name} phase {phase}: step count"
        for t, (got_step, want_step) in enumerate(zip(rtl_states[phase], steps, strict=True)):
            for l, (got, want) in enumerate(zip(got_step, want_step, strict=True)):
                bad = np.argwhere(got != want)
                assert not len(bad), (f"case {name} phase {phase} step {t + 1} state layer {l + 1} index "
                                      f"{bad[0][1]}: expected {want[tuple(bad[0])]}, actual {got[tuple(bad[0])]}")


def assert_params_equal(name, got, want, learning=True):
    for what in ("shadow", "weights", "biases") if learning else ("weights", "biases"):
        for l in range(len(want.shadow)):
            g, w = getattr(got, what)[l], getattr(want, what)[l]
            bad = np.argwhere(g != w)
            assert not len(bad), (f"case {name} {what} layer {l} index {tuple(bad[0])}: expected {w[tuple(bad[0])]}, "
                                  f"actual {g[tuple(bad[0])]}")
            assert_array_equal(g, w)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_train_step_matches_golden(name):
    cfg = CONFIGS[name]
    params, x, target = make_case(cfg, seed=7)
    trace, ref_params = ref_train(cfg, params, x, target)
    states, out = rtl_run(cfg, params, x, target, Mode.TRAIN)
    assert_states_equal(name, states, trace.states)
    assert_params_equal(name, out["params"], ref_params)
    assert out["result"] == int(np.argmax(trace.states["free"][-1][-1][0])), f"case {name}: result"
    assert_counters(name, cfg, Mode.TRAIN, out, trace)


def assert_counters(name, cfg, mode, out, trace):
    """CYCLES, STEPS, the steps of each phase and the unsettled flag against the golden model's steps."""
    steps = golden_steps(cfg, mode, trace.steps)
    skips = zero_skips(cfg, mode, trace, steps=steps)
    assert out["cycles"] == command_cycles(cfg, mode, steps, skips=skips), f"case {name}: cycles"
    assert out["steps"] == sum(steps), f"case {name}: steps"
    phases = command_phases(cfg, mode)
    assert out["phase_steps"] == {phase_name(cfg, ph): s for ph, s in zip(phases, steps, strict=True)}
    limits = [cfg.free_steps if ph == Phase.FREE else cfg.nudge_steps for ph in command_phases(cfg, mode)]
    if not cfg.early_exit:
        assert list(steps) == limits
    # unsettled: some phase's last step still changed a state (the trace holds every step of one sample)
    moving = any(not all(np.array_equal(a, b) for a, b in zip(trace.states[phase_name(cfg, ph)][-1],
                                                                trace.states[phase_name(cfg, ph)][-2]
                                                                if len(trace.states[phase_name(cfg, ph)]) > 1
                                                                else _start(cfg, ph, trace), strict=True))
                 for ph in command_phases(cfg, mode))
    assert out["unsettled"] == moving, f"case {name}: unsettled"


def _start(cfg, ph, trace):
    """The states a phase started from: zeros (free) or the free phase's last."""
    if ph == Phase.FREE:
        return [np.zeros((1, n), dtype=np.int64) for n in cfg.sizes[1:]]
    return trace.states["free"][-1]


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [8, 64])
def test_default_config_train_step(lanes):
    """The default 64-64-10 network, T = 30, K = 10: every state of every step, every parameter, and
    the cycle count, at P = 8 and P = 64."""
    cfg = HwConfig(mac_lanes=lanes)
    params, x, target = make_case(cfg, seed=1)
    trace, ref_params = ref_train(cfg, params, x, target)
    states, out = rtl_run(cfg, params, x, target, Mode.TRAIN)
    assert_states_equal(f"default-P{lanes}", states, trace.states)
    assert_params_equal(f"default-P{lanes}", out["params"], ref_params)
    assert_counters(f"default-P{lanes}", cfg, Mode.TRAIN, out, trace)


INFER_ONLY = {"int8-P3-inference-only": HwConfig(sizes=(7, 4, 5), free_steps=40, nudge_steps=2, mac_lanes=3,
                                                learning=False),
              "ternary-P4-inference-only-nocache": HwConfig(**SMALL, mac_lanes=4, weight_format="ternary",
                                                            weight_bits=2, shadow_bits=8, learning=False,
                                                            cache_drive=False),
              "int8-P64-inference-only": HwConfig(sizes=(64, 12, 5), free_steps=8, mac_lanes=64, learning=False),
              "int8-P4-inference-only-skip": HwConfig(sizes=(7, 9, 6), free_steps=40, mac_lanes=4, learning=False,
                                                      zero_skip=True)}


@pytest.mark.parametrize("name", ["int8-P2", "ternary-half_up-P4", "int8-P2-settles", *INFER_ONLY])
def test_infer_matches_golden(name):
    cfg = {**CONFIGS, **INFER_ONLY}[name]
    params, x, target = make_case(cfg, seed=3)
    trace = golden.Trace()
    golden.infer(cfg, params, x, trace=trace)
    states, out = rtl_run(cfg, params, x, target, Mode.INFER)
    assert_states_equal(name, states, trace.states)
    assert_params_equal(name, out["params"], params, cfg.learning)   # inference changes no parameter
    assert out["result"] == golden.predict(cfg, params, x)[0]
    assert_counters(name, cfg, Mode.INFER, out, trace)


def test_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"^Configuration must be a HwConfig, not \{\}$"):
        Core(cfg={})
    with pytest.raises(TypeError, match=r"^Parameters must be an IntParams or None, not \[\]$"):
        Core(cfg=CONFIGS["int8-P2"], params=[])
    with pytest.raises(ValueError, match=r"^pe must be None for rtl\.core\.Core, the P-lane datapath of mac_lanes "
                                         r"\(a tiled configuration's core is rtl\.tiled_core\.TiledCore\), not 4$"):
        Core(cfg=HwConfig(pe=4, simd=2))


# ----------------------------------------------------------------------------------------------
# command sequences through the host port

async def host_access(ctx, dut, sel, layer, index, value=None, *, row_cols=None):
    """One host-port access to element `index` (row-major [r, c] when `row_cols` = (r, c, cols))."""
    cfg = dut.cfg
    p = cfg.mac_lanes
    if row_cols is not None:
        r, c, cols = row_cols
        word, lane = r * -(-cols // p) + c // p, c % p
    else:
        word, lane = index // p, index % p
    ctx.set(dut.host.req, 1)
    ctx.set(dut.host.we, value is not None)
    ctx.set(dut.host.sel, sel)
    ctx.set(dut.host.layer, layer)
    ctx.set(dut.host.word, word)
    ctx.set(dut.host.lane, lane)
    ctx.set(dut.host.wdata, (value or 0) & 0xFFFF_FFFF)
    await ctx.tick()
    while not ctx.get(dut.host.ack):   # `until` samples before the edge: it would return a cycle late
        await ctx.tick()
    data = ctx.get(dut.host.rdata)
    ctx.set(dut.host.req, 0)
    await ctx.tick()
    return data - (1 << 32) if data >> 31 else data


def ref_session(cfg, params, commands):
    """Golden model of a command sequence: returns (params, free/relaxed output states per command)."""
    cur = None
    outs = []
    for mode, x, target in commands:
        if mode == Mode.TRAIN:
            cur = golden.relax(cfg, params, x, steps=cfg.free_steps)
            params = golden.train_sample(cfg, params, x, target)
        elif mode == Mode.INFER:
            cur = golden.relax(cfg, params, x, steps=cfg.free_steps)
        else:
            cur = golden.relax(cfg, params, x, cur, steps=cfg.free_steps)
        outs.append(np.concatenate([s[0] for s in cur]))
    return params, outs


def rtl_session(cfg, params, commands):
    """Load each input and target through the host port, run the command, read all states back."""
    dut = Core(cfg=cfg, params=params)
    outs, final = [], {}

    async def tb(ctx):
        for l, s in enumerate(cfg.lr_shifts):
            ctx.set(dut.lr_shift[l], s)
        for mode, x, target in commands:
            for i, v in enumerate(x[0]):
                await host_access(ctx, dut, Window.INPUT, 0, i, int(v))
            for i, v in enumerate(target[0]):
                await host_access(ctx, dut, Window.TARGET, 0, i, int(v))
            ctx.set(dut.mode, mode)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.done)
            outs.append(np.array([await host_access(ctx, dut, Window.STATE, k, i)
                                  for k in range(1, cfg.n_layers + 1) for i in range(cfg.sizes[k])]))
        read = {}
        for what, sel in (("shadow", Window.SHADOW), ("weights", Window.WEIGHT)):
            read[what] = [np.array([[await host_access(ctx, dut, sel, l, None, row_cols=(r, c, cfg.sizes[l]))
                                     for c in range(cfg.sizes[l])] for r in range(cfg.sizes[l + 1])])
                          for l in range(cfg.n_layers)]
        read["biases"] = [np.array([await host_access(ctx, dut, Window.BIAS, l, i) for i in range(cfg.sizes[l + 1])])
                          for l in range(cfg.n_layers)]
        final["params"] = golden.IntParams(read["shadow"], read["weights"], read["biases"])

    run(dut, tb)
    return final["params"], outs


@pytest.mark.parametrize("name", ["int8-P2", "int4-floor-onesided-P4"])
def test_command_sequence_matches_golden(name):
    """TRAIN, TRAIN, RELAX (from the current states), INFER: parameters carry over, inputs and targets
    go in and states come out through the host port."""
    cfg = CONFIGS[name]
    params, x1, t1 = make_case(cfg, seed=11)
    _, x2, t2 = make_case(cfg, seed=12)
    commands = [(Mode.TRAIN, x1, t1), (Mode.TRAIN, x2, t2), (Mode.RELAX, x1, t1), (Mode.INFER, x2, t2)]
    ref_params, ref_outs = ref_session(cfg, params, commands)
    rtl_params, rtl_outs = rtl_session(cfg, params, commands)
    for i, (got, want) in enumerate(zip(rtl_outs, ref_outs, strict=True)):
        assert_array_equal(got, want, err_msg=f"case {name} command {i} ({commands[i][0].name}): states")
    assert_params_equal(name, rtl_params, ref_params)


def test_host_shadow_write_derives_weight():
    """Writing a shadow code through the host port writes the weight derived from it (both formats)."""
    for name in ("int8-P2", "ternary-half_up-P4"):
        cfg = CONFIGS[name]
        dut = Core(cfg=cfg)
        codes = [cfg.shadow_max, -cfg.shadow_max, 0, 1, -1, cfg.ternary_threshold_code,
                 -cfg.ternary_threshold_code, cfg.ternary_threshold_code - 1, 1 << (cfg.shadow_extra - 1)]
        got = []

        async def tb(ctx, dut=dut, codes=codes, got=got):
            for v in codes:
                await host_access(ctx, dut, Window.SHADOW, 1, None, v, row_cols=(2, 1, 6))
                got.append((await host_access(ctx, dut, Window.SHADOW, 1, None, row_cols=(2, 1, 6)),
                            await host_access(ctx, dut, Window.WEIGHT, 1, None, row_cols=(2, 1, 6))))

        run(dut, tb)
        want = [(v, int(golden.derive_weights(cfg, np.array([v]))[0])) for v in codes]
        assert got == want, f"case {name}: (shadow, weight) read back"


def test_inference_only_core_ignores_train():
    """learning=False: no shadow or target memory, and a START of TRAIN leaves the core idle (the bus refuses
    it with BAD_MODE, tests/rtl/test_axil.py)."""
    cfg = INFER_ONLY["int8-P3-inference-only"]
    dut = Core(cfg=cfg)
    assert dut.shadow_mem is None and dut.target_mem is None
    seen = {}

    async def tb(ctx):
        ctx.set(dut.mode, Mode.TRAIN)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        busy = False
        for _ in range(20):
            busy |= bool(ctx.get(dut.busy))
            await ctx.tick()
        seen["busy"], seen["done"] = busy, ctx.get(dut.done)

    run(dut, tb)
    assert seen == {"busy": False, "done": 0}


SAMPLES = {"int8-P3-B2-settles": HwConfig(sizes=(7, 4, 5), free_steps=40, mac_lanes=3, learning=False, samples=2),
           "ternary-P4-B4-nocache": HwConfig(**SMALL, mac_lanes=4, weight_format="ternary", weight_bits=2,
                                              shadow_bits=8, learning=False, cache_drive=False, samples=4),
           "int8-P2-B3-full": HwConfig(**SMALL, mac_lanes=2, learning=False, samples=3, early_exit=False),
           "int8-P3-B2-settles-skip": HwConfig(sizes=(7, 4, 5, 6), free_steps=40, mac_lanes=3, learning=False,
                                               samples=2, zero_skip=True)}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_share_the_weights(name):
    """B samples in one INFER: every state of every sample after every step is the golden model's for that
    row (the trace runs until every row has stopped, as the command does), each RESULTS entry that sample's
    argmax, and CYCLES, STEPS and UNSETTLED the group's (`golden.grouped`)."""
    cfg = SAMPLES[name]
    params, _, target = make_case(cfg, seed=5)
    rng = np.random.default_rng(11)
    x = rng.integers(0, cfg.state_max + 1, (cfg.samples, cfg.sizes[0]))
    x[-1] = x[0] // 2       # a second input near the first: different steps to the fixed point
    trace = golden.Trace()
    settled = golden.settle(cfg, params, x, steps=cfg.free_steps, trace=trace)
    states, out = rtl_run(cfg, params, x, target, Mode.INFER)
    assert_states_equal(name, states, trace.states)
    assert out["results"] == list(golden.predict(cfg, params, x)), f"case {name}: RESULTS"
    assert out["result"] == out["results"][0]
    steps, ok = golden.grouped(settled, cfg.samples)
    skips = zero_skips(cfg, Mode.INFER, trace, steps=(int(steps[0]),))
    assert out["steps"] == steps[0]
    assert out["cycles"] == command_cycles(cfg, Mode.INFER, (int(steps[0]),), skips=skips), f"case {name}: cycles"
    assert out["unsettled"] == (not ok[0]), f"case {name}: unsettled"
    if cfg.early_exit:
        assert len(set(settled.steps.tolist())) > 1 or not ok[0], "the samples should settle at different steps"


def test_784_input_core_at_a_reduced_size():
    """MNIST's 784 inputs at a reduced network (784-4-3, P = 16: 49 words a row): one TRAIN on a real
    mnist5k image, every state of every step, every parameter and the counters against the golden model."""
    from eqprop.data import load_mnist5k_split
    from eqprop.hw.quantise import quantise_input

    cfg = HwConfig(sizes=(784, 4, 3), free_steps=12, nudge_steps=4, mac_lanes=16)
    params, _, target = make_case(cfg, seed=4)
    x = quantise_input(cfg, load_mnist5k_split().x_test[:1])
    trace, ref_params = ref_train(cfg, params, x, target)
    states, out = rtl_run(cfg, params, x, target, Mode.TRAIN)
    assert_states_equal("784-4-3", states, trace.states)
    assert_params_equal("784-4-3", out["params"], ref_params)
    assert_counters("784-4-3", cfg, Mode.TRAIN, out, trace)


@pytest.mark.parametrize("name", ["int8-P2", "ternary-half_up-P4", "int8-P4-3layer"])
@pytest.mark.parametrize("sign", [1, -1])
def test_worst_case_sums_do_not_overflow(name, sign):
    """Every weight and bias at the extreme of its range (all +max, or all -max), every input at the largest
    code: the hidden layers' accumulators reach exactly the worst case that sizes ``acc_bits``
    (`HwConfig._acc_worst_case`, asserted on the widths in `rtl.mac.MacLanes`), and the RTL's states
    after every step of a TRAIN (nudged phases included) are the golden model's: no sum wrapped."""
    cfg = CONFIGS[name]
    w = 1 if cfg.weight_format == "ternary" else cfg.weight_max
    shadow = [np.full((cfg.sizes[l + 1], cfg.sizes[l]), sign * (cfg.shadow_max if cfg.weight_format == "ternary"
                                                                  else w << cfg.shadow_extra))
              for l in range(cfg.n_layers)]
    biases = [np.full(cfg.sizes[l + 1], sign * cfg.bias_max) for l in range(cfg.n_layers)]
    params = golden.IntParams.from_shadow(cfg, shadow, biases)
    assert all(np.all(wl == sign * w) for wl in params.weights)
    x = np.full((1, cfg.sizes[0]), cfg.state_max)
    full = [np.full((1, n), cfg.state_max) for n in cfg.sizes[1:]]
    _, accs = golden.step(cfg, params, x, full)
    for l in range(cfg.n_layers - 1):
        assert int(accs[l].max() if sign > 0 else -accs[l].min()) == cfg._acc_worst_case(l) < 2 ** (cfg.acc_bits - 1)
    target = golden.encode_targets(cfg, np.array([0]))
    trace, ref_params = ref_train(cfg, params, x, target)
    states, out = rtl_run(cfg, params, x, target, Mode.TRAIN)
    assert_states_equal(f"{name} worst case", states, trace.states)
    assert_params_equal(f"{name} worst case", out["params"], ref_params)
