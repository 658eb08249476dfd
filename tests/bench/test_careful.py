"""`bench.careful`, the CPU baseline a careful user writes: the same states as `EqPropNet`'s relaxation at
equal steps, a fixed-point stop that changes nothing, and a training step equal to `EqPropNet.eqprop_update`
with SGD. No timing is asserted (the bench measures those)."""

import copy

import numpy as np
import pytest
import torch

from bench import careful
from eqprop.eqpropnet import EqPropNet


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """One torch thread: tiny matrices on two threads of a shared machine spend seconds waiting on each other;
    "all threads" in the measurements is one here too (the bench times both)."""
    monkeypatch.setattr(careful, "ALL_THREADS", 1)
    with careful.torch_threads(1):
        yield


def _net(sizes, seed=0, **kw):
    return EqPropNet(sizes=sizes, generator=torch.Generator().manual_seed(seed), **kw)


def _x(n, width, seed=1):
    return torch.rand(n, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sizes", [[64, 16, 10], [20, 12, 8, 5]])
@pytest.mark.parametrize("steps", [1, 7, 30])
def test_careful_states_and_predictions_equal_the_naive_forward_at_equal_steps(sizes, steps):
    net, x = _net(sizes), _x(16, sizes[0])
    ws, bs = careful.params_of(net)
    got = careful.relax(ws, bs, careful.input_drive(ws, bs, x), steps=steps, eps=net.config.step_size)
    ref = net.relax(x, steps=steps)
    assert got.steps == steps
    for layer, (g, r) in enumerate(zip(got.states, ref, strict=True)):
        assert torch.equal(g, r), f"layer {layer + 1}: careful states differ from EqPropNet.relax at T = {steps}"
    net.config.free_steps = steps
    assert torch.equal(careful.predict(net, x, steps=steps)[0], net.predict(x))


def test_fixed_point_stop_equals_running_to_the_step_limit():
    """Once no state of the batch changes, every later step returns the same states: stopping there gives the
    states (and predictions) of running all T steps; a batch still moving at T runs all T."""
    net, x = _net([64, 16, 10]), _x(16, 64)
    ws, bs = careful.params_of(net)
    drive = careful.input_drive(ws, bs, x)
    long = 400
    fixed = careful.relax(ws, bs, drive, steps=long, eps=0.5, until_fixed=True)
    assert fixed.steps < long, "the float relaxation did not reach a fixed point in 400 steps"
    full = careful.relax(ws, bs, drive, steps=long, eps=0.5)
    naive = net.relax(x, steps=long)
    for a, b, c in zip(fixed.states, full.states, naive, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    # the step before the stop still moved: the stop is the first unchanged step, not a later one
    before = careful.relax(ws, bs, drive, steps=fixed.steps - 2, eps=0.5)
    last = careful.relax(ws, bs, drive, steps=fixed.steps - 1, eps=0.5)
    assert not all(torch.equal(a, b) for a, b in zip(before.states, last.states, strict=True))
    net.config.free_steps = long
    assert torch.equal(careful.predict(net, x, steps=long, until_fixed=True)[0], net.predict(x))
    short = careful.relax(ws, bs, drive, steps=3, eps=0.5, until_fixed=True)
    assert short.steps == 3 and all(torch.equal(a, b) for a, b in
                                    zip(short.states, net.relax(x, steps=3), strict=True))


@pytest.mark.parametrize("estimator", ["symmetric", "one-sided"])
def test_careful_training_step_is_eqprop_update_with_sgd(estimator):
    net = _net([20, 12, 8, 5], estimator=estimator)
    x, labels = _x(32, 20), torch.arange(32) % 5
    target = torch.nn.functional.one_hot(labels, 5).float()
    ref = copy.deepcopy(net)
    out = ref.eqprop_update(x, target, free_steps=9, nudge_steps=4)
    with torch.no_grad():
        for l, (w, b, dw, db) in enumerate(zip(ref.weights, ref.biases, out["dW"], out["db"], strict=True)):
            w.add_(dw, alpha=0.2 / 2**l)
            b.add_(db, alpha=0.2 / 2**l)
    free = careful.train_step(net, x, target, free_steps=9, nudge_steps=4, lr=0.2)
    assert all(torch.equal(a, b) for a, b in zip(free, out["free"], strict=True))
    for got, want in zip([*net.weights, *net.biases], [*ref.weights, *ref.biases], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert not torch.equal(net.weights[0], _net([20, 12, 8, 5]).weights[0]), "the step changed no weight"
    with pytest.raises(ValueError, match="nudge_steps must be one count or"):
        careful.train_step(net, x, target, free_steps=9, nudge_steps=(4, 4, 4), lr=0.2)


def test_quantisation_aware_networks_are_refused():
    with pytest.raises(ValueError, match="the careful baseline needs a float network"):
        careful.params_of(_net([8, 4, 2], qat="int8"))


def test_measurements_report_both_stops_and_the_accuracy_check():
    """The bench's measurements run end to end on a tiny network (rates only checked to be positive)."""
    net = _net([64, 16, 10])
    x = _x(40, 64).numpy()
    y = np.arange(40) % 10
    a = careful.accuracy(net, x, y, chip_steps=5)
    assert a["images"] == 40 and {"naive_correct", "chip_steps_correct", "fixed_point_correct"} <= a.keys()
    assert a["fixed_point_within_one_image"] == (abs(a["fixed_point_correct"] - a["naive_correct"]) <= 1)
    r = careful.inference_rates(net, x, chip_steps=5, seconds=0.01)
    for key in ("one_thread", "all_threads"):
        assert r[key] == max(r[f"{key}_chip_steps_per_s"], r[f"{key}_fixed_point_per_s"]) > 0
        assert r[f"{key}_method"] in ("chip_steps", "fixed_point")
    assert careful.inference_rates(net, x, chip_steps=None, seconds=0.01)["one_thread_method"] == "fixed_point"
    t = careful.train_rates(net, x, y, {"free": 5, "plus": 3, "minus": 3}, seconds=0.01)
    assert t["one_thread"] > 0 and t["all_threads"] > 0
    assert careful.chip_steps(17.2) == 18 and careful.chip_steps(18.0) == 18 and careful.chip_steps(None) is None
