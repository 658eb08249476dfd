"""Track 6: EqProp with random feedback weights, against symmetric feedback and against no feedback.

`eqprop.zoo.FeedbackAlignmentEqProp` [64, 128, 64, 10] on digits in three modes: symmetric (plain
EqProp), random fixed feedback B (Lillicrap et al. 2016) and no feedback (only the top layer
learns: the read-out-only control). Two hidden layers, because with one hidden layer of 256 a
trained read-out on random features already reaches about 93% on digits and would hide whether
the hidden layers learn. The alignment cos(W_l, B_l) is tracked per epoch.
"""

from __future__ import annotations

import torch

from eqprop.train import train_epochs
from eqprop.zoo.feedback_alignment import FeedbackAlignmentEqProp
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, eqprop_learner, figure

ARMS = {"symmetric": "symmetric", "random feedback": "random", "no feedback (read-out only)": "zero"}


def experiment(*, hidden: list[int], epochs: int, seed: int = 0, arms=None) -> dict:
    d = digits()
    out = {}
    for name, mode in (arms or ARMS).items():
        net = FeedbackAlignmentEqProp(d.n_in, hidden, d.n_classes, mode, generator=torch.Generator().manual_seed(seed))
        align = [net.alignment()]
        learner = eqprop_learner(net=net)
        curve = []
        for _ in range(epochs):  # one epoch at a time to follow the alignment; batch order reseeded per epoch
            h = train_epochs(learner, d, epochs=1, seed=seed + len(curve))
            curve.append(h[-1]["test_acc"])
            align.append(net.alignment())
        out[name] = {"mode": mode, "curve": curve, "test_acc": curve[-1], "alignment": align}
    return {"hidden": hidden, "epochs": epochs, "arms": out}


def judge(m: dict) -> Verdict:
    a = m["arms"]
    sym, fa, ctrl = (a[k]["test_acc"] for k in ARMS)
    txt = f"random feedback {fa:.1%}, symmetric {sym:.1%}, read-out-only control {ctrl:.1%}"
    if fa < 0.5 or fa - ctrl < 0.10:
        return Verdict(Status.FAIL, txt + ": random feedback does not beat the control by 10 points (hidden layers "
                                          "do not learn through it)")
    if sym - fa <= 0.05:
        return Verdict(Status.PASS, txt + ": beats the control by >= 10 points and is within 5 points of symmetric")
    return Verdict(Status.PARTIAL, txt + ": learns (>= 10 points over the control) but trails symmetric by > 5 points")


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick([16, 16], [128, 64]), epochs=ctx.pick(2, 15, 40), seed=ctx.seed)
    verdict = judge(m)
    fig, axes = figure(2)
    for k, a in m["arms"].items():
        axes[0].plot(range(1, len(a["curve"]) + 1), [100 * c for c in a["curve"]], marker=".", label=k)
    axes[0].set(xlabel="epoch", ylabel="digits test accuracy (%)", title="feedback alignment")
    axes[0].legend(fontsize=8)
    fa = m["arms"]["random feedback"]["alignment"]
    for l in range(len(fa[0])):
        axes[1].plot(range(len(fa)), [row[l] for row in fa], marker=".", label=f"cos(W{l + 2}, B{l + 2})")
    axes[1].set(xlabel="epoch", ylabel="cosine", title="alignment of forward and random feedback weights")
    axes[1].legend(fontsize=8)
    rows = [[k, f"{a['test_acc']:.1%}", ", ".join(f"{v:.3f}" for v in a["alignment"][0]),
             ", ".join(f"{v:.3f}" for v in a["alignment"][-1])] for k, a in m["arms"].items()]
    notes = ("With asymmetric feedback there is no energy function and the EqProp update is no longer a gradient "
             "estimate; learning relies on the forward weights aligning with B, as in feedback alignment. The "
             "read-out-only control is what a network learns when the hidden layers get no signal at all.")
    return Outcome(m, verdict, verdict.reason.split(":")[0],
                   [md_table(["feedback", "test accuracy", "cos(W, B) at start", "cos(W, B) at end"], rows)],
                   [ctx.save_figure(fig, "t06_feedback_alignment")], notes)


TRACK = Track(
    number=6, title="Feedback alignment", run=run, budget_s=25,
    claim="EqProp learns with random feedback weights B != W^T (the weight transport problem); the seed showed "
          "100% = 100% on a toy task with alignment 0.00.",
    experiment="FeedbackAlignmentEqProp [64, 128, 64, 10] on digits, 15 epochs, in three modes: symmetric, fixed "
               "random feedback, and no feedback (read-out-only control); cos(W, B) tracked per epoch.",
    criterion="FAIL unless random feedback reaches >= 50% and beats the read-out-only control by >= 10 points. "
              "Then PASS if within 5 points of symmetric, PARTIAL otherwise.",
)
