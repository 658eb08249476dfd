"""Track 13: convolutional EqProp on an image task (digits as 8x8 images), against a read-out-only control.

`eqprop.zoo.ConvEqProp` (conv 3x3 -> conv 3x3 stride 2 -> dense, energy-based as in Laborieux et
al. 2021, transposed convolutions carry the feedback) trained by EqProp, symmetric estimator. The
control is the same network, same seed and settings, with only the last (dense) layer learning: the
convolutions stay at their random initialisation, and the read-out of their features is trained by
the same EqProp update. Random convolutional features with a trained read-out already classify
digits well, so only the margin over the control shows that EqProp trains the convolutions.
"""

from __future__ import annotations

import torch
from matplotlib.ticker import MaxNLocator

from eqprop.data import Split
from eqprop.train import Learner, train_epochs
from eqprop.zoo.conv import ConvEqProp
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import control_margin, digits, figure

FULL, CONTROL = "all layers learn", "read-out only (control)"


def train_arm(*, channels: tuple[int, int], epochs: int, seed: int, lr: float, readout_only: bool,
              n_train: int | None = None) -> dict:
    d = digits()
    if n_train is not None:  # the first n_train training images (tiny mode), the whole test set
        d = Split(d.name, d.x_train[:n_train], d.y_train[:n_train], d.x_test, d.y_test, d.n_classes)
    net = ConvEqProp(channels, d.n_classes, generator=torch.Generator().manual_seed(seed))
    learned = net.fc.parameters() if readout_only else net.parameters()  # the convolutions stay random
    hist = train_epochs(Learner("eqprop", net, torch.optim.SGD(learned, lr=lr), d.n_classes), d,
                        epochs=epochs, seed=seed)
    return {"curve": [h["test_acc"] for h in hist], "test_acc": hist[-1]["test_acc"],
            "train_acc": hist[-1]["train_acc"],
            "trained_parameters": sum(p.numel() for p in (net.fc if readout_only else net).parameters()),
            "parameters": sum(p.numel() for p in net.parameters())}


def experiment(*, channels: tuple[int, int], epochs: int, seed: int = 0, lr: float = 0.3,
               arms: dict | None = None, n_train: int | None = None) -> dict:
    """Both arms (or `arms`, name -> readout_only) trained from the same initialisation, on the first `n_train`
    training images (None: all)."""
    arms = arms if arms is not None else {FULL: False, CONTROL: True}
    out = {name: train_arm(channels=channels, epochs=epochs, seed=seed, lr=lr, readout_only=ro, n_train=n_train)
           for name, ro in arms.items()}
    return {"channels": list(channels), "epochs": epochs, "lr": lr, "n_train": n_train or len(digits().y_train),
            "n_test": len(digits().y_test), "arms": out}


def judge(m: dict) -> Verdict:
    full, ctrl = m["arms"][FULL], m["arms"][CONTROL]
    acc, margin = full["test_acc"], control_margin(ctrl["test_acc"], m["n_test"])
    gain = acc - ctrl["test_acc"]
    txt = (f"ConvEqProp {acc:.1%} on digits test after {m['epochs']} epochs ({full['parameters']} parameters), "
           f"read-out only {ctrl['test_acc']:.1%} ({gain * 100:+.2f} points, margin {margin * 100:.2f})")
    if gain < margin:
        return Verdict(Status.FAIL, txt + "; training the convolutions does not beat training the read-out alone")
    if acc >= 0.9:
        return Verdict(Status.PASS, txt + " (>= 90%, beats the control)")
    if acc >= 0.8:
        return Verdict(Status.PARTIAL, txt + " (>= 80%, < 90%, beats the control)")
    return Verdict(Status.FAIL, txt + " (< 80%)")


def run(ctx: Context) -> Outcome:
    m = experiment(channels=ctx.pick((2, 4), (8, 16)), epochs=ctx.pick(1, 5, 20), seed=ctx.seed,
                   n_train=ctx.pick(300, None))
    verdict = judge(m)
    fig, ax = figure()
    for name, a in m["arms"].items():
        ax.plot(range(1, len(a["curve"]) + 1), [100 * c for c in a["curve"]], marker="o", label=name)
    ax.axhline(10, color="grey", ls=":", label="chance")
    ax.set(xlabel="epoch", ylabel="digits test accuracy (%)", title="convolutional EqProp", ylim=(0, 100))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="center right")  # the curves run above 50%, the chance line at 10%
    full, ctrl = m["arms"][FULL], m["arms"][CONTROL]
    gain = full["test_acc"] - ctrl["test_acc"]
    rows = [[name, m["channels"], m["epochs"], a["trained_parameters"], f"{a['train_acc']:.1%}", f"{a['test_acc']:.1%}"]
            for name, a in m["arms"].items()]
    notes = (f"Training all layers gives {gain * 100:+.2f} points over the read-out alone on random convolutional "
             f"features (the margin to beat is max(1 point, one binomial standard error of the control on "
             f"{m['n_test']} test images)). The seed used synthetic noisy shapes; digits is small but real. The layer "
             "sizes and one learning rate for all layers are untuned first choices.")
    return Outcome(m, verdict, f"{full['test_acc']:.1%} test vs read-out only {ctrl['test_acc']:.1%}",
                   [md_table(["arm", "channels", "epochs", "trained parameters", "train accuracy", "test accuracy"],
                             rows)],
                   [ctx.save_figure(fig, "t13_conv")], notes)


TRACK = Track(
    number=13, title="Convolutional EqProp", run=run, budget_s=30,
    claim="EqProp trains convolutional networks on an image task (the seed: 100% on synthetic noisy shapes).",
    experiment="ConvEqProp 1x8x8 -> 8x8x8 (conv 3x3) -> 16x4x4 (conv 3x3, stride 2) -> 10, trained by EqProp "
               "(symmetric, beta 0.5, SGD 0.3) for 5 epochs on digits as images; as a control the same network, "
               "same seed and settings, with only the dense read-out learning.",
    criterion="FAIL unless training all layers beats the read-out-only control by max(1 point, one binomial standard "
              "error sqrt(p(1-p)/n) of the control's accuracy p on the n = 360 test images). Then PASS if digits "
              "test accuracy >= 90%, PARTIAL if >= 80%, FAIL otherwise.",
)
