"""Track 7: limit cycles in recurrent dynamics, detected, validated, and looked for in trained networks.

A cycle detector (smallest p with |h_{t+p} - h_t| below tolerance over a long window after a
transient) is first validated on a planted period-5 orbit and a contraction. As a positive control
it classifies the attractors of random `eqprop.zoo.TemporalResonance` networks (tanh, symmetric
part plus a tunable antisymmetric part) over gain and asymmetry, with digits as inputs: at high
gain they cycle. The claim is then tested where it matters, on networks trained on digits: the
free phase of `EqPropNet` (damped as trained, and undamped) and the recurrence of `LoopedMLP`
trained by EqProp and by BPTT, each iterated from h = 0 on the same inputs. Every cycle found is
perturbed to see whether it attracts, but that is reported, not judged: forward iteration only
finds cycles that attract.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter

import torch

from eqprop.eqpropnet import EqPropConfig, EqPropNet
from eqprop.looped import LoopedMLP
from eqprop.train import Learner, TrainConfig, fit, train_epochs
from eqprop.zoo.temporal_resonance import TemporalResonance
from tracks.base import Context, Outcome, Status, Track, Verdict, md_table
from tracks.common import digits, figure, seed_everything

TOL = 1e-7


def period(seq: torch.Tensor, *, pmax: int = 50, window: int = 100, tol: float = TOL) -> int | None:
    """Smallest p <= pmax with |h_{t+p} - h_t| <= tol * scale over the last `window` steps; None if aperiodic.

    `seq` is (steps, n) for one trajectory.
    """
    tail = seq[-(window + pmax):]
    scale = max(float(tail.abs().max()), 1.0)
    for p in range(1, pmax + 1):
        if float((tail[p:] - tail[:-p]).abs().max()) <= tol * scale:
            return p
    return None


def attracts(step, h_cycle: torch.Tensor, p: int, *, noise: float = 1e-4, steps: int = 400, seed: int = 0) -> bool:
    """Perturb a point of a p-cycle, iterate `step`, and check the orbit returns to the same cycle."""
    orbit = [h_cycle]
    for _ in range(p - 1):
        orbit.append(step(orbit[-1]))
    gen = torch.Generator().manual_seed(seed)
    h = h_cycle + noise * torch.randn(h_cycle.shape, generator=gen, dtype=h_cycle.dtype)
    for _ in range(steps):
        h = step(h)
    scale = max(float(h_cycle.abs().max()), 1.0)
    return min(float((h - o).abs().max()) for o in orbit) <= 1e3 * TOL * scale


def validate_detector() -> dict:
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(20, generator=gen, dtype=torch.float64)
    planted = [h]
    for _ in range(400):
        planted.append(torch.roll(planted[-1], 4))  # a shift by 4 of 20 entries: period 5 exactly
    fixed = [h]
    for _ in range(400):
        fixed.append(0.5 * fixed[-1] + 1.0)  # contraction to 2
    return {"planted_period_5": period(torch.stack(planted)), "contraction": period(torch.stack(fixed))}


def classify_orbits(traj: torch.Tensor, step_for, *, check_attraction: bool = True) -> dict:
    """Period of each trajectory in `traj` (steps, B, n); `step_for(b)` is sample b's map, to perturb its cycles."""
    periods, attracting = [], []
    for b in range(traj.shape[1]):
        p = period(traj[:, b])
        periods.append(p)
        if p is not None and p >= 2 and check_attraction:
            attracting.append(attracts(step_for(b), traj[-1, b], p, seed=b))
    counts = Counter("aperiodic" if p is None else ("fixed" if p == 1 else f"period {p}") for p in periods)
    cycles = sum(p is not None and p >= 2 for p in periods)
    return {"counts": dict(counts), "cycles": cycles, "attracting": sum(attracting), "periods": periods,
            "inputs": len(periods), "cycle_fraction": cycles / len(periods),
            "fixed_fraction": counts.get("fixed", 0) / len(periods)}


def classify(model: TemporalResonance, x: torch.Tensor, steps: int, *, check_attraction: bool = True) -> dict:
    traj = model.trajectory(x, steps)  # (steps, B, n)
    drive = x.to(model.W.dtype) @ model.W_in.T

    def step_for(b):
        return lambda h: torch.tanh(drive[b] + model.gain * model.W @ h)
    return classify_orbits(traj, step_for, check_attraction=check_attraction)


@torch.no_grad()
def classify_looped(model: LoopedMLP, x: torch.Tensor, steps: int) -> dict:
    """Attractors of a LoopedMLP's own recurrence h <- tanh(W_in x + b + W_rec h) from h = 0, in float64."""
    ref = copy.deepcopy(model).double().eval()  # eval: spectral norm's power iteration stands still
    w_in, w_rec, _ = ref.effective_weights()
    drive = x.double() @ w_in.T + ref.W_in.bias  # (B, H)
    h, traj = torch.zeros_like(drive), []
    for _ in range(steps):
        h = torch.tanh(drive + h @ w_rec.T)
        traj.append(h)

    def step_for(b):
        return lambda v: torch.tanh(drive[b] + w_rec @ v)
    return classify_orbits(torch.stack(traj), step_for)


@torch.no_grad()
def classify_eqpropnet(net: EqPropNet, x: torch.Tensor, steps: int, *, step_size: float | None = None) -> dict:
    """Attractors of EqPropNet's free phase from zero states, in float64; `step_size` overrides the damping."""
    cfg = net.config if step_size is None else dataclasses.replace(net.config, step_size=step_size)
    ref = EqPropNet(cfg, dtype=torch.float64)
    ref.load_state_dict({k: v.double() for k, v in net.state_dict().items()})
    xd = x.double()
    trace: list = []
    ref.relax(xd, steps=steps, trace=trace)
    traj = torch.stack([torch.cat(s, 1) for s in trace])  # (steps, B, n)
    sizes = ref.sizes[1:]

    def step_for(b):
        def step(v):
            parts = list(torch.split(v[None], sizes, dim=1))
            return torch.cat(ref.step(xd[b:b + 1], parts), 1)[0]
        return step
    return classify_orbits(traj, step_for)


def trained_looped(*, hidden: int, epochs: int, seed: int, symmetric: bool, spectral_norm: bool,
                   method: str) -> tuple[LoopedMLP, float]:
    """A LoopedMLP trained on digits (Adam 1e-3, as `eqprop.train` does) and its test accuracy."""
    d = digits()
    seed_everything(seed)  # spectral norm draws its power-iteration start from the global generator
    model = LoopedMLP(d.n_in, hidden, d.n_classes, symmetric=symmetric, use_spectral_norm=spectral_norm,
                      generator=torch.Generator().manual_seed(seed))
    hist = train_epochs(Learner(method, model, torch.optim.Adam(model.parameters(), lr=1e-3), d.n_classes), d,
                        epochs=epochs, seed=seed)
    return model, hist[-1]["test_acc"]


# the trained networks: key -> (plot label, description, LoopedMLP settings or None for EqPropNet)
TRAINED = {
    "EqPropNet, damped": ("EqPropNet\ndamped", "EqPropNet trained by EqProp, free phase as trained (eps 0.5)", None),
    "EqPropNet, undamped": ("EqPropNet\nundamped", "the same weights, plain iteration (eps 1)", None),
    "LoopedMLP, EqProp": ("Looped\nEqProp", "LoopedMLP, symmetric W_rec, spectral norm, trained by EqProp",
                          {"symmetric": True, "spectral_norm": True, "method": "looped-eqprop"}),
    "LoopedMLP, BPTT": ("Looped\nBPTT", "LoopedMLP, free W_rec, spectral norm, trained by BPTT (the seed's)",
                        {"symmetric": False, "spectral_norm": True, "method": "looped-bptt"}),
    "LoopedMLP, BPTT, no SN": ("Looped BPTT\nno SN", "LoopedMLP, free W_rec, no spectral norm, trained by BPTT",
                               {"symmetric": False, "spectral_norm": False, "method": "looped-bptt"}),
}
CYCLE_PASS = 0.10  # fraction of inputs on which a trained network must fall into a cycle


def experiment(*, hidden: int = 100, samples: int = 32, steps: int = 1000, gains=(0.5, 1.5, 3.0),
               asymmetries=(0.0, 0.5, 2.0), epochs: int = 3, seed: int = 0) -> dict:
    d = digits()
    x = torch.from_numpy(d.x_test[:samples]).double()
    sweep = []
    for a in asymmetries:
        for g in gains:
            model = TemporalResonance(d.n_in, hidden, gain=g, asymmetry=a,
                                      generator=torch.Generator().manual_seed(seed))
            sweep.append({"asymmetry": a, "gain": g, **classify(model, x, steps)})
    learner, fm = fit(TrainConfig(model="eqprop", hidden=[hidden], epochs=epochs, seed=seed), d, progress=False,
                      log=None)
    trained = {"EqPropNet, damped": {**classify_eqpropnet(learner.model, x, steps), "test_acc": fm["final_test_acc"]},
               "EqPropNet, undamped": {**classify_eqpropnet(learner.model, x, steps, step_size=1.0),
                                       "test_acc": fm["final_test_acc"]}}
    for key, (_, _, kw) in TRAINED.items():
        if kw is not None:
            model, acc = trained_looped(hidden=hidden, epochs=epochs, seed=seed, **kw)
            trained[key] = {**classify_looped(model, x, steps), "test_acc": acc}
    undamped = EqPropNet(EqPropConfig(sizes=[64, hidden, 10], init_gain=3.0, step_size=1.0),
                         generator=torch.Generator().manual_seed(seed))
    return {"validation": validate_detector(), "sweep": sweep, "trained": trained,
            "eqprop_random_undamped": classify_eqpropnet(undamped, x, steps)}


def judge(m: dict) -> Verdict:
    v = m["validation"]
    if v["planted_period_5"] != 5 or v["contraction"] != 1:
        return Verdict(Status.FAIL, f"the detector fails validation: planted period 5 read as {v['planted_period_5']}, "
                                    f"a contraction as {v['contraction']}")
    cycles = sum(r["cycles"] for r in m["sweep"])
    if cycles == 0:
        return Verdict(Status.FAIL, "the detector finds no cycle even in the random networks at high gain: it "
                                    "cannot be trusted to see one in a trained network")
    gains = sorted({r["gain"] for r in m["sweep"] if r["cycles"]})
    tr = m["trained"]
    best = max(tr, key=lambda k: tr[k]["cycle_fraction"])
    txt = (f"detector validated; random networks: {cycles} cycles (at gain {', '.join(f'{g:g}' for g in gains)}); "
           "trained networks: " + ", ".join(f"{k} {r['cycles']}/{r['inputs']}" for k, r in tr.items())
           + " inputs in a cycle")
    frac = tr[best]["cycle_fraction"]
    if frac >= CYCLE_PASS:
        return Verdict(Status.PASS, txt + f"; {best} cycles on {frac:.0%} of inputs (>= {CYCLE_PASS:.0%})")
    if frac > 0:
        return Verdict(Status.PARTIAL, txt + f"; at most {frac:.0%} of inputs (< {CYCLE_PASS:.0%})")
    return Verdict(Status.FAIL, txt + "; no trained network falls into a limit cycle: cycles appear only in random "
                                      "networks, the seed's claim does not hold for networks that learned")


def _counts(r: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(r["counts"].items()))


def run(ctx: Context) -> Outcome:
    m = experiment(hidden=ctx.pick(30, 100), samples=ctx.pick(8, 32, 64), steps=ctx.pick(500, 1000, 2000),
                   gains=ctx.pick((0.5, 3.0), (0.5, 1.5, 3.0)), asymmetries=ctx.pick((0.0, 2.0), (0.0, 0.5, 2.0)),
                   epochs=ctx.pick(1, 3, 5), seed=ctx.seed)
    verdict = judge(m)
    groups = [("random networks: h <- tanh(W_in x + g W h)", "asymmetry a, gain g",
               [(f"a={r['asymmetry']:g}\ng={r['gain']:g}", r) for r in m["sweep"]]),
              ("trained networks, own dynamics", "network (trained on digits)",
               [(TRAINED[k][0], r) for k, r in m["trained"].items()])]
    kinds = sorted({k for _, _, bars in groups for _, r in bars for k in r["counts"]},
                   key=lambda k: (k != "fixed", k == "aperiodic", len(k), k))
    colour = {k: f"C{i}" for i, k in enumerate(kinds)}
    fig, axes = figure(2, width=5.5, height=3.8)
    for ax, (title, xlabel, bars) in zip(axes, groups, strict=True):
        labels = [b for b, _ in bars]
        bottom = [0] * len(bars)
        for k in kinds:
            vals = [r["counts"].get(k, 0) for _, r in bars]
            ax.bar(labels, vals, bottom=bottom, color=colour[k], label=k)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set(xlabel=xlabel, ylabel="digit inputs", title=title)
        ax.tick_params(axis="x", labelsize=7)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(kinds), fontsize=8,
               title="attractor reached from h = 0")  # above the panels: it covers no bar
    fig.tight_layout()
    rows = [[f"random, a = {r['asymmetry']:g}, g = {r['gain']:g}", "-", _counts(r), f"{r['attracting']}/{r['cycles']}"]
            for r in m["sweep"]]
    rows.append(["random EqPropNet (gain 3), eps 1", "-", _counts(m["eqprop_random_undamped"]),
                 f"{m['eqprop_random_undamped']['attracting']}/{m['eqprop_random_undamped']['cycles']}"])
    rows += [[TRAINED[k][1], f"{r['test_acc']:.1%}", _counts(r), f"{r['attracting']}/{r['cycles']}"]
             for k, r in m["trained"].items()]
    cycles = sum(r["cycles"] for r in m["sweep"])
    trained_cycles = sum(r["cycles"] for r in m["trained"].values())
    n = len(m["trained"]) * m["trained"]["EqPropNet, damped"]["inputs"]
    evidence = (f"trained networks: {trained_cycles} cycles on {n} (network, input) pairs; random networks: {cycles} "
                f"cycles ({sum(r['attracting'] for r in m['sweep'])} attracting)")
    notes = (f"Five trained networks (EqPropNet by EqProp, run damped as trained and undamped; LoopedMLP by EqProp "
             f"with a symmetric W_rec, and by BPTT with a free W_rec, with and without spectral norm) were iterated "
             f"{ctx.pick(500, 1000, 2000)} steps from h = 0 on each input: {trained_cycles} limit cycles. Cycles "
             "appear only in the random networks, at high gain: symmetric weights updated synchronously give "
             "period-2 cycles, as theory says, and an antisymmetric part gives longer cycles and aperiodic motion. "
             "That a cycle found by iterating forward also attracts after a small perturbation is nearly "
             "guaranteed by how it was found, so the perturbation test is reported but not judged. Whether cycles "
             "could carry useful information ('infinite context', as the seed claimed) is not tested. 'aperiodic' "
             "means no period <= 50 within tolerance over the last 100 steps: it includes slow convergence as well "
             "as quasi-periodic or chaotic motion.")
    return Outcome(m, verdict, evidence,
                   [md_table(["network", "test accuracy", "attractors over inputs", "cycles that attract"], rows)],
                   [ctx.save_figure(fig, "t07_temporal_resonance")], notes)


TRACK = Track(
    number=7, title="Temporal resonance (limit cycles)", run=run, budget_s=20,
    claim="Recurrent dynamics show limit cycles; the seed: 'limit cycles detected' (with period 5 and a 'resonance "
          "score' of 0.014).",
    experiment="Validate a period detector on a planted period-5 orbit and a contraction; as a positive control, "
               "classify the attractors of random h <- tanh(W_in x + g W h) for 32 digits, gain 0.5/1.5/3, "
               "antisymmetric part 0/0.5/2 (1000 steps); then classify, on the same inputs, the dynamics of five "
               "networks trained 3 epochs on digits: EqPropNet by EqProp (damped as trained, and undamped) and "
               "LoopedMLP by EqProp (symmetric W_rec) and by BPTT (free W_rec, with and without spectral norm).",
    criterion=f"FAIL if the detector misreads the planted orbits or finds no cycle in the random networks. Then PASS "
              f"if some trained network falls into a cycle (period >= 2) on >= {CYCLE_PASS:.0%} of the inputs, "
              "PARTIAL if on fewer but some, FAIL if no trained network shows a limit cycle. Attraction after a "
              "perturbation is reported, not judged: a cycle found by forward iteration attracts almost by "
              "definition.",
)
