"""Track 15: the numpy EqProp kernel and the PyTorch model give the same updates.

`eqprop.zoo.NumpyEqProp` (float64 numpy, written from the equations) against `EqPropNet` (PyTorch,
copied to float64) on digits: the update of every layer for both estimators on one batch, then the
weights after many SGD steps on identical batches, and the accuracy each reaches.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from eqprop.eqpropnet import EqPropNet
from eqprop.train import TrainConfig, build
from eqprop.zoo import NumpyEqProp
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure

TOL = 1e-9  # float64, same operations in a different order


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def experiment(*, hidden: list[int], train_steps: int, seed: int = 0, kernel_kw=None, batch: int = 32) -> dict:
    d = digits()
    learner = build(TrainConfig(model="eqprop", hidden=hidden, seed=seed), d.n_in, d.n_classes)
    net: EqPropNet = copy.deepcopy(learner.model).double()
    kernel = NumpyEqProp.from_torch(net, **(kernel_kw or {}))
    x_np, y_np = d.x_train[:batch].astype(np.float64), np.eye(10)[d.y_train[:batch]]
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    per_layer = []
    for est in ("one-sided", "symmetric"):
        ref = net.eqprop_update(x, y, estimator=est)
        dws, dbs = kernel.update(x_np, y_np, estimator=est)
        for l in range(len(dws)):
            per_layer.append({"estimator": est, "layer": l + 1, "dW_rel": rel(dws[l], ref["dW"][l].numpy()),
                              "db_rel": rel(dbs[l], ref["db"][l].numpy())})
    # training: identical batches, SGD with eqprop.train's per-layer rates (lr / 2^l)
    lrs = [0.2 / 2**l for l in range(len(net.weights))]
    opt = torch.optim.SGD([{"params": [w, b], "lr": lr} for w, b, lr in zip(net.weights, net.biases, lrs,
                                                                            strict=True)])
    order = np.random.default_rng(seed).permutation(len(d.x_train))
    drift = []
    for i in range(train_steps):
        idx = order[(i * batch) % len(order):][:batch]
        xb, yb = d.x_train[idx].astype(np.float64), np.eye(10)[d.y_train[idx]]
        net.eqprop_step(torch.from_numpy(xb), torch.from_numpy(yb), opt)
        kernel.train_step(xb, yb, lrs)
        drift.append(max(rel(k, t.detach().numpy()) for k, t in zip(kernel.weights, net.weights, strict=True)))
    x_te = torch.from_numpy(d.x_test.astype(np.float64))
    acc_torch = float((net.predict(x_te).numpy() == d.y_test).mean())
    acc_kernel = float((kernel.predict(d.x_test.astype(np.float64)) == d.y_test).mean())
    pred_agree = float((net.predict(x_te).numpy() == kernel.predict(d.x_test.astype(np.float64))).mean())
    return {"per_layer": per_layer, "max_update_rel": max(max(r["dW_rel"], r["db_rel"]) for r in per_layer),
            "train_steps": train_steps, "weight_drift": drift, "max_weight_rel": max(drift) if drift else 0.0,
            "acc_torch": acc_torch, "acc_kernel": acc_kernel, "prediction_agreement": pred_agree}


def judge(m: dict) -> Verdict:
    txt = (f"max relative difference of updates {m['max_update_rel']:.2g}, of weights after {m['train_steps']} "
           f"steps {m['max_weight_rel']:.2g}; test accuracy PyTorch {m['acc_torch']:.1%}, numpy "
           f"{m['acc_kernel']:.1%}, predictions agree on {m['prediction_agreement']:.1%}")
    if m["max_update_rel"] <= TOL and m["max_weight_rel"] <= 1e3 * TOL and m["prediction_agreement"] == 1.0:
        return Verdict(Status.PASS, txt + f" (<= {TOL:g}, <= {1e3 * TOL:g}, all)")
    return Verdict(Status.FAIL, txt + f" (must be <= {TOL:g}, <= {1e3 * TOL:g} and 100%)")


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick([32], [128, 64]), train_steps=ctx.pick(10, 100, 450), seed=ctx.seed)
    verdict = judge(m)
    fig, ax = figure()
    ax.semilogy(range(1, len(m["weight_drift"]) + 1), np.maximum(m["weight_drift"], 1e-18))
    ax.axhline(1e3 * TOL, color="grey", ls=":", label="tolerance")
    ax.set(xlabel="SGD step", ylabel="max relative weight difference", title="numpy kernel vs PyTorch, float64")
    ax.legend()
    rows = [[r["estimator"], f"W{r['layer']}", f"{r['dW_rel']:.2g}", f"{r['db_rel']:.2g}"] for r in m["per_layer"]]
    return Outcome(m, verdict, f"updates agree to {m['max_update_rel']:.1g}, weights to {m['max_weight_rel']:.1g}; "
                   f"acc {m['acc_torch']:.1%} / {m['acc_kernel']:.1%}",
                   [md_table(["estimator", "layer", "dW max rel. diff", "db max rel. diff"], rows)],
                   [ctx.save_figure(fig, "t15_kernel_drift")],
                   "The seed's kernel learned only its read-out (10% vs 12.5%); this one trains every layer.")


TRACK = Track(
    number=15, title="NumPy kernel against PyTorch", run=run, budget_s=15,
    claim="A plain numpy EqProp kernel and the PyTorch model compute the same updates and train identically.",
    experiment="EqPropNet [64, 128, 64, 10] and NumpyEqProp with the same weights, float64: the update of every "
               "layer (one-sided and symmetric) on a digits batch, "
               "then 100 SGD steps on identical batches (450 in full mode).",
    criterion=f"PASS if every update agrees to {TOL:g} (max relative difference), the weights after training to "
              f"{1e3 * TOL:g}, and the two predict the same class on every test digit; FAIL otherwise.",
)
