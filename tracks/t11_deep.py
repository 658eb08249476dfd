"""Track 11: credit assignment through several hidden layers: accuracy and per-layer signal.

`EqPropNet` with 1, 3 and 5 hidden layers of 64 trained by EqProp on digits with the project's
defaults (T = 30 free steps, SGD 0.2 halved per layer up). Per layer, after training: the RMS of
the EqProp update on a test batch (does the nudge reach the bottom layers?), and its cosine with
the BPTT gradient at a converged free phase (track 9's check, symmetric estimator, beta 0.01,
relaxed until it has converged).
"""

from __future__ import annotations

import torch

from eqprop.train import TrainConfig, fit
from tracks import t09_gradient_alignment as t09
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure


def experiment(*, depths=(1, 3, 5), width: int = 64, epochs: int = 10, seed: int = 0, lr: float | None = None) -> dict:
    d = digits()
    x = torch.from_numpy(d.x_test[:128])
    target = torch.nn.functional.one_hot(torch.from_numpy(d.y_test[:128]), 10).float()
    out = {}
    for depth in depths:
        learner, m = fit(TrainConfig(model="eqprop", hidden=[width] * depth, epochs=epochs, seed=seed, lr=lr), d,
                         progress=False, log=None)
        net = learner.model
        upd = net.eqprop_update(x, target)
        rms = [float(dw.pow(2).mean().sqrt()) for dw in upd["dW"]]
        check = t09.experiment(net, batch=32, betas=(0.01,))
        cos = [r["cosine"] for r in check["rows"] if r["estimator"] == "symmetric"]
        out[str(depth)] = {"depth": depth, "curve": [h["test_acc"] for h in m["history"]],
                           "test_acc": m["final_test_acc"], "update_rms": rms, "cos_bptt": cos,
                           "bottom_to_top": rms[0] / max(rms[-1], 1e-30), "check_steps": check["steps"],
                           "check_residual": check["free_phase_residual"]}
    return {"width": width, "epochs": epochs, "nets": out}


def judge(m: dict) -> Verdict:
    nets = m["nets"]
    shallow = nets[min(nets, key=int)]
    deep = nets[max(nets, key=int)]
    txt = (f"{deep['depth']} hidden layers: {deep['test_acc']:.1%} vs {shallow['depth']}: {shallow['test_acc']:.1%}; "
           f"bottom/top update RMS {deep['bottom_to_top']:.2g}; cosine with BPTT per layer "
           + ", ".join(f"{c:.3f}" for c in deep["cos_bptt"]))
    signal = deep["bottom_to_top"] >= 1e-2 and min(deep["cos_bptt"]) >= 0.9
    if deep["test_acc"] >= 0.9 and shallow["test_acc"] - deep["test_acc"] <= 0.03 and signal:
        return Verdict(Status.PASS, txt + " (>= 90%, within 3 points, signal reaches the bottom)")
    if deep["test_acc"] >= 0.5 and signal:
        return Verdict(Status.PARTIAL, txt + " (signal reaches the bottom, but accuracy is short of the shallow net)")
    return Verdict(Status.FAIL, txt + (" (deep accuracy below 50%)" if deep["test_acc"] < 0.5 else
                                       " (the update signal does not reach the bottom layers)"))


def run(ctx: Context) -> Outcome:
    m = experiment(depths=ctx.pick((1, 2), (1, 3, 5), (1, 3, 5, 8)), width=ctx.pick(16, 64),
                   epochs=ctx.pick(1, 10, 40), seed=ctx.seed)
    verdict = judge(m)
    fig, axes = figure(2)
    for k, n in m["nets"].items():
        axes[0].plot(range(1, len(n["curve"]) + 1), [100 * a for a in n["curve"]], marker=".", label=f"{k} hidden")
        axes[1].semilogy(range(1, len(n["update_rms"]) + 1), n["update_rms"], marker="o", label=f"{k} hidden")
    axes[0].set(xlabel="epoch", ylabel="digits test accuracy (%)", title="accuracy by depth")
    axes[1].set(xlabel="layer (1 = bottom)", ylabel="RMS of the EqProp update", title="update signal per layer")
    for ax in axes:
        ax.legend(fontsize=8)
    rows = [[k, f"{n['test_acc']:.1%}", ", ".join(f"{r:.2g}" for r in n["update_rms"]),
             ", ".join(f"{c:.3f}" for c in n["cos_bptt"]), f"{n['check_steps']} ({n['check_residual']:.1g})"]
            for k, n in m["nets"].items()]
    deep = m["nets"][max(m["nets"], key=int)]
    notes = ("Trained with the defaults that suit one hidden layer (T = 30, learning rate halved per layer up); "
             "deeper networks need more relaxation steps for the nudge to travel down and back, and the halving "
             "leaves the top layers of a deep net with tiny rates. They are reported as they are, not tuned. "
             f"The gradient check for the deepest net ran {deep['check_steps']} steps (residual "
             f"{deep['check_residual']:.1g}); where its cosines are low at a converged free phase, the cause is not "
             "established here (suspects: the hard sigmoid's kinks, which a nudge of beta 0.01 can cross, and slow "
             "modes of the relaxation).")
    return Outcome(m, verdict, f"{max(m['nets'], key=int)} hidden: {m['nets'][max(m['nets'], key=int)]['test_acc']:.1%}"
                   f" vs 1 hidden: {m['nets'][min(m['nets'], key=int)]['test_acc']:.1%}",
                   [md_table(["hidden layers", "test accuracy", "update RMS per layer (bottom first)",
                              "cosine with BPTT per layer", "check steps (residual)"], rows)],
                   [ctx.save_figure(fig, "t11_deep")], notes)


TRACK = Track(
    number=11, title="Deep networks", run=run, budget_s=30,
    claim="EqProp assigns credit through many layers (the seed: '100 layers, full accuracy', from a 50-step loop "
          "on a toy task).",
    experiment="EqPropNet with 1, 3 and 5 hidden layers of 64 trained 10 epochs by EqProp on digits (project "
               "defaults); per layer: RMS of the EqProp update and cosine with BPTT (symmetric, beta 0.01).",
    criterion="For the deepest net: PASS if >= 90%, within 3 points of the 1-hidden-layer net, bottom/top update RMS "
              ">= 0.01 and every layer's cosine >= 0.9; PARTIAL if >= 50% with that signal; FAIL otherwise.",
)
