"""Track 9: EqProp's update against the BPTT gradient, per layer, over beta.

The gradient check of Ernoult et al. (2019), "Updates of Equilibrium Prop Match Gradients of
Backprop Through Time in an RNN with Static Input", with the symmetric estimator of Laborieux et
al. (2021): on a trained two-hidden-layer `EqPropNet`, at a converged free phase (float64; as
many steps as it takes, see `converged_steps`), the EqProp estimate of -dC/dW_l is compared with
-dC/dW_l from autograd through the same free phase (`EqPropNet.bptt_gradients`), for every layer
and several beta. The metrics are `eqprop.gradcheck.compare`'s cosine, relative RMSE and sign agreement.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from eqprop.eqpropnet import EqPropNet
from eqprop.gradcheck import compare
from eqprop.train import TrainConfig, fit
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure

BETAS = (0.5, 0.2, 0.1, 0.05, 0.01)
STEP_CANDIDATES = (200, 400, 800, 1600)  # free-phase lengths tried until the relaxation has converged
ESTIMATORS = ("one-sided", "symmetric")


def trained_net(*, hidden: list[int], epochs: int, seed: int = 0) -> EqPropNet:
    learner, _ = fit(TrainConfig(model="eqprop", hidden=hidden, epochs=epochs, seed=seed), digits(),
                     progress=False, log=None)
    return learner.model


def converged_steps(net: EqPropNet, x: torch.Tensor, *, tol: float = 1e-6, candidates=STEP_CANDIDATES
                    ) -> tuple[int, float]:
    """The first step count in `candidates` after which max |s_{T+1} - s_T| <= tol (else the last), and that residual.

    The check compares gradients *at a fixed point*: a trained network can need far more than the
    30 steps it was trained with (or the 200 the check starts with) to get there.
    """
    with torch.no_grad():
        states, done = None, 0
        for t in candidates:
            states = net.relax(x, states, steps=t - done)
            done = t
            residual = max(float((a - b).abs().max()) for a, b in zip(net.step(x, states), states, strict=True))
            if residual <= tol:
                break
    return done, residual


def experiment(net: EqPropNet, *, batch: int = 64, steps: int | None = None, betas=BETAS) -> dict:
    """Rows {estimator, beta, layer, cosine, rel_rmse, sign_agreement} on `batch` test digits.

    `net` is deep-copied to float64, so a subclass keeps its own dynamics and update. `steps` (free
    and nudged) defaults to the first of STEP_CANDIDATES at which the free phase has converged.
    """
    d = digits()
    ref = copy.deepcopy(net).double()
    x = torch.from_numpy(d.x_test[:batch]).double()
    target = torch.nn.functional.one_hot(torch.from_numpy(d.y_test[:batch]), ref.sizes[-1]).double()
    if steps is None:
        steps, residual = converged_steps(ref, x)
    else:
        _, residual = converged_steps(ref, x, candidates=(steps,))
    gw, _, _ = ref.bptt_gradients(x, target, steps=steps)
    rows = []
    for est in ESTIMATORS:
        for beta in betas:
            out = ref.eqprop_update(x, target, beta=beta, estimator=est, free_steps=steps, nudge_steps=steps)
            for l, (dw, g) in enumerate(zip(out["dW"], gw, strict=True)):
                rows.append({"estimator": est, "beta": beta, "layer": l + 1, **compare(dw, -g)})
    # a sample of entries of the best case, for the scatter plot
    best = ref.eqprop_update(x, target, beta=min(betas), estimator="symmetric", free_steps=steps, nudge_steps=steps)
    scatter = [{"layer": l + 1, "eqprop": dw.flatten()[:2000].tolist(), "bptt": (-g).flatten()[:2000].tolist()}
               for l, (dw, g) in enumerate(zip(best["dW"], gw, strict=True))]
    return {"sizes": ref.sizes, "batch": batch, "steps": steps, "rows": rows, "scatter": scatter,
            "free_phase_residual": residual,
            "min_cos_symmetric_small_beta": min(r["cosine"] for r in rows
                                                if r["estimator"] == "symmetric" and r["beta"] == min(betas))}


def judge(m: dict) -> Verdict:
    beta = min(r["beta"] for r in m["rows"])
    per_layer = {r["layer"]: r["cosine"] for r in m["rows"] if r["estimator"] == "symmetric" and r["beta"] == beta}
    worst = min(per_layer.values())
    listing = ", ".join(f"W{l} {c:.4f}" for l, c in sorted(per_layer.items()))
    listing += f"; {m['steps']} steps, free-phase residual {m['free_phase_residual']:.1g}"
    if not np.isfinite(worst):
        return Verdict(Status.FAIL, f"non-finite cosine ({listing})")
    if worst >= 0.99:
        return Verdict(Status.PASS, f"symmetric estimator at beta {beta}: cosine {listing} (all >= 0.99)")
    if worst >= 0.9:
        return Verdict(Status.PARTIAL, f"symmetric estimator at beta {beta}: cosine {listing} (min < 0.99, >= 0.9)")
    return Verdict(Status.FAIL, f"symmetric estimator at beta {beta}: cosine {listing} (min < 0.9)")


def run(ctx: Context) -> Outcome:
    net = trained_net(hidden=ctx.pick([32, 16], [128, 64]), epochs=ctx.pick(1, 3, 5), seed=ctx.seed)
    m = experiment(net, batch=ctx.pick(16, 64, 128), steps=ctx.pick(100, None))
    verdict = judge(m)
    layers = sorted({r["layer"] for r in m["rows"]})
    fig, axes = figure(2)
    for est, ls in zip(ESTIMATORS, ("--", "-"), strict=True):
        for l in layers:
            rs = [r for r in m["rows"] if r["estimator"] == est and r["layer"] == l]
            axes[0].plot([r["beta"] for r in rs], [r["cosine"] for r in rs], ls, marker="o", label=f"{est}, W{l}")
    axes[0].set(xscale="log", xlabel="beta", ylabel="cosine(EqProp, -dC/dW by BPTT)", title="alignment per layer")
    axes[0].axhline(0.99, color="grey", ls=":")
    axes[0].legend(fontsize=7)
    for s in m["scatter"]:
        axes[1].scatter(s["bptt"], s["eqprop"], s=3, label=f"W{s['layer']}")
    axes[1].set(xlabel="-dC/dW (BPTT)", ylabel=f"EqProp update (symmetric, beta {min(BETAS)})",
                title="entries of the updates")
    axes[1].legend(fontsize=7)
    small = min(BETAS)
    rows = [[r["estimator"], r["beta"], f"W{r['layer']}", f"{r['cosine']:.5f}", f"{r['rel_rmse']:.3g}",
             f"{r['sign_agreement']:.3f}"] for r in m["rows"] if r["beta"] in (0.5, 0.1, small)]
    evidence = "cos " + ", ".join(f"W{r['layer']} {r['cosine']:.4f}" for r in m["rows"]
                                  if r["estimator"] == "symmetric" and r["beta"] == small) + f" (sym., beta {small})"
    m.pop("scatter")
    notes = ("The seed reported a W_rec alignment of -0.62 and called it expected; here every layer, the "
             "hidden ones included, is compared. The comparison holds only at a fixed point: after 5 epochs of "
             "training the free phase still moves by about 6e-4 per step after 300 steps, and at that point the "
             "symmetric cosine is only 0.57-0.78; relaxed to convergence (1000 steps) it is 0.99+. Hence the "
             f"adaptive length (here {m['steps']} steps, residual {m['free_phase_residual']:.1g}). The one-sided "
             "estimator divides by beta whatever the nudged phase moves, including residual motion and the "
             "hard sigmoid's kinks, so it does not improve as beta shrinks; the symmetric one cancels the "
             "first-order part of both.")
    return Outcome(m, verdict, evidence,
                   [md_table(["estimator", "beta", "layer", "cosine", "rel. RMSE", "sign agreement"], rows)],
                   [ctx.save_figure(fig, "t09_gradient_alignment")], notes)


TRACK = Track(
    number=9, title="Gradient alignment with BPTT", run=run, budget_s=15,
    claim="EqProp's updates equal the BPTT gradients of the same network, per layer, as beta -> 0 "
          "(the seed showed -0.62 on its recurrent weights and passed it).",
    experiment="Train EqPropNet [64, 128, 64, 10] by EqProp for 3 epochs, then on 64 test digits, at a "
               "converged free phase (float64, 200 to 1600 steps until max |s_T+1 - s_T| <= 1e-6), compare the "
               "EqProp update of every layer with "
               "-dC/dW from BPTT through the same free phase, for the one-sided and symmetric estimators and "
               f"beta in {list(BETAS)}.",
    criterion="Symmetric estimator at the smallest beta: PASS if the cosine is >= 0.99 in every layer, "
              "PARTIAL if >= 0.9, FAIL otherwise.",
)
