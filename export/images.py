"""The memory images of an export, for either datapath: the P-lane core's in `eqprop.hw.memimage`'s layout, the
tiled core's in its own (`rtl.tiled_core.TiledCore.images`: a PE x SIMD tile a word of ``weight.hex``, the shadow
weights a tile row a word of ``shadow.hex``, the biases in blocks of ``bias.l.hex``).

The tile layout is the RTL's (`rtl.tiled_schedule`), so its images are written and read here, above it
(docs/layers.md); `eqprop.hw.memimage` refuses a tiled configuration and names these functions.
"""

from __future__ import annotations

import os

import numpy as np

from eqprop.hw.golden import IntParams, zero_params
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import MemImageError, read_hex, read_params, resolve_config, write_hex, write_params

__all__ = ["read_images", "tiled_memories", "write_images"]

_LAYOUTS = {"weight": "every layer's PE x SIMD tiles from word weight_base(l), tile (a, c) of layer l at word "
                      "weight_base(l) + a blocks(l) + c, element [i, j] at i SIMD + j (odd layers transposed)",
            "shadow": "the weight memory's tile rows, update_rows a word: row i of tile word w in word "
                      "(w PE + i) // update_rows",
            "bias": "blocks of the layer's neurons (SIMD or PE a block by its parity), lane 0 lowest"}


def _tiled_core(cfg: HwConfig):
    """The tiled core of `cfg`, built for its memories' layout and never elaborated."""
    from rtl.tiled_core import TiledCore

    core = TiledCore(cfg=cfg)
    core._MustUse__silence = True     # (Amaranth's UnusedElaboratable warning: it is not meant to be elaborated)
    return core


def tiled_memories(cfg: HwConfig) -> dict[str, dict]:
    """A tiled core's parameter memories, as an export's manifest describes them: {name: depth, word_bits,
    element_bits, elements a word, signed, layout}."""
    core = _tiled_core(cfg)
    out = {}
    for name, (sel, _) in core.images(zero_params(cfg)).items():
        md, bits = core.parameter_memories()[sel], core.lane_bits[sel]
        out[name] = {"depth": md.depth, "word_bits": md.shape.width, "element_bits": bits,
                     "elements": md.shape.width // bits, "signed": True, "layout": _LAYOUTS[name.split(".")[0]]}
    return out


def write_images(cfg: HwConfig, params: IntParams, folder) -> dict[str, str]:
    """Write the images of `params` for the core of `cfg` into `folder`; returns name -> path."""
    if not cfg.tiled:
        return write_params(cfg, params, folder)
    core, paths = _tiled_core(cfg), {}
    for name, (sel, words) in core.images(params).items():
        md = core.parameter_memories()[sel]
        path = os.path.join(os.fspath(folder), f"{name}.hex")
        header = (f"{name}: the tiled core's {name.split('.')[0]} memory, {md.shape.width // core.lane_bits[sel]} "
                  f"signed {core.lane_bits[sel]}-bit codes a word, lane 0 lowest (manifest.json: memories)\n"
                  f"depth {md.depth} words of {md.shape.width} bits")
        write_hex(path, words, md.shape.width, header)
        paths[name] = path
    return paths


def read_images(cfg: HwConfig | None, folder) -> IntParams:
    """The parameters the images of `write_images` in `folder` hold, read with `cfg` or, None, the configuration
    of the folder's ``manifest.json`` (`eqprop.hw.memimage.resolve_config`); a learning core's weights must be
    those its shadows derive."""
    cfg = resolve_config(cfg, folder)
    if not cfg.tiled:
        return read_params(cfg, folder)
    core = _tiled_core(cfg)
    words = {}
    for name, (sel, _) in core.images(zero_params(cfg)).items():
        md = core.parameter_memories()[sel]
        words[sel] = read_hex(os.path.join(os.fspath(folder), f"{name}.hex"), md.shape.width, md.depth)
    params = core.params_from_words(words)
    if cfg.learning:
        derived = IntParams.from_shadow(cfg, params.shadow, params.biases)
        for l in range(cfg.n_layers):
            if not np.array_equal(derived.weights[l], params.weights[l]):
                bad = tuple(int(i) for i in np.argwhere(derived.weights[l] != params.weights[l])[0])
                raise MemImageError(f"{os.path.join(os.fspath(folder), 'weight.hex')}: weight {bad} of layer {l} is "
                                    f"{params.weights[l][bad]}, but the shadow derives {derived.weights[l][bad]}")
    return params
