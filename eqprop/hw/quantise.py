"""Quantisation: a float `EqPropNet` becomes the integer parameters of the golden model.

Each weight layer gets its own power-of-two scale 2**-weight_frac[l], chosen to minimise the mean
squared error of the quantised weights (saturation included), so a few large weights may saturate
when that lowers the error of all the others; the counts are reported per layer. Ternary layers use
the same search over alpha = 2**-weight_frac[l] with the threshold ``ternary_threshold/8 * alpha``
that the chip applies. Biases take the accumulator fraction of their layer (see `HwConfig.acc_frac`).
Float-to-integer rounding is round-half-up for inputs and ``cfg.rounding`` for parameters. Shadow
weights keep ``shadow_bits - weight_bits`` more fraction bits of the float weights, adjusted where
needed so that the forward weights derived from them are the float weights rounded once.

`forward_values` gives the float values of the weights and biases the chip would hold (the same codes, times
their scales): quantisation-aware training (`EqPropConfig.qat`) relaxes on them, with the scales chosen once
and then kept, and `quantise` of such a net keeps those scales (``keep_frac``), so its design holds exactly
the weights the net trained with.

`config_digest` and `design_digest` name a configuration and a quantised design (config and integer
parameters) by a SHA-256, so that a result computed from a design (``make sim``'s co-simulation) can
be checked against the design of the current code (track 26).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from eqprop.hw.golden import IntParams, derive_weights
from eqprop.hw.hwconfig import HwConfig, config_fields

__all__ = ["QAT_FORMATS", "Quantised", "config_digest", "config_from_net", "dequantise", "design_digest",
           "forward_values", "quantise", "quantise_input", "round_float"]

_FRAC_RANGE = range(0, 25)  # candidate weight_frac values, as HwConfig allows

# Weight formats of quantisation-aware training (`EqPropConfig.qat`), as HwConfig overrides.
QAT_FORMATS = {"int8": {"weight_format": "int", "weight_bits": 8}, "int4": {"weight_format": "int", "weight_bits": 4},
               "ternary": {"weight_format": "ternary", "weight_bits": 2}}


def round_float(x: np.ndarray, mode: str) -> np.ndarray:
    """Round floats to integers (int64) by the same rule the integer datapath uses for `mode`."""
    x = np.asarray(x, dtype=np.float64)
    if mode == "floor":
        r = np.floor(x)
    elif mode == "half_up":
        r = np.floor(x + 0.5)
    elif mode == "half_away":
        r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    else:
        raise ValueError(f"rounding must be one of floor, half_up, half_away, not {mode!r}")
    return r.astype(np.int64)


def quantise_input(cfg: HwConfig, x: np.ndarray) -> np.ndarray:
    """Float inputs in [0, 1] (B, n_in) -> state codes: clip(round_half_up(x * 2**state_bits), 0, state_max)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"input contains {int((~np.isfinite(x)).sum())} NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(f"inputs must be in [0, 1] (the state range), not {float(x.min())!r} .. {float(x.max())!r}; "
                         "scale the data first")
    return np.clip(round_float(x * 2.0 ** cfg.state_bits, "half_up"), 0, cfg.state_max)


def _format_name(cfg: HwConfig) -> str:
    return "ternary" if cfg.weight_format == "ternary" else f"INT{cfg.weight_bits}"


def _check_values(what: str, a: np.ndarray, limit: float, why: str) -> None:
    """Refuse NaN, infinite and out-of-range values: quantising them would give codes that are wrong (an
    overflowing float becomes the most negative integer), not merely saturated."""
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{what} must be finite, not {float(a[idx])!r} at index {idx} ({int(bad.sum())} NaN or "
                         "infinite values): the model diverged or the checkpoint is damaged; retrain it")
    if a.size and np.abs(a).max() > limit:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(a))), a.shape))
        raise ValueError(f"{what} must be within +-{limit:g} ({why}), not {float(a[idx])!r} at index {idx}; "
                         "no scale of this format holds it")


def _quantise_weights(cfg: HwConfig, w: np.ndarray, frac: int) -> tuple[np.ndarray, int]:
    """Forward codes of float weights `w` at `frac`, and how many saturated (int) / exceeded 1.5 alpha (ternary)."""
    scaled = w * 2.0 ** frac
    if cfg.weight_format == "ternary":
        codes = np.where(np.abs(scaled) >= cfg.ternary_threshold / 8, np.sign(scaled), 0).astype(np.int64)
        return codes, int((np.abs(scaled) > 1.5).sum())
    codes = round_float(scaled, cfg.rounding)
    return np.clip(codes, -cfg.weight_max, cfg.weight_max), int((np.abs(codes) > cfg.weight_max).sum())


def _quantise_bias(cfg: HwConfig, b: np.ndarray, l: int) -> tuple[np.ndarray, int]:
    """Bias codes of layer l at its accumulator fraction (rounding ``cfg.rounding``, saturated), and how many
    saturated."""
    bq = round_float(b * 2.0 ** cfg.acc_frac(l), cfg.rounding)
    return np.clip(bq, -cfg.bias_max, cfg.bias_max), int((np.abs(bq) > cfg.bias_max).sum())


def _best_frac(cfg: HwConfig, w: np.ndarray) -> int:
    """The weight_frac of least squared error; ties go to the smaller frac (the wider range)."""
    errors = [float(((_quantise_weights(cfg, w, f)[0] * 2.0 ** -f - w) ** 2).sum()) for f in _FRAC_RANGE]
    return _FRAC_RANGE[int(np.argmin(errors))]


def config_from_net(net, **overrides) -> HwConfig:
    """A HwConfig with the net's sizes, step counts, beta, step size and estimator (powers of two).

    Raises ValueError when beta or the step size is not a power of two (the chip shifts) or the
    estimator is one the chip does not implement.
    """
    c = net.config

    def shift(v: float, name: str) -> int:
        k = -math.log2(v)
        if abs(k - round(k)) > 1e-9:
            raise ValueError(f"{name} must be a power of two for the fixed-point model, not {v!r}")
        return round(k)

    if c.estimator not in ("symmetric", "one-sided"):
        raise ValueError(f"estimator must be symmetric or one-sided for the fixed-point model, not {c.estimator!r}")
    base = {"sizes": tuple(c.sizes), "free_steps": c.free_steps, "nudge_steps": c.nudge_steps,
            "beta_shift": shift(c.beta, "beta"), "eps_shift": shift(c.step_size, "step_size"),
            "estimator": c.estimator}
    return HwConfig(**{**base, **overrides})


@dataclass(frozen=True)
class Quantised:
    """The result of `quantise`: the config (with the chosen weight_frac), the parameters, and per layer
    ``report[l]`` = {weight_frac, acc_frac, weight_saturated, bias_saturated, shadow_saturated, n_weights,
    weight_rmse, zero_fraction}."""

    cfg: HwConfig
    params: IntParams
    report: list[dict]


def quantise(net, cfg: HwConfig | None = None, *, keep_frac: bool = False, **overrides) -> Quantised:
    """Quantise an `EqPropNet` (of a checkpoint: ``quantise(eqprop.train.load_checkpoint(path).model)``; the
    specification reads no files of the float models, docs/layers.md).

    Parameters
    ----------
    net : EqPropNet
    cfg : HwConfig, optional
        Formats to quantise to; its sizes must match the net. Default: `config_from_net(net)`, or for a net
        trained with quantisation-aware training (``qat``) and neither `cfg` nor overrides given, the format
        and weight scales it trained with (``net.hw_config()``, `keep_frac`).
    **overrides
        HwConfig fields to change (e.g. ``weight_format="ternary", weight_bits=2``).
        ``weight_frac`` is chosen here, per layer, unless `keep_frac`.
    keep_frac : bool
        Keep ``cfg.weight_frac`` (the scales a quantisation-aware trained net fixed, `EqPropNet.hw_config`)
        instead of searching the least-error scale.
    """
    if not all(hasattr(net, a) for a in ("config", "sizes", "weights", "biases")):
        raise ValueError(f"quantisation needs an EqPropNet (layered weights and biases), not a {type(net).__name__}")
    if cfg is None and not overrides and getattr(net.config, "qat", None) is not None:
        qat_cfg = net.hw_config()
        if qat_cfg.weight_frac == tuple(net.qat_weight_frac.tolist()):  # scales fixed by training
            cfg, keep_frac = qat_cfg, True
    cfg = cfg or config_from_net(net)
    cfg = cfg.replace(**overrides) if overrides else cfg
    if tuple(net.sizes) != cfg.sizes:
        raise ValueError(f"cfg.sizes must match the network's sizes {tuple(net.sizes)}, not {cfg.sizes!r}")
    ws = [w.detach().double().cpu().numpy() for w in net.weights]
    bs = [b.detach().double().cpu().numpy() for b in net.biases]
    for l, (w, b) in enumerate(zip(ws, bs, strict=True)):
        _check_values(f"weights of layer {l}", w, cfg.weight_max + 0.5,
                      f"the widest {_format_name(cfg)} scale (weight_frac 0) reaches +-{cfg.weight_max}")
        _check_values(f"biases of layer {l}", b, (cfg.bias_max + 0.5) * 2.0 ** -cfg.state_bits,
                      f"bias_bits = {cfg.bias_bits} at the widest accumulator scale, {cfg.state_bits} fraction bits")
    if not keep_frac:
        cfg = cfg.replace(weight_frac=tuple(_best_frac(cfg, w) for w in ws))
    shadow, biases, report = [], [], []
    for l, (w, b) in enumerate(zip(ws, bs, strict=True)):
        fw = cfg.weight_frac[l]
        sh = round_float(w * 2.0 ** (fw + cfg.shadow_extra), cfg.rounding)
        bq, bias_sat = _quantise_bias(cfg, b, l)
        codes, sat = _quantise_weights(cfg, w, fw)
        clipped = np.clip(sh, -cfg.shadow_max, cfg.shadow_max)
        # double rounding (float -> shadow -> forward) may land on the other side of a tie; there the
        # shadow takes the forward code exactly, so forward weights are always within half a step
        shadow.append(np.where(derive_weights(cfg, clipped) == codes, clipped, codes << cfg.shadow_extra))
        biases.append(bq)
        report.append({
            "layer": l, "weight_frac": fw, "acc_frac": cfg.acc_frac(l), "n_weights": int(w.size),
            "weight_saturated": sat, "bias_saturated": bias_sat,
            "shadow_saturated": int((np.abs(sh) > cfg.shadow_max).sum()),
            "weight_rmse": float(np.sqrt(((codes * 2.0 ** -fw - w) ** 2).mean())),
            "zero_fraction": float((codes == 0).mean()),
        })
    return Quantised(cfg, IntParams.from_shadow(cfg, shadow, biases), report)


def forward_values(cfg: HwConfig, ws: list[np.ndarray], bs: list[np.ndarray], *, keep_frac: bool = False,
                   ) -> tuple[HwConfig, list[np.ndarray], list[np.ndarray]]:
    """The float values of the weights and biases the chip's relaxation would use for float weights `ws` and
    biases `bs` under `cfg`: per layer the weight_frac that `quantise` picks (``cfg.weight_frac`` itself with
    `keep_frac`), and code * 2**-frac of the same codes (what ``dequantise`` of `quantise` gives, without the
    range checks and shadows). Quantisation-aware training (`EqPropConfig.qat`) relaxes with these; returns
    (cfg with weight_frac, weights, biases).
    """
    ws = [np.asarray(w, dtype=np.float64) for w in ws]
    if not keep_frac:
        cfg = cfg.replace(weight_frac=tuple(_best_frac(cfg, w) for w in ws))
    wq = [_quantise_weights(cfg, w, cfg.weight_frac[l])[0] * 2.0 ** -cfg.weight_frac[l] for l, w in enumerate(ws)]
    bq = [_quantise_bias(cfg, np.asarray(b, dtype=np.float64), l)[0] * 2.0 ** -cfg.acc_frac(l)
          for l, b in enumerate(bs)]
    return cfg, wq, bq


def dequantise(cfg: HwConfig, params: IntParams) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Float values of the forward weights and biases: code * 2**-frac."""
    ws = [w * 2.0 ** -cfg.weight_frac[l] for l, w in enumerate(params.weights)]
    bs = [b * 2.0 ** -cfg.acc_frac(l) for l, b in enumerate(params.biases)]
    return ws, bs


def _config_json(cfg: HwConfig) -> bytes:
    return json.dumps(config_fields(cfg), sort_keys=True).encode()


def config_digest(cfg: HwConfig) -> str:
    """SHA-256 (hex) of every field of `cfg`, in a fixed order: equal configs, equal digests."""
    return hashlib.sha256(_config_json(cfg)).hexdigest()


def design_digest(cfg: HwConfig, params: IntParams) -> str:
    """SHA-256 (hex) of a design: every field of `cfg`, then per layer the shape and the int64 codes of the
    shadow weights and biases (the forward weights are derived from the shadows, `IntParams.from_shadow`).
    One changed field or code changes it."""
    h = hashlib.sha256(_config_json(cfg))
    for kind, arrays in (("shadow", params.shadow), ("bias", params.biases)):
        for l, a in enumerate(arrays):
            a = np.ascontiguousarray(a, dtype="<i8")
            h.update(f"{kind}{l}{a.shape}".encode())
            h.update(a.tobytes())
    return h.hexdigest()
