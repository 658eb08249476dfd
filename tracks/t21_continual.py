"""Track 21: continual learning on split digits: forgetting, against a backprop baseline.

Task A = digits 0-4, task B = digits 5-9 (class-incremental: one 10-way output layer). Each model
is trained on A, then on B only; forgetting is the drop of its accuracy on A's test digits. The
same protocol is run for `EqPropNet` (EqProp) and for `BackpropMLP` of the same size (backprop,
Adam), so the number has a reference. No replay, no regulariser: this measures the raw method.
"""

from __future__ import annotations

import torch

from eqprop.mlp import BackpropMLP
from eqprop.train import Learner, evaluate, train_epochs
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits_subset, eqprop_learner, figure

TASK_A, TASK_B = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)


def _learners(hidden: int, seed: int) -> dict[str, Learner]:
    mlp = BackpropMLP([64, hidden, 10], generator=torch.Generator().manual_seed(seed))
    return {"EqProp": eqprop_learner([64, hidden, 10], seed=seed),
            "backprop MLP": Learner("mlp", mlp, torch.optim.Adam(mlp.parameters(), lr=1e-3), 10)}


def experiment(*, hidden: int, epochs: int, seed: int = 0, epochs_a: int | None = None) -> dict:
    a, b = digits_subset(TASK_A), digits_subset(TASK_B)
    out = {}
    for name, learner in _learners(hidden, seed).items():
        if epochs_a is None or epochs_a > 0:
            train_epochs(learner, a, epochs=epochs if epochs_a is None else epochs_a, seed=seed,
                          eval_every_epoch=False)
        a_before = evaluate(learner.model, a.x_test, a.y_test)
        curve_a, curve_b = [a_before], [evaluate(learner.model, b.x_test, b.y_test)]
        for e in range(epochs):
            train_epochs(learner, b, epochs=1, seed=seed + 100 + e, eval_every_epoch=False)
            curve_a.append(evaluate(learner.model, a.x_test, a.y_test))
            curve_b.append(evaluate(learner.model, b.x_test, b.y_test))
        out[name] = {"a_before": a_before, "a_after": curve_a[-1], "b_after": curve_b[-1],
                     "forgetting": a_before - curve_a[-1], "curve_a": curve_a, "curve_b": curve_b}
    return {"hidden": hidden, "epochs": epochs, "models": out}


def judge(m: dict) -> Verdict:
    eq, bp = m["models"]["EqProp"], m["models"]["backprop MLP"]
    txt = (f"EqProp: A {eq['a_before']:.1%} -> {eq['a_after']:.1%} (forgetting {eq['forgetting'] * 100:.1f} points), "
           f"B {eq['b_after']:.1%}; backprop forgetting {bp['forgetting'] * 100:.1f} points")
    if eq["a_before"] < 0.9 or eq["b_after"] < 0.9:
        return Verdict(Status.FAIL, txt + "; a task was not learned (< 90%), so forgetting is not measured")
    if eq["forgetting"] <= 0.10:
        return Verdict(Status.PASS, txt + "; EqProp forgets <= 10 points")
    if bp["forgetting"] - eq["forgetting"] >= 0.10:
        return Verdict(Status.PARTIAL, txt + "; EqProp forgets > 10 points but >= 10 fewer than backprop")
    return Verdict(Status.FAIL, txt + "; EqProp forgets catastrophically, like the baseline")


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick(32, 256), epochs=ctx.pick(2, 5, 20), seed=ctx.seed)
    verdict = judge(m)
    fig, ax = figure()
    for (name, r), color in zip(m["models"].items(), ("tab:blue", "tab:orange"), strict=True):
        ax.plot(range(len(r["curve_a"])), [100 * v for v in r["curve_a"]], color=color, marker="o",
                label=f"{name}: task A (0-4)")
        ax.plot(range(len(r["curve_b"])), [100 * v for v in r["curve_b"]], color=color, ls="--", marker=".",
                label=f"{name}: task B (5-9)")
    ax.set(xlabel="epochs of training on task B", ylabel="test accuracy (%)", title="split digits, A then B")
    ax.legend(fontsize=7)
    rows = [[k, f"{r['a_before']:.1%}", f"{r['a_after']:.1%}", f"{r['forgetting'] * 100:.1f}", f"{r['b_after']:.1%}"]
            for k, r in m["models"].items()]
    eq = m["models"]["EqProp"]
    return Outcome(m, verdict, f"EqProp forgets {eq['forgetting'] * 100:.0f} points of task A; backprop "
                   f"{m['models']['backprop MLP']['forgetting'] * 100:.0f}",
                   [md_table(["model", "A before", "A after B", "forgetting (points)", "B after"], rows)],
                   [ctx.save_figure(fig, "t21_continual")],
                   "The seed reported 0% forgetting on a toy task. Nothing in EqProp's update protects old tasks: "
                   "the contrastive rule is a gradient estimate, so it forgets as gradient descent does. The two "
                   "models are trained as the project trains them (EqProp: SGD 0.2 halved per layer, squared error; "
                   "backprop: Adam 1e-3, cross-entropy), so the difference mixes method, loss and optimiser.")


TRACK = Track(
    number=21, title="Continual learning", run=run, budget_s=15,
    claim="EqProp supports sequential learning without catastrophic forgetting (the seed: 0% forgetting).",
    experiment="Split digits: train on 0-4, then on 5-9 only (5 epochs each), EqPropNet [64, 256, 10] by EqProp and "
               "BackpropMLP of the same size by backprop; accuracy on 0-4 before and after.",
    criterion="FAIL if either task is not learned (< 90%). PASS if EqProp forgets <= 10 points; PARTIAL if it "
              "forgets more but >= 10 points less than backprop; FAIL otherwise.",
)
