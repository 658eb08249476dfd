"""Quantisation of float EqPropNets: half-step error, saturation reports, scales, checkpoints."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.quantise import (
    config_digest,
    config_from_net,
    dequantise,
    design_digest,
    quantise,
    quantise_input,
    round_float,
)
from eqprop.train import TrainConfig, build, load_checkpoint, save_checkpoint

FAST = settings(max_examples=25, deadline=None)


def _net(sizes=(8, 6, 3), scale=1.0, seed=0, **cfg) -> EqPropNet:
    net = EqPropNet(EqPropConfig(sizes=list(sizes), **cfg), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    with torch.no_grad():
        for w in net.weights:
            w.mul_(scale)
        for b in net.biases:
            b.copy_(torch.linspace(-0.3, 0.3, b.numel(), dtype=torch.float64))
    return net


@FAST
@given(st.integers(0, 10_000), st.floats(0.05, 20.0), st.integers(3, 16), st.sampled_from(["half_up", "half_away"]))
def test_dequantised_weights_are_within_half_a_step(seed, scale, bits, rounding):
    net = _net(scale=scale, seed=seed)
    assume(max(float(w.detach().abs().max()) for w in net.weights) <= 2 ** (bits - 1) - 0.5)   # else refused
    q = quantise(net, weight_bits=bits, shadow_bits=bits + 8, rounding=rounding)
    ws, bs = dequantise(q.cfg, q.params)
    for l, (w, w_float) in enumerate(zip(ws, net.weights, strict=True)):
        wf, bf = w_float.detach().numpy(), net.biases[l].detach().numpy()
        step = 2.0 ** -q.cfg.weight_frac[l]
        inside = np.abs(wf) <= q.cfg.weight_max * step
        assert np.all(np.abs(w - wf)[inside] <= step / 2 + 1e-12)
        assert q.report[l]["weight_saturated"] == int((np.abs(wf) > (q.cfg.weight_max + 0.5) * step).sum())
        bstep = 2.0 ** -q.cfg.acc_frac(l)  # a wide weight scale leaves the bias little range: reported
        inside = np.abs(bf) <= q.cfg.bias_max * bstep
        assert np.all(np.abs(bs[l] - bf)[inside] <= bstep / 2 + 1e-12)
        assert q.report[l]["bias_saturated"] == int((~inside).sum())


@FAST
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30), st.integers(2, 16))
def test_inputs_are_within_half_a_step_below_full_scale(xs, bits):
    cfg = HwConfig(state_bits=bits, eps_shift=1)
    x = np.array([xs])
    codes = quantise_input(cfg, x)
    step = 2.0 ** -bits
    inside = x < cfg.state_max * step
    assert np.all(np.abs(codes * step - x)[inside] <= step / 2)
    assert np.all(codes[~inside] == cfg.state_max)


def test_round_float_modes():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.4])
    assert round_float(x, "half_up").tolist() == [-2, -1, 0, 1, 2, 2]
    assert round_float(x, "half_away").tolist() == [-3, -2, -1, 1, 2, 2]
    assert round_float(x, "floor").tolist() == [-3, -2, -1, 0, 1, 2]


def test_saturation_is_counted_per_layer():
    net = _net()
    with torch.no_grad():
        net.weights[1][0, 0] = 2.0      # within +-7 at the widest 4-bit scale, saturated at the one chosen
        net.biases[0][2] = 500.0        # within the widest bias scale (+-2048), beyond the one chosen (+-128)
    q = quantise(net, weight_bits=4, shadow_bits=12)
    assert q.report[0]["weight_saturated"] == 0 and q.report[1]["weight_saturated"] == 1
    assert q.params.weights[1][0, 0] == 7 and q.cfg.weight_frac[1] > 0
    assert q.report[0]["bias_saturated"] == 1 and q.params.biases[0][2] == q.cfg.bias_max


@pytest.mark.parametrize("layer, value, message", [
    (1, float("nan"), r"weights of layer 1 must be finite, not nan at index \(0, 0\) \(1 NaN or infinite values\)"),
    (0, float("-inf"), r"weights of layer 0 must be finite, not -inf at index \(0, 0\)"),
    (1, 1e30, r"weights of layer 1 must be within \+-127.5 \(the widest INT8 scale \(weight_frac 0\) reaches "
              r"\+-127\), not 1e\+30 at index \(0, 0\)"),
    (0, -1000.0, r"weights of layer 0 must be within \+-127.5 .*, not -1000.0"),
])
def test_non_finite_and_out_of_range_weights_are_refused(layer, value, message):
    net = _net()
    with torch.no_grad():
        net.weights[layer][0, 0] = value
    with pytest.raises(ValueError, match=message):
        quantise(net)


def test_biases_the_format_cannot_hold_are_refused():
    net = _net()
    with torch.no_grad():
        net.biases[0][2] = 1e6
    with pytest.raises(ValueError, match=r"biases of layer 0 must be within \+-2048 \(bias_bits = 20 at the widest "
                                         r"accumulator scale, 8 fraction bits\), not 1000000.0 at index \(2,\)"):
        quantise(net)
    with torch.no_grad():
        net.biases[0][2] = float("nan")
    with pytest.raises(ValueError, match=r"biases of layer 0 must be finite, not nan at index \(2,\)"):
        quantise(net)


def test_inputs_outside_the_state_range_are_refused():
    with pytest.raises(ValueError, match=r"inputs must be in \[0, 1\] \(the state range\), not -0.5 .. 1.0; "
                                         "scale the data first"):
        quantise_input(HwConfig(), np.array([[-0.5, 1.0]]))


def test_scale_is_chosen_per_layer():
    net = _net()
    with torch.no_grad():
        net.weights[1].mul_(16.0)
    q = quantise(net)
    assert q.cfg.weight_frac[0] - q.cfg.weight_frac[1] == 4


def test_ternary_codes_and_zero_fraction():
    q = quantise(_net(sizes=(32, 16, 4)), weight_format="ternary", weight_bits=2)
    for l, w in enumerate(q.params.weights):
        assert set(np.unique(w)) <= {-1, 0, 1}
        assert q.report[l]["zero_fraction"] == pytest.approx(float((w == 0).mean()), abs=0.05)
        assert 0.0 < q.report[l]["zero_fraction"] < 1.0


def test_config_from_net_maps_powers_of_two_to_shifts():
    cfg = config_from_net(_net(beta=0.25, step_size=0.5, free_steps=17, nudge_steps=5, estimator="one-sided"))
    assert (cfg.sizes, cfg.beta_shift, cfg.eps_shift, cfg.free_steps, cfg.nudge_steps, cfg.estimator) == (
        (8, 6, 3), 2, 1, 17, 5, "one-sided")
    with pytest.raises(ValueError, match="beta must be a power of two for the fixed-point model, not 0.3"):
        config_from_net(_net(beta=0.3))
    with pytest.raises(ValueError, match="estimator must be symmetric or one-sided"):
        config_from_net(_net(estimator="random-sign"))


def test_checkpoint_and_net_quantise_identically(tmp_path):
    cfg = TrainConfig(model="eqprop", hidden=[6], seed=4)
    learner = build(cfg, 8, 3)
    path = str(tmp_path / "checkpoint.pt")
    save_checkpoint(path, learner, cfg, 8, 3)
    a, b = quantise(load_checkpoint(path).model), quantise(learner.model)
    assert a.cfg == b.cfg and a.report == b.report
    pairs = zip(a.params.shadow + a.params.biases, b.params.shadow + b.params.biases, strict=True)
    assert all(np.array_equal(x, y) for x, y in pairs)


def test_mlp_checkpoint_and_size_mismatch_are_rejected(tmp_path):
    cfg = TrainConfig(model="mlp", hidden=[6])
    path = str(tmp_path / "mlp.pt")
    save_checkpoint(path, build(cfg, 8, 3), cfg, 8, 3)
    with pytest.raises(ValueError, match="quantisation needs an EqPropNet .*, not a BackpropMLP"):
        quantise(load_checkpoint(path).model)
    with pytest.raises(ValueError, match=r"cfg.sizes must match the network's sizes \(8, 6, 3\)"):
        quantise(_net(), HwConfig())


def test_digests_name_the_config_and_every_code():
    q = quantise(_net())
    digest = design_digest(q.cfg, q.params)
    assert len(digest) == 64 and digest == design_digest(q.cfg, q.params.copy())
    assert digest == design_digest(quantise(_net()).cfg, quantise(_net()).params)   # deterministic
    changed = q.params.copy()
    changed.shadow[1][0, 0] += 1
    assert design_digest(q.cfg, changed) != digest
    changed = q.params.copy()
    changed.biases[0][-1] -= 1
    assert design_digest(q.cfg, changed) != digest
    assert design_digest(q.cfg.replace(free_steps=q.cfg.free_steps + 1), q.params) != digest
    assert config_digest(q.cfg) == config_digest(q.cfg.replace()) != config_digest(q.cfg.replace(mac_lanes=2))
