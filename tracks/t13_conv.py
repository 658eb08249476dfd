"""Track 13: convolutional EqProp on an image task (digits as 8x8 images).

`eqprop.zoo.ConvEqProp` (conv 3x3 -> conv 3x3 stride 2 -> dense, energy-based as in Laborieux et
al. 2021, transposed convolutions carry the feedback) trained by EqProp, symmetric estimator.
"""

from __future__ import annotations

import torch

from eqprop.train import Learner, train_epochs
from eqprop.zoo.conv import ConvEqProp
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure


def experiment(*, channels: tuple[int, int], epochs: int, seed: int = 0, lr: float = 0.3) -> dict:
    d = digits()
    net = ConvEqProp(channels, d.n_classes, generator=torch.Generator().manual_seed(seed))
    hist = train_epochs(Learner("eqprop", net, torch.optim.SGD(net.parameters(), lr=lr), d.n_classes), d,
                         epochs=epochs, seed=seed)
    return {"channels": list(channels), "epochs": epochs, "lr": lr, "curve": [h["test_acc"] for h in hist],
            "test_acc": hist[-1]["test_acc"], "train_acc": hist[-1]["train_acc"],
            "parameters": sum(p.numel() for p in net.parameters())}


def judge(m: dict) -> Verdict:
    acc = m["test_acc"]
    txt = f"ConvEqProp {acc:.1%} on digits test after {m['epochs']} epochs ({m['parameters']} parameters)"
    if acc >= 0.9:
        return Verdict(Status.PASS, txt + " (>= 90%)")
    if acc >= 0.8:
        return Verdict(Status.PARTIAL, txt + " (>= 80%, < 90%)")
    return Verdict(Status.FAIL, txt + " (< 80%)")


def run(ctx: Context) -> Outcome:
    m = experiment(channels=ctx.pick((2, 4), (8, 16)), epochs=ctx.pick(1, 5, 20), seed=ctx.seed)
    verdict = judge(m)
    fig, ax = figure()
    ax.plot(range(1, len(m["curve"]) + 1), [100 * a for a in m["curve"]], marker="o")
    ax.axhline(10, color="grey", ls=":", label="chance")
    ax.set(xlabel="epoch", ylabel="digits test accuracy (%)", title="convolutional EqProp")
    ax.legend()
    return Outcome(m, verdict, f"{m['test_acc']:.1%} test ({m['parameters']} parameters)",
                   [md_table(["channels", "epochs", "parameters", "train accuracy", "test accuracy"],
                             [[m["channels"], m["epochs"], m["parameters"], f"{m['train_acc']:.1%}",
                               f"{m['test_acc']:.1%}"]])],
                   [ctx.save_figure(fig, "t13_conv")],
                   "The seed used synthetic noisy shapes; digits is small but real. The layer sizes and one learning "
                   "rate for all layers are untuned first choices.")


TRACK = Track(
    number=13, title="Convolutional EqProp", run=run, budget_s=30,
    claim="EqProp trains convolutional networks on an image task (the seed: 100% on synthetic noisy shapes).",
    experiment="ConvEqProp 1x8x8 -> 8x8x8 (conv 3x3) -> 16x4x4 (conv 3x3, stride 2) -> 10, trained by EqProp "
               "(symmetric, beta 0.5, SGD 0.3) for 5 epochs on digits as images.",
    criterion="PASS if digits test accuracy >= 90%, PARTIAL if >= 80%, FAIL otherwise.",
)
