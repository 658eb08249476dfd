"""Track 20: transfer between related tasks: pre-training on digits 0-4 helps learning 5-9 from few examples.

`EqPropNet` [64, 256, 10] is pre-trained by EqProp on digits 0-4, then fine-tuned (all layers) on a
few examples per class of 5-9; the reference is the same network trained from scratch on the same
few examples for the same epochs. Several seeds (the few-shot subsets differ by seed); the grade asks
for a gain on every seed, not only on average, because one seed's gain can be a few test images of luck.
"""

from __future__ import annotations

import copy

import numpy as np

from eqprop.data import Split
from eqprop.train import evaluate, train_epochs
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits_subset, eqprop_learner, figure

SOURCE, TARGET = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
PASS_GAIN = 0.03      # mean gain over seeds, as a fraction of the 5-9 test images
PARTIAL_GAIN = 0.01   # a small gain (about two test images in 180), still required on every seed
HURTS = -0.01


def few_shot(classes, shots: int, seed: int) -> Split:
    full = digits_subset(classes)
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(full.y_train == c), shots, replace=False)
                                  for c in classes]))
    return Split(f"{full.name}x{shots}", full.x_train[idx], full.y_train[idx], full.x_test, full.y_test, 10)


def experiment(*, hidden: int, pre_epochs: int, epochs: int, shots: int, seeds: list[int]) -> dict:
    src = digits_subset(SOURCE)
    pre = eqprop_learner([64, hidden, 10], seed=seeds[0])
    if pre_epochs:
        train_epochs(pre, src, epochs=pre_epochs, seed=seeds[0], eval_every_epoch=False)
    runs = []
    for seed in seeds:
        tgt = few_shot(TARGET, shots, seed)
        scratch = eqprop_learner([64, hidden, 10], seed=seed + 1)
        transfer = eqprop_learner(net=copy.deepcopy(pre.model))
        row = {"seed": seed}
        for name, learner in (("scratch", scratch), ("transfer", transfer)):
            hist = train_epochs(learner, tgt, epochs=epochs, seed=seed, batch_size=16)
            row[name] = hist[-1]["test_acc"]
            row[f"{name}_curve"] = [h["test_acc"] for h in hist]
        runs.append(row)
    return {"hidden": hidden, "pre_epochs": pre_epochs, "epochs": epochs, "shots": shots, "runs": runs,
            "n_test": len(tgt.y_test), "source_acc": evaluate(pre.model, src.x_test, src.y_test),
            "scratch": float(np.mean([r["scratch"] for r in runs])),
            "transfer": float(np.mean([r["transfer"] for r in runs]))}


def gains(m: dict) -> list[float]:
    """Transfer minus scratch accuracy, per seed."""
    return [r["transfer"] - r["scratch"] for r in m["runs"]]


def judge(m: dict) -> Verdict:
    s, t, g = m["scratch"], m["transfer"], gains(m)
    mean = float(np.mean(g))
    txt = (f"on 5-9 from {m['shots']} examples per class: transfer {t:.1%} vs scratch {s:.1%}, gain per seed "
           + ", ".join(f"{x * 100:+.1f}" for x in g) + f" points (mean {mean * 100:+.1f})")
    if t < 0.5:
        return Verdict(Status.FAIL, txt + "; transfer below 50%")
    if mean >= PASS_GAIN and min(g) > 0:
        return Verdict(Status.PASS, txt + f"; better on every seed and >= {PASS_GAIN * 100:g} points on average")
    if mean >= PARTIAL_GAIN and min(g) > 0:
        return Verdict(Status.PARTIAL, txt + f"; better on every seed, but < {PASS_GAIN * 100:g} points on average")
    if mean <= HURTS:
        return Verdict(Status.FAIL, txt + "; pre-training hurts")
    why = "not better on every seed" if min(g) <= 0 else f"< {PARTIAL_GAIN * 100:g} point on average"
    return Verdict(Status.FAIL, txt + f"; no effect ({why})")


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick(32, 256), pre_epochs=ctx.pick(2, 10, 20), epochs=ctx.pick(3, 20),
                   shots=ctx.pick(5, 10), seeds=ctx.pick([0], [0, 1, 2], [0, 1, 2, 3, 4]))
    verdict = judge(m)
    fig, (ax, ax2) = figure(2)
    for name, color in (("scratch", "tab:orange"), ("transfer", "tab:blue")):
        curves = np.array([r[f"{name}_curve"] for r in m["runs"]])
        ax.plot(range(1, curves.shape[1] + 1), 100 * curves.mean(0), color=color, marker=".", label=name)
    ax.set(xlabel="fine-tuning epoch", ylabel="test accuracy on 5-9 (%), mean of seeds", ylim=(0, 100),
           title=f"{m['shots']} examples per class of 5-9")
    ax.legend()
    step = 100 / m["n_test"]
    g = [100 * x for x in gains(m)]
    labels = [str(r["seed"]) for r in m["runs"]]
    ax2.bar(labels, g, color=["tab:green" if x > 0 else "tab:red" for x in g])
    ax2.scatter(labels, g, color="black", marker="_", s=400, zorder=3)   # a zero gain stays visible
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.axhline(100 * PASS_GAIN, color="grey", ls="--", label=f"PASS: mean >= {PASS_GAIN * 100:g} points")
    span = max(5.0, *(abs(x) + 1 for x in g))
    ax2.set(xlabel="seed", ylabel=f"transfer - scratch (points; 1 test image = {step:.2f})", ylim=(-span, span),
            title="gain per seed")
    ax2.legend(fontsize=8)
    rows = [[r["seed"], f"{r['scratch']:.1%}", f"{r['transfer']:.1%}", f"{x:+.1f}"]
            for r, x in zip(m["runs"], g, strict=True)]
    return Outcome(m, verdict, f"transfer {m['transfer']:.1%} vs scratch {m['scratch']:.1%}, gain per seed "
                   + ", ".join(f"{x:+.1f}" for x in g) + " points",
                   [md_table(["seed", "scratch", "transfer", "gain (points)"], rows)],
                   [ctx.save_figure(fig, "t20_transfer")],
                   f"The source model reached {m['source_acc']:.1%} on 0-4. The 5-9 test split has {m['n_test']} "
                   f"images, so one image is {step:.2f} points: a gain of a point or two on one seed is a few "
                   "images.")


TRACK = Track(
    number=20, title="Transfer learning", run=run, budget_s=15,
    claim="EqProp features transfer between related tasks (the seed: 100% = 100%, no difference measured).",
    experiment="Pre-train EqPropNet [64, 256, 10] by EqProp on digits 0-4 (10 epochs); fine-tune on 10 examples per "
               "class of 5-9 for 20 epochs, against training from scratch on the same examples; 3 seeds.",
    criterion="FAIL if transfer is below 50%. PASS if transfer beats scratch on every seed and by >= 3 points on "
              "average; PARTIAL if it beats scratch on every seed by >= 1 point on average; FAIL otherwise (no "
              "effect, or pre-training hurts).",
)
