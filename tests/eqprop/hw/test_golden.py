"""The integer golden model: rounding, no overflow at the extremes, batch = per sample, update
properties, agreement with the float EqPropNet at 16 bits, and learning."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from eqprop.data import synthetic_blobs
from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.quantise import quantise, quantise_input

FAST = settings(max_examples=30, deadline=None)


def _reference_round(x: int, k: int, mode: str) -> int:
    """Rounding of x / 2**k written with exact fractions, independently of golden.shift_round."""
    q = Fraction(x, 2**k)
    if mode == "floor":
        return q.__floor__()
    if mode == "half_up":
        return (q + Fraction(1, 2)).__floor__()
    sign = 1 if q >= 0 else -1
    return sign * (abs(q) + Fraction(1, 2)).__floor__()


@FAST
@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.integers(-4, 20),
       st.sampled_from(["floor", "half_up", "half_away"]))
def test_shift_round_matches_exact_fractions(xs, k, mode):
    got = golden.shift_round(np.array(xs), k, mode)
    want = [x << -k if k <= 0 else _reference_round(x, k, mode) for x in xs]
    assert got.tolist() == want


@FAST
@given(st.lists(st.integers(-(2**30), 2**30), min_size=1, max_size=20), st.integers(1, 16))
def test_half_away_is_symmetric_in_sign(xs, k):
    x = np.array(xs)
    assert np.array_equal(golden.shift_round(-x, k, "half_away"), -golden.shift_round(x, k, "half_away"))


def _small_cfg(draw_or_kwargs=None, **kwargs) -> HwConfig:
    return HwConfig(sizes=(12, 9, 7, 4), free_steps=6, nudge_steps=3, **kwargs)


configs = st.builds(
    lambda sb, wb, tern, fr, eps, rnd, est: _small_cfg(
        state_bits=sb, weight_format="ternary" if tern else "int", weight_bits=2 if tern else wb,
        shadow_bits=(2 if tern else wb) + 6, weight_frac=fr, eps_shift=min(eps, sb), rounding=rnd, estimator=est),
    st.integers(2, 16), st.integers(3, 16), st.booleans(),
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)), st.integers(0, 3),
    st.sampled_from(["floor", "half_up", "half_away"]), st.sampled_from(["symmetric", "one-sided"]))


def _random_params(cfg: HwConfig, rng: np.random.Generator, extreme: bool) -> golden.IntParams:
    shadow, biases = [], []
    for l in range(cfg.n_layers):
        shape = (cfg.sizes[l + 1], cfg.sizes[l])
        if extreme:
            shadow.append(rng.choice([-cfg.shadow_max, cfg.shadow_max], size=shape))
            biases.append(rng.choice([-cfg.bias_max, cfg.bias_max], size=shape[0]))
        else:
            shadow.append(rng.integers(-cfg.shadow_max, cfg.shadow_max + 1, size=shape))
            biases.append(rng.integers(-cfg.bias_max // 64, cfg.bias_max // 64 + 1, size=shape[0]))
    return golden.IntParams.from_shadow(cfg, shadow, biases)


def _codes(cfg, rng, shape, extreme):
    if extreme:
        return rng.choice([0, cfg.state_max], size=shape)
    return rng.integers(0, cfg.state_max + 1, size=shape)


@FAST
@given(configs, st.integers(0, 2**32 - 1), st.booleans())
def test_accumulators_fit_their_width_and_states_their_range(cfg, seed, extreme):
    rng = np.random.default_rng(seed)
    params = _random_params(cfg, rng, extreme)
    x = _codes(cfg, rng, (5, cfg.sizes[0]), extreme)
    target = _codes(cfg, rng, (5, cfg.sizes[-1]), True)
    states = [_codes(cfg, rng, (5, n), extreme) for n in cfg.sizes[1:]]
    limit = 2 ** (cfg.acc_bits - 1) - 1
    for sign in (0, 1, -1):
        new, accs = golden.step(cfg, params, x, states, sign=sign, target=target)
        for l, (s, a) in enumerate(zip(new, accs, strict=True)):
            assert np.abs(a).max() <= limit, f"layer {l} accumulator overflows {cfg.acc_bits} bits"
            assert s.min() >= 0 and s.max() <= cfg.state_max, f"layer {l} state left the range"


def test_worst_case_is_reached_and_needs_every_accumulator_bit():
    """All weights, states and biases at +max: the accumulator equals the derived worst case, so the
    width is not generous by a bit; float64 BLAS and int64 sums agree on it."""
    cfg = HwConfig(sizes=(64, 64, 10), weight_frac=(4, 7))
    params = golden.IntParams.from_shadow(
        cfg, [np.full((cfg.sizes[l + 1], cfg.sizes[l]), cfg.shadow_max) for l in range(2)],
        [np.full(n, cfg.bias_max) for n in cfg.sizes[1:]])
    x = np.full((1, 64), cfg.state_max)
    states = [np.full((1, n), cfg.state_max) for n in cfg.sizes[1:]]
    target = np.zeros((1, 10), dtype=np.int64)
    _, accs = golden.step(cfg, params, x, states, sign=-1, target=target)
    top0 = int(accs[0].max())
    assert top0 == (64 * 127 * 255 << 3) + 10 * 127 * 255 + cfg.bias_max
    assert top0 >= 2 ** (cfg.acc_bits_required[0] - 2)
    assert np.array_equal(golden.matmul_exact(x, params.weights[0].T), x @ params.weights[0].T)


@FAST
@given(configs, st.integers(0, 2**32 - 1), st.integers(-1, 1))
def test_batch_is_bit_identical_to_samples_one_by_one(cfg, seed, sign):
    rng = np.random.default_rng(seed)
    params = _random_params(cfg, rng, extreme=False)
    x = _codes(cfg, rng, (6, cfg.sizes[0]), False)
    t = _codes(cfg, rng, (6, cfg.sizes[-1]), False)
    batch = golden.relax(cfg, params, x, steps=cfg.free_steps, sign=sign, target=t)
    for i in range(6):
        one = golden.relax(cfg, params, x[i:i + 1], steps=cfg.free_steps, sign=sign, target=t[i:i + 1])
        for l in range(cfg.n_layers):
            assert np.array_equal(one[l][0], batch[l][i]), f"sample {i} layer {l}: {one[l][0]} != {batch[l][i]}"


@FAST
@given(configs, st.integers(0, 2**32 - 1))
def test_equal_nudged_and_free_states_change_no_weight(cfg, seed):
    rng = np.random.default_rng(seed)
    params = _random_params(cfg, rng, extreme=False)
    x = _codes(cfg, rng, (1, cfg.sizes[0]), False)
    states = [_codes(cfg, rng, (1, n), False) for n in cfg.sizes[1:]]
    new, details = golden.contrast_update(cfg, params, x, states, [s.copy() for s in states])
    for l in range(cfg.n_layers):
        assert not details["dshadow"][l].any() and not details["dbias"][l].any()
        assert np.array_equal(new.shadow[l], params.shadow[l]) and np.array_equal(new.biases[l], params.biases[l])
        assert np.array_equal(new.weights[l], params.weights[l])


@FAST
@given(configs, st.integers(0, 2**32 - 1))
def test_updates_saturate_shadows_and_biases_symmetrically(cfg, seed):
    rng = np.random.default_rng(seed)
    params = _random_params(cfg, rng, extreme=True)
    x = np.full((1, cfg.sizes[0]), cfg.state_max)
    ones = [np.full((1, n), cfg.state_max) for n in cfg.sizes[1:]]
    zeros = [np.zeros((1, n), dtype=np.int64) for n in cfg.sizes[1:]]
    for pos, neg in ((ones, zeros), (zeros, ones)):
        new, _ = golden.contrast_update(cfg, params, x, pos, neg)
        for l in range(cfg.n_layers):
            assert np.abs(new.shadow[l]).max() <= cfg.shadow_max and np.abs(new.biases[l]).max() <= cfg.bias_max
            assert np.abs(new.weights[l]).max() <= cfg.weight_max


@FAST
@given(configs, st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=40))
def test_derived_weights_are_symmetric_in_sign(cfg, values):
    """Saturation is symmetric (the formats are); rounding too, except half_up/floor on ties."""
    sh = np.clip(np.array(values), -cfg.shadow_max, cfg.shadow_max)
    w, w_neg = golden.derive_weights(cfg, sh), golden.derive_weights(cfg, -sh)
    assert np.abs(w).max() <= cfg.weight_max
    if cfg.rounding == "half_away" or cfg.weight_format == "ternary":
        assert np.array_equal(w_neg, -w)
    full = np.array([cfg.shadow_max, -cfg.shadow_max])
    assert golden.derive_weights(cfg, full).tolist() == [cfg.weight_max, -cfg.weight_max]


def test_derived_weights_round_saturate_and_threshold():
    cfg = HwConfig(shadow_bits=12)  # 4 extra bits: weight = R(shadow, 4)
    sh = np.array([8, -8, 7, -7, 24, 2047, -2047])
    assert golden.derive_weights(cfg, sh).tolist() == [1, -1, 0, 0, 2, 127, -127]
    tern = HwConfig(weight_format="ternary", weight_bits=2, shadow_bits=8, ternary_threshold=6)  # 6 extra
    thr = 6 << 3  # 6/8 of 2**6
    assert golden.derive_weights(tern, np.array([thr, thr - 1, -thr, -thr + 1, 0])).tolist() == [1, 0, -1, 0, 0]


# A 2 -> 1 -> 1 network worked by hand: 4-bit states (0 .. 15), 4-bit weights at frac 2, 4 shadow
# extra bits, accumulator fraction 4 + 2 = 6. x = (15, 6), s1 = 4, s2 = 9, W0 = (3, -2), W1 = 5,
# b = (10, -7), target 15.
#   layer 0: acc = 45 - 12 + 5 * 9 + 10 = 88; rho = clip(R(88, 2) = 22) = 15; s1 = 4 + R(11, 1)
#            (5.5: 6 half_away / half_up, 5 floor)
#   layer 1: acc = 5 * 4 - 7 +- R(15 - 9, -1) = 13 +- 12; rho = R(25, 2) = 6 or R(1, 2) = 0;
#            s2 = 9 + R(-3, 1) (-1.5) or 9 + R(-9, 1) (-4.5)
HAND = HwConfig(sizes=(2, 1, 1), state_bits=4, weight_bits=4, weight_frac=(2, 2), shadow_bits=8, bias_bits=8,
                lr_shifts=(0, 1))


def _hand_params():
    return golden.IntParams.from_shadow(HAND, [np.array([[3 << 4, -2 << 4]]), np.array([[5 << 4]])],
                                        [np.array([10]), np.array([-7])])


@pytest.mark.parametrize(("rounding", "plus", "minus"), [
    ("half_away", (10, 7), (10, 4)), ("half_up", (10, 8), (10, 5)), ("floor", (9, 7), (9, 4))])
def test_one_step_worked_by_hand(rounding, plus, minus):
    cfg = HAND.replace(rounding=rounding)
    x, states, t = np.array([[15, 6]]), [np.array([[4]]), np.array([[9]])], np.array([[15]])
    for sign, want, acc1 in ((1, plus, 25), (-1, minus, 1)):
        new, accs = golden.step(cfg, _hand_params(), x, states, sign=sign, target=t)
        assert (int(new[0][0, 0]), int(new[1][0, 0])) == want, f"sign {sign}"
        assert (int(accs[0][0, 0]), int(accs[1][0, 0])) == (88, acc1)


def test_one_update_worked_by_hand():
    """Contrasts (15, 6) and 7 * 10 - 5 * 9 = 25; shifts 2 and 3 (weights), -2 and -1 (biases)."""
    x = np.array([[15, 6]])
    new, d = golden.contrast_update(HAND, _hand_params(), x, [np.array([[10]]), np.array([[7]])],
                                    [np.array([[9]]), np.array([[5]])])
    assert [HAND.weight_update_shift(l) for l in range(2)] == [2, 3]
    assert d["dshadow"][0].tolist() == [[4, 2]] and d["dshadow"][1].tolist() == [[3]]
    assert new.shadow[0].tolist() == [[52, -30]] and new.weights[0].tolist() == [[3, -2]]
    assert new.shadow[1].tolist() == [[83]] and new.weights[1].tolist() == [[5]]
    assert new.biases[0].tolist() == [14] and new.biases[1].tolist() == [-3]


def test_trace_records_every_step_of_every_phase():
    cfg = _small_cfg()
    rng = np.random.default_rng(0)
    params = _random_params(cfg, rng, extreme=False)
    x = _codes(cfg, rng, (1, 12), False)
    t = golden.encode_targets(cfg, [2])
    trace = golden.Trace()
    golden.train_sample(cfg, params, x, t, trace=trace)
    assert sorted(trace.states) == ["free", "minus", "plus"]
    assert [len(trace.states[p]) for p in ("free", "plus", "minus")] == [6, 3, 3]
    assert [a.shape for a in trace.acc["plus"][0]] == [(1, 9), (1, 7), (1, 4)]
    assert np.array_equal(trace.states["free"][-1][-1], golden.infer(cfg, params, x))
    assert len(trace.updates) == 1 and trace.updates[0]["dshadow"][0].shape == (9, 12)


def test_training_a_batch_is_the_samples_in_order():
    cfg = _small_cfg()
    rng = np.random.default_rng(1)
    params = _random_params(cfg, rng, extreme=False)
    x = _codes(cfg, rng, (3, 12), False)
    t = golden.encode_targets(cfg, [0, 3, 1])
    batch = golden.train(cfg, params, x, t)
    one = params
    for i in range(3):
        one = golden.train_sample(cfg, one, x[i:i + 1], t[i:i + 1])
    assert all(np.array_equal(a, b) for a, b in zip(batch.shadow + batch.biases, one.shadow + one.biases,
                                                              strict=True))
    assert not np.array_equal(batch.shadow[0], params.shadow[0])  # it learned something, and params is untouched


def test_bad_inputs_are_rejected():
    cfg = _small_cfg()
    params = _random_params(cfg, np.random.default_rng(0), extreme=False)
    with pytest.raises(TypeError, match="input must be integer codes"):
        golden.infer(cfg, params, np.zeros((1, 12)))
    with pytest.raises(ValueError, match=r"input must have shape \(batch, 12\), not \(1, 11\)"):
        golden.infer(cfg, params, np.zeros((1, 11), dtype=np.int64))
    with pytest.raises(ValueError, match="input codes must be in 0 .. 255, not 256 .. 256"):
        golden.infer(cfg, params, np.full((1, 12), 256))
    with pytest.raises(ValueError, match="the chip trains one sample at a time"):
        golden.contrast_update(cfg, params, np.zeros((2, 12), dtype=np.int64), [], [])


# ----------------------------------------------------------------------------------------------
# golden tracks float

def _float_net() -> EqPropNet:
    g = torch.Generator().manual_seed(3)
    net = EqPropNet(EqPropConfig(sizes=[16, 12, 4], free_steps=20, nudge_steps=8, init_gain=3.0), generator=g,
                    dtype=torch.float64)
    with torch.no_grad():
        for b in net.biases:
            b.copy_(torch.rand(b.shape, generator=g, dtype=torch.float64) * 0.6 - 0.2)
    return net


HIGH = {"state_bits": 16, "weight_bits": 16, "shadow_bits": 24, "bias_bits": 32}


def test_golden_states_match_float_at_16_bits():
    """Tolerance: 5e-4 (33 LSBs of a 16-bit state) after 20 steps; measured 6e-5."""
    net = _float_net()
    q = quantise(net, **HIGH)
    xq = quantise_input(q.cfg, np.random.default_rng(0).random((8, 16)))
    with torch.no_grad():
        ref = net.free_phase(torch.from_numpy(xq / 2.0**16))
    got = golden.relax(q.cfg, q.params, xq, steps=q.cfg.free_steps)
    for l in range(2):
        assert np.abs(ref[l].numpy() - got[l] / 2.0**16).max() < 5e-4
    assert (ref[0].numpy() == 0).any(), "the test should exercise the clipped part of rho"


@pytest.mark.parametrize("estimator", ["symmetric", "one-sided"])
def test_golden_update_matches_float_eqprop_update_at_16_bits(estimator):
    """The shadow and bias steps, divided by the learning rate, equal EqPropNet.eqprop_update's dW
    and db for one sample within 1e-3 (measured 8e-5; the updates are of order 0.3)."""
    net = _float_net()
    q = quantise(net, estimator=estimator, **HIGH)
    cfg = q.cfg
    xq = quantise_input(cfg, np.random.default_rng(0).random((1, 16)))
    t = golden.encode_targets(cfg, [1])
    ref = net.eqprop_update(torch.from_numpy(xq / 2.0**16), torch.from_numpy(t / 2.0**16), estimator=estimator)
    trace = golden.Trace()
    golden.train_sample(cfg, q.params, xq, t, trace=trace)
    for l in range(2):
        dw = trace.updates[0]["dshadow"][l] * 2.0 ** (cfg.lr_shifts[l] - cfg.weight_frac[l] - cfg.shadow_extra)
        db = trace.updates[0]["dbias"][l] * 2.0 ** (cfg.lr_shifts[l] - cfg.acc_frac(l))
        assert np.abs(ref["dW"][l].numpy()).max() > 0.05
        assert np.abs(dw - ref["dW"][l].numpy()).max() < 1e-3
        assert np.abs(db - ref["db"][l].numpy()).max() < 1e-3


def test_integer_training_learns_blobs():
    data = synthetic_blobs(n_train=256, n_test=128, n_in=16, n_classes=4, seed=0)
    cfg = HwConfig(sizes=(16, 16, 4), free_steps=12, nudge_steps=6, lr_shifts=(4, 5))
    params = golden.init_params(cfg, seed=0)
    xt = quantise_input(cfg, data.x_test)
    before = (golden.predict(cfg, params, xt) == data.y_test).mean()
    params = golden.train(cfg, params, quantise_input(cfg, data.x_train), golden.encode_targets(cfg, data.y_train))
    after = (golden.predict(cfg, params, xt) == data.y_test).mean()
    assert before < 0.6 and after > 0.9, (before, after)


@pytest.mark.slow
def test_bench_quick_run_writes_its_reports(tmp_path):
    """`python -m bench.golden --quick` end to end (about a minute): the report files and their figures."""
    import json

    from bench.golden import main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "golden.json").read_text())
    assert {"mean_float", "mean_int8", "mean_ternary", "mean_integer_training", "throughput"} <= set(r)
    assert [row["bits"] for row in r["precision_sweep"]["both"]] == list(range(2, 17))
    assert (tmp_path / "golden_precision.png").stat().st_size > 1000
    assert "## Throughput" in (tmp_path / "golden.md").read_text()
    assert not list(tmp_path.glob(".tmp-*"))


def test_grouped_commands_take_the_most_steps_of_their_samples():
    """B samples per command: a command's phase runs until all its samples stop (the most steps), and is
    settled when all are; the last command holds the rest; each row's states are those it had alone."""
    cfg = HwConfig(sizes=(6, 5, 3), free_steps=40, learning=False, samples=3)
    params = golden.init_params(cfg, seed=2, gain=3.0)
    x = np.random.default_rng(0).integers(0, cfg.state_max + 1, (7, 6))
    alone = golden.settle(cfg, params, x, steps=cfg.free_steps)
    steps, settled = golden.grouped(alone, 3)
    assert steps.tolist() == [max(alone.steps[i:i + 3]) for i in (0, 3, 6)]
    assert settled.tolist() == [all(alone.settled[i:i + 3]) for i in (0, 3, 6)]
    assert len(set(alone.steps.tolist())) > 1, "rows that stop at different steps"
    for i in (0, 3, 6):    # a command of its rows: the same states, and its steps as grouped says
        together = golden.settle(cfg, params, x[i:i + 3], steps=cfg.free_steps)
        for a, b in zip(together.states, alone.states, strict=True):
            np.testing.assert_array_equal(a, b[i:i + 3])
    assert golden.grouped(golden.Settled([], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)), 2)[0].size == 0
    with pytest.raises(ValueError, match="samples must be a positive int, not 0"):
        golden.grouped(alone, 0)


def test_an_inference_only_configuration_cannot_train():
    cfg = HwConfig(sizes=(4, 3, 2), learning=False)
    params = golden.init_params(cfg, seed=0)
    with pytest.raises(ValueError, match=r"inference-only configuration \(learning=False\) cannot train"):
        golden.train(cfg, params, np.zeros((1, 4), dtype=np.int64), golden.encode_targets(cfg, np.array([1])))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), estimator=st.sampled_from(["symmetric", "one-sided"]),
       eps_shift=st.integers(0, 2), gain=st.sampled_from([0.5, 1.0, 3.0]))
def test_early_exit_changes_no_state_and_no_weight(seed, estimator, eps_shift, gain):
    """Early exit stops a phase at its fixed point, so the states of every phase and every trained shadow,
    weight and bias equal those of running every phase to its limit; only the steps differ (and never
    exceed the limits). Long limits, so that most phases reach their fixed point."""
    full = HwConfig(sizes=(6, 5, 3), free_steps=60, nudge_steps=40, estimator=estimator, eps_shift=eps_shift,
                    mac_lanes=2, early_exit=False)
    early = full.replace(early_exit=True)
    rng = np.random.default_rng(seed)
    params = golden.init_params(full, seed=seed % 1000, gain=gain)
    x = rng.integers(0, full.state_max + 1, (3, 6))
    target = golden.encode_targets(full, rng.integers(0, 3, 3))
    for i in range(3):
        a = golden.run_phases(full, params, x[i:i + 1], target[i:i + 1])
        b = golden.run_phases(early, params, x[i:i + 1], target[i:i + 1])
        for name in a:
            assert all(np.array_equal(u, v) for u, v in zip(a[name].states, b[name].states, strict=True)), name
            assert b[name].steps[0] <= a[name].steps[0]
            assert bool(a[name].settled[0]) == bool(b[name].settled[0]), name   # settled at the limit or before
            if not b[name].settled[0]:     # never converged: it ran to the limit
                assert b[name].steps[0] == a[name].steps[0]
    pa, pb = golden.train(full, params, x, target), golden.train(early, params, x, target)
    for what in ("shadow", "weights", "biases"):
        assert all(np.array_equal(u, v) for u, v in zip(getattr(pa, what), getattr(pb, what), strict=True)), what


def test_a_limit_cycle_runs_to_t_and_says_so():
    """An input that never reaches a fixed point (eps = 1, strong mutual weights: the states oscillate)
    takes all T steps with early exit, and `settle` reports it unsettled."""
    cfg = HwConfig(sizes=(2, 2, 2), free_steps=20, eps_shift=0, mac_lanes=1)
    w0 = np.array([[127, 0], [0, 127]], dtype=np.int64) << cfg.shadow_extra
    w1 = np.array([[0, -127], [-127, 0]], dtype=np.int64) << cfg.shadow_extra   # the output inhibits the hidden layer
    half = [np.array([(cfg.state_max << cfg.acc_align(l)) // 2] * 2) for l in range(2)]   # biases of 1/2
    params = golden.IntParams.from_shadow(cfg, [w0, w1], half)
    out = golden.settle(cfg, params, np.zeros((1, 2), dtype=np.int64), steps=cfg.free_steps)
    assert out.steps[0] == cfg.free_steps and not out.settled[0]
