"""Gradient check: EqProp's update direction against the BPTT gradient, per layer.

As in Ernoult et al. (2019) and Laborieux et al. (2021): at a converged free phase, the EqProp
estimate of -dC/dW_l (from `EqPropNet.eqprop_update`) is compared with -dC/dW_l obtained by
autograd through the same free phase (`EqPropNet.bptt_gradients`). Both use the same number of free
steps, long enough to converge, and float64 so that a small beta is not drowned in rounding. The
free phase must really converge: a one-sided estimate divides the leftover drift by beta, and with
200 steps on a slowly contracting network that turned the cosine at beta = 0.001 negative. Each row
therefore reports the free-phase residual max |s_{t+1} - s_t|.
"""

from __future__ import annotations

import torch

from eqprop.eqpropnet import EqPropNet

__all__ = ["compare", "gradient_check"]


def compare(est: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Cosine, relative RMSE (|est - ref| / |ref|) and sign agreement of two update tensors."""
    e, r = est.flatten().double(), ref.flatten().double()
    cos = torch.nn.functional.cosine_similarity(e, r, dim=0).item()
    rel = ((e - r).norm() / r.norm().clamp_min(1e-300)).item()
    nz = r.abs() > 1e-12 * r.abs().max().clamp_min(1e-300)  # sign of exact zeros is meaningless
    sign = (torch.sign(e[nz]) == torch.sign(r[nz])).double().mean().item() if nz.any() else float("nan")
    return {"cosine": cos, "rel_rmse": rel, "sign_agreement": sign}


def gradient_check(net: EqPropNet, x: torch.Tensor, target: torch.Tensor, *,
                   betas=(0.5, 0.1, 0.05, 0.01), estimators=("one-sided", "symmetric"),
                   steps: int = 1000) -> list[dict]:
    """Rows of {estimator, beta, layer, cosine, rel_rmse, sign_agreement, residual} for W_1..W_L.

    `net` is copied to float64; `steps` free steps (and as many nudged steps) are run.
    """
    ref_net = EqPropNet(net.config, dtype=torch.float64)
    ref_net.load_state_dict({k: v.double() for k, v in net.state_dict().items()})
    x, target = x.double(), target.double()
    gw, _, _ = ref_net.bptt_gradients(x, target, steps=steps)
    with torch.no_grad():
        free = ref_net.relax(x, steps=steps)
        residual = max(float((a - b).abs().max()) for a, b in zip(free, ref_net.step(x, free), strict=True))
    rows = []
    for est in estimators:
        for beta in betas:
            out = ref_net.eqprop_update(x, target, beta=beta, estimator=est, free_steps=steps, nudge_steps=steps)
            for l, (dw, g) in enumerate(zip(out["dW"], gw, strict=True)):
                rows.append({"estimator": est, "beta": beta, "layer": l + 1, **compare(dw, -g),
                             "residual": residual})
    return rows
