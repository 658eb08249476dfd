"""Memory images: parameters packed into the words of the RTL's memories, as ``$readmemh`` hex files.

The layout is `eqprop.hw.formats.memory_layout` (row-major, ``mac_lanes`` fields per word, lane 0 in the
least significant bits, rows padded with zeros); bitstring does the two's-complement field packing.

File format (what Verilog's ``$readmemh`` reads): one word per line as ``ceil(word_bits / 4)`` hex
digits, most significant first; ``//`` starts a comment; ``@hhhh`` sets the next word's address (hex).
Words must fill addresses 0 .. depth - 1 exactly once. `read_hex` rejects anything else with a
`MemImageError` that names the file and line. Writes go through `eqprop.atomic` (a temporary file renamed
into place), so a partly written image never looks complete.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
from bitstring import Bits

from eqprop.atomic import write_text_atomic
from eqprop.cli_support import read_json_object
from eqprop.hw.formats import MemoryRegion, memory_layout
from eqprop.hw.golden import IntParams, shadow_of_weights
from eqprop.hw.hwconfig import HwConfig, config_from_fields

__all__ = ["MANIFEST", "MemImageError", "manifest_config", "pack_region", "pack_words", "read_hex", "read_params",
           "unpack_region", "unpack_words", "write_hex", "write_params"]

MANIFEST = "manifest.json"   # written beside the images by `export.writer.export_core`


class MemImageError(ValueError):
    """A corrupt or truncated memory image; the message starts with ``path:line:``."""


def pack_words(codes: np.ndarray, lane_bits: int, lanes: int, signed: bool) -> list[int]:
    """Pack a 1-D array of codes into words of `lanes` fields (lane 0 lowest), zero-padding the last word."""
    codes = [int(v) for v in np.asarray(codes).ravel()]
    codes += [0] * (-len(codes) % lanes)
    words = []
    for i in range(0, len(codes), lanes):
        try:
            fields = [Bits(int=v, length=lane_bits) if signed else Bits(uint=v, length=lane_bits)
                      for v in reversed(codes[i:i + lanes])]
        except Exception as e:  # bitstring raises CreationError (a ValueError) with its own wording
            raise ValueError(f"codes must fit {'signed' if signed else 'unsigned'} {lane_bits}-bit lanes, "
                             f"not {codes[i:i + lanes]!r} ({e})") from None
        words.append(Bits().join(fields).uint)
    return words


def unpack_words(words: list[int], lane_bits: int, lanes: int, signed: bool, count: int) -> np.ndarray:
    """Inverse of `pack_words`: the first `count` codes (int64)."""
    out = []
    for w in words:
        fields = Bits(uint=w, length=lane_bits * lanes).cut(lane_bits)  # most significant lane first
        out.extend(reversed([f.int if signed else f.uint for f in fields]))
    return np.asarray(out[:count], dtype=np.int64)


def pack_region(region: MemoryRegion, array: np.ndarray) -> list[int]:
    """Words of `array` (rows, cols) or (cols,) in `region`'s layout: each row padded to whole words."""
    a = np.asarray(array).reshape(region.rows, region.cols)
    return [w for row in a for w in pack_words(row, region.lane_bits, region.lanes, region.signed)]


def unpack_region(region: MemoryRegion, words: list[int]) -> np.ndarray:
    """Inverse of `pack_region`: (rows, cols), or (cols,) for a vector region."""
    k = region.words_per_row
    rows = [unpack_words(words[r * k:(r + 1) * k], region.lane_bits, region.lanes, region.signed, region.cols)
            for r in range(region.rows)]
    a = np.stack(rows) if rows else np.zeros((0, region.cols), dtype=np.int64)
    return a[0] if region.rows == 1 else a


def write_hex(path: str | os.PathLike, words: list[int], word_bits: int, header: str = "") -> None:
    """Write a ``$readmemh`` image atomically; `header` lines become ``//`` comments."""
    path = os.fspath(path)
    digits = -(-word_bits // 4)
    for i, w in enumerate(words):
        if not 0 <= w < 1 << word_bits:
            raise ValueError(f"word {i} must fit {word_bits} bits, not {w!r}")
    lines = [f"// {h}" for h in header.splitlines()] + [f"{w:0{digits}x}" for w in words]
    write_text_atomic(path, "\n".join(lines) + "\n")


_HEX = re.compile(r"[0-9a-fA-F_]+")


def read_hex(path: str | os.PathLike, word_bits: int, depth: int) -> list[int]:
    """Read a ``$readmemh`` image of exactly `depth` words of `word_bits` bits.

    Raises
    ------
    MemImageError
        ``path:line: what`` for a bad digit, a word wider than `word_bits`, an address outside the
        memory or written twice, or (at the last line) missing words.
    """
    path = os.fspath(path)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise MemImageError(f"{path}: no such memory image") from None
    except UnicodeDecodeError:
        raise MemImageError(f"{path}: not a text file (expected $readmemh hex lines)") from None
    words: list[int | None] = [None] * depth
    addr, lineno = 0, 0
    for lineno, line in enumerate(text.splitlines(), 1):
        for tok in line.split("//", 1)[0].split():
            where = f"{path}:{lineno}"
            if tok.startswith("@"):
                if not _HEX.fullmatch(tok[1:]):
                    raise MemImageError(f"{where}: bad address {tok!r}; expected @ and hex digits")
                addr = int(tok[1:].replace("_", ""), 16)
                continue
            if not _HEX.fullmatch(tok):
                raise MemImageError(f"{where}: bad word {tok!r}; expected hex digits")
            value = int(tok.replace("_", ""), 16)
            if value >> word_bits:
                raise MemImageError(f"{where}: word {tok!r} is wider than {word_bits} bits")
            if addr >= depth:
                raise MemImageError(f"{where}: address {addr:#x} is outside the memory of {depth} words")
            if words[addr] is not None:
                raise MemImageError(f"{where}: address {addr:#x} is written twice")
            words[addr] = value
            addr += 1
    missing = [i for i, w in enumerate(words) if w is None]
    if missing:
        raise MemImageError(f"{path}:{lineno}: truncated: {len(missing)} of {depth} words missing "
                            f"(first at address {missing[0]:#x})")
    return words  # type: ignore[return-value]


def write_params(cfg: HwConfig, params: IntParams, folder: str | os.PathLike) -> dict[str, str]:
    """Write ``weight.l.hex``, ``shadow.l.hex`` and ``bias.l.hex`` for every layer; returns name -> path.

    An inference-only configuration (``learning=False``) gets no ``shadow.l.hex``: its core has no shadow
    memory, and its weights are the parameters (`read_params` reads them back without shadows)."""
    if cfg.tiled:
        raise MemImageError("a tiled configuration's images are in its tile layout (rtl.tiled_core): "
                            "export.images.write_images writes them")
    layout = memory_layout(cfg)
    paths = {}
    for l in range(cfg.n_layers):
        kinds = (("weight", params.weights[l]), ("shadow", params.shadow[l]), ("bias", params.biases[l]))
        for kind, array in (kinds if cfg.learning else kinds[::2]):
            region = layout[f"{kind}.{l}"]
            path = os.path.join(os.fspath(folder), f"{region.name}.hex")
            header = (f"{region.name}: {region.rows} x {region.cols} {'signed' if region.signed else 'unsigned'} "
                      f"{region.lane_bits}-bit codes, {region.lanes} per word, lane 0 lowest, rows padded\n"
                      f"depth {region.depth} words of {region.word_bits} bits")
            write_hex(path, pack_region(region, array), region.word_bits, header)
            paths[region.name] = path
    return paths


def manifest_config(folder: str | os.PathLike) -> HwConfig | None:
    """The `HwConfig` recorded in ``folder/manifest.json`` (an exported core's), or None without a manifest."""
    path = os.path.join(os.fspath(folder), MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        manifest = read_json_object(path, "manifest")
    except ValueError as e:
        raise MemImageError(str(e)) from None
    if not isinstance(manifest.get("hwconfig"), dict):
        raise MemImageError(f"{path}: no 'hwconfig' object; an exported core's manifest records the configuration "
                            "its images were written for")
    try:
        return config_from_fields(manifest["hwconfig"], path)
    except ValueError as e:
        raise MemImageError(str(e)) from None


def resolve_config(cfg: HwConfig | None, folder: str | os.PathLike) -> HwConfig:
    """The configuration to read the images of `folder` with: its ``manifest.json``'s (an exported core's) when
    `cfg` is None; `cfg` otherwise, which must then equal the manifest's when there is one (`MemImageError`
    names the fields that differ: the images would be read at the wrong scale, not refused, otherwise)."""
    own = manifest_config(folder)
    if cfg is None:
        if own is None:
            raise MemImageError(f"{os.fspath(folder)}: no {MANIFEST} to take the configuration from; pass the "
                                "configuration the images were written for")
        cfg = own
    elif own is not None and own != cfg:
        diff = [f.name for f in dataclasses.fields(HwConfig) if getattr(own, f.name) != getattr(cfg, f.name)]
        raise MemImageError(
            f"{os.path.join(os.fspath(folder), MANIFEST)}: the images were written for another configuration ("
            + "; ".join(f"{k} {getattr(own, k)!r} there, {getattr(cfg, k)!r} asked for" for k in diff)
            + "); leave the configuration out to use the manifest's, or pass the one it records")
    return cfg


def read_params(cfg: HwConfig | None, folder: str | os.PathLike) -> IntParams:
    """Read the images of `write_params`; the weights must equal those derived from the shadows.

    For an inference-only configuration the shadow images are not read (`write_params` writes none): the
    parameters' shadows are the weights put into shadow format, so that they derive the weights exactly.

    A folder with a ``manifest.json`` (an exported core) is read with the configuration it records: `cfg`
    None takes it, and a `cfg` that differs raises `MemImageError` naming the fields (the images would
    be read at the wrong scale, not refused, otherwise).
    """
    cfg = resolve_config(cfg, folder)
    if cfg.tiled:
        raise MemImageError(f"{os.fspath(folder)}: a tiled configuration's images are in its tile layout "
                            "(rtl.tiled_core): export.images.read_images reads them")
    layout = memory_layout(cfg)
    arrays: dict[str, np.ndarray] = {}
    for name, region in layout.items():
        if name.startswith("state.") or (name.startswith("shadow.") and not cfg.learning):
            continue
        path = os.path.join(os.fspath(folder), f"{name}.hex")
        arrays[name] = unpack_region(region, read_hex(path, region.word_bits, region.depth))
    n = cfg.n_layers
    if not cfg.learning:   # weights -> shadow codes that derive them
        for l in range(n):
            arrays[f"shadow.{l}"] = shadow_of_weights(cfg, arrays[f"weight.{l}"])
    params = IntParams.from_shadow(cfg, [arrays[f"shadow.{l}"] for l in range(n)],
                                   [arrays[f"bias.{l}"] for l in range(n)])
    for l in range(n):
        if not np.array_equal(params.weights[l], arrays[f"weight.{l}"]):
            bad = tuple(int(i) for i in np.argwhere(params.weights[l] != arrays[f"weight.{l}"])[0])
            raise MemImageError(f"{os.path.join(os.fspath(folder), f'weight.{l}.hex')}: weight {bad} is "
                                f"{arrays[f'weight.{l}'][bad]}, but shadow.{l} derives {params.weights[l][bad]}")
    return params
