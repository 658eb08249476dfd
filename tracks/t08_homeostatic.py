"""Track 8: homeostatic regulation restores L < 1 after the network is pushed above 1.

`eqprop.zoo.HomeostaticEqProp` (LoopedMLP, no spectral norm, proportional controller on
sigma_max(W_rec), set point 0.95) is trained on digits by EqProp; mid-training W_rec is scaled so
that L = 2. The same network with the controller off (gain 0) is the control: it shows that the
push is real and that training alone does not undo it.
"""

from __future__ import annotations

import torch

from eqprop.train import Learner, evaluate, train_epochs
from eqprop.zoo.homeostatic import HomeostaticEqProp
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure

PUSH_TO = 2.0


def experiment(*, hidden: int, epochs_before: int, epochs_after: int, seed: int = 0, gain: float = 0.5) -> dict:
    d = digits()
    out = {}
    for name, g in (("homeostasis", gain), ("control (gain 0)", 0.0)):
        net = HomeostaticEqProp(d.n_in, hidden, d.n_classes, gain=g, generator=torch.Generator().manual_seed(seed))
        learner = Learner("looped-eqprop", net, torch.optim.Adam(net.parameters(), lr=1e-3), d.n_classes)
        trace: list[float] = []

        def record(_l, net=net, trace=trace):
            trace.append(net.lipschitz())

        # warm up with the controller on in both arms, so they start the push from the same kind of network
        net.gain = gain
        train_epochs(learner, d, epochs=epochs_before, seed=seed, after_step=record, eval_every_epoch=False)
        acc_before = evaluate(net, d.x_test, d.y_test)
        net.gain = g
        push_step = len(trace)
        net.scale_recurrent(PUSH_TO / net.lipschitz())
        trace.append(net.lipschitz())
        hist = train_epochs(learner, d, epochs=epochs_after, seed=seed + 7, after_step=record)
        after = trace[push_step + 1:]
        recovered = next((i + 1 for i, v in enumerate(after) if v < 1.0), None)
        out[name] = {"gain": g, "L": trace, "push_step": push_step, "acc_before": acc_before,
                     "acc_after": hist[-1]["test_acc"], "steps_to_recover": recovered,
                     "L_final": trace[-1], "L_max_after_recovery": max(after[recovered:], default=trace[-1])
                     if recovered is not None else None}
    return {"hidden": hidden, "push_to": PUSH_TO, "target": 0.95, "arms": out}


def judge(m: dict) -> Verdict:
    h, c = m["arms"]["homeostasis"], m["arms"]["control (gain 0)"]
    txt = (f"with homeostasis L fell below 1 {h['steps_to_recover']} steps after the push to {m['push_to']} and ended "
           f"at {h['L_final']:.3f}; accuracy {h['acc_before']:.1%} before, {h['acc_after']:.1%} after; control "
           f"ended at L = {c['L_final']:.2f}, {c['acc_after']:.1%}") if h["steps_to_recover"] else \
        f"with homeostasis L never fell below 1 after the push (final {h['L_final']:.2f})"
    if h["steps_to_recover"] is None or h["L_max_after_recovery"] >= 1.0:
        return Verdict(Status.FAIL, txt + "; L < 1 not restored (or not kept)")
    if c["L_final"] < 1.0:
        return Verdict(Status.FAIL, txt + "; the control also returned below 1, so the regulation shows nothing")
    if h["acc_before"] >= 0.85 and h["acc_before"] - h["acc_after"] <= 0.02:
        return Verdict(Status.PASS, txt + "; L < 1 restored and kept, accuracy within 2 points of before the push")
    return Verdict(Status.PARTIAL, txt + "; L < 1 restored, but accuracy did not recover to within 2 points "
                                         "(or was below 85% before)")


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick(32, 256), epochs_before=ctx.pick(1, 3, 5), epochs_after=ctx.pick(1, 3, 5),
                   seed=ctx.seed)
    verdict = judge(m)
    fig, ax = figure()
    for name, a in m["arms"].items():
        ax.plot(range(len(a["L"])), a["L"], label=name)
    ax.axvline(m["arms"]["homeostasis"]["push_step"], color="tab:red", ls="--", label=f"push to L = {m['push_to']}")
    ax.axhline(1.0, color="grey", ls=":")
    ax.set(xlabel="optimiser step", ylabel="sigma_max(W_rec)", title="homeostatic regulation of L")
    ax.legend(fontsize=8)
    rows = [[k, f"{a['acc_before']:.1%}", a["steps_to_recover"] or "never", f"{a['L_final']:.3f}",
             f"{a['acc_after']:.1%}"] for k, a in m["arms"].items()]
    return Outcome(m, verdict, verdict.reason.split(";")[0].split(" and ended")[0],
                   [md_table(["arm", "accuracy before push", "steps until L < 1", "final L", "final accuracy"], rows)],
                   [ctx.save_figure(fig, "t08_homeostatic")],
                   "The controller is a rule written for this purpose, so restoring L is expected by construction; "
                   "what the track measures is how fast, whether learning continues, and that without it the "
                   "network stays above 1.")


TRACK = Track(
    number=8, title="Homeostatic regulation", run=run, budget_s=25,
    claim="Homeostatic regulation restores L < 1 after the network is pushed above 1.",
    experiment="HomeostaticEqProp 64-256-10 (set point 0.95, gain 0.5) trained by EqProp 3 epochs, then W_rec scaled "
               "to L = 2 and 3 more epochs; control: the same with the controller off after the push.",
    criterion="FAIL if L does not return below 1 and stay there, or if the control returns too. PASS if also the "
              "accuracy ends within 2 points of its value before the push (which must be >= 85%); PARTIAL otherwise.",
)
