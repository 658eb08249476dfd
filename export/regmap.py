"""The register map in the formats register tools read: SystemRDL, a C header, IP-XACT and Markdown.

`systemrdl` writes the SystemRDL description of a core's register map from its single definition in
`eqprop.hw.formats` (`REGISTERS`, `FIELDS`, `Control`, `Status`, `Mode`, `ErrorCode`, `register_counts`,
`windows`, `config_registers`); `write_regmap` compiles it with ``systemrdl-compiler`` and writes, with the
PeakRDL exporters, a C header (``peakrdl-cheader``: a struct whose members sit at the register offsets, and
``_bp``/``_bw``/``_bm`` macros for every field), an IP-XACT component (``peakrdl-ipxact``, IEEE 1685-2014,
for Vivado's and Quartus's IP packagers) and a Markdown reference (``peakrdl-markdown``). Every export
writes them (`export.writer.export_core`).

The map is per configuration: the register arrays (LAYER_SIZE, LR_SHIFT, LAYER_FRAC, PHASE_STEPS, RESULTS)
have the core's lengths and each window is an array of its element count, so an inference-only core has
no TARGET or SHADOW window here either. Windows are ``external`` register arrays (the core's memories, behind
the bus's host port; the Markdown lists each once). Reset values are given for the configuration registers,
CONTROL and nothing else that a command or the host changes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    FIELDS,
    REGISTERS,
    Control,
    ErrorCode,
    Mode,
    Reg,
    Status,
    config_registers,
    register_counts,
    windows,
)
from eqprop.hw.hwconfig import HwConfig

__all__ = ["RegmapError", "compile_rdl", "regmap_files", "systemrdl", "write_regmap"]


class RegmapError(RuntimeError):
    """The SystemRDL written from the register map does not compile, or a PeakRDL exporter failed."""


def regmap_files(top: str) -> dict[str, str]:
    """The files `write_regmap` writes for module `top`: format -> file name."""
    return {"systemrdl": f"{top}.rdl", "c_header": f"{top}_regs.h", "ip_xact": f"{top}.ipxact.xml",
            "markdown": f"{top}_regs.md"}


def _str(text: str) -> str:
    """A SystemRDL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _enum(name: str, members, width: int, doc: dict[str, str] | None = None) -> str:
    entries = "".join(f"        {e.name} = {width}'d{int(e)}" + (f" {{ desc = {_str(doc[e.name])}; }}" if doc else "")
                      + ";\n" for e in members)
    return f"    enum {name} {{\n{entries}    }};\n"


def _field(name: str, msb: int, lsb: int, sw: str, *, reset: int | None = None, extra: str = "",
           desc: str | None = None) -> str:
    hw = "r" if sw == "rw" else "w"
    props = f"sw = {sw}; hw = {hw};" + (f" desc = {_str(desc)};" if desc else "") + extra
    value = f" = {msb - lsb + 1}'h{reset:X}" if reset is not None else ""
    return f"        field {{ {props} }} {name}[{msb}:{lsb}]{value};\n"


def systemrdl(cfg: HwConfig, top: str = "eqprop_accel", *, as_mem: bool = False) -> str:
    """The SystemRDL 2.0 text of the register map of `cfg`, one ``addrmap`` named `top`.

    A window is an array of external registers, one per element (what the C header's struct and IP-XACT
    carry); with `as_mem` it is an external ``mem`` instead, which the Markdown exporter lists once rather
    than element by element (IP-XACT's exporter leaves memories out, so the shipped file uses registers)."""
    regs = config_registers(cfg)
    counts = register_counts(cfg)
    width = max(int(m).bit_length() for m in Mode)
    out = [f"// The register map of {top} (eqprop.hw.formats), written by export.regmap for this configuration.\n",
           f"addrmap \\{top} {{\n",   # escaped: a name that is a SystemRDL keyword (reg, field) stays a name

           f"    name = {_str('Equilibrium Propagation accelerator')};\n",
           f"    desc = {_str('AXI4-Lite slave, 32-bit registers at byte offsets (docs/register-map.md)')};\n",
           "    default regwidth = 32;\n    default accesswidth = 32;\n",
           _enum("Mode", Mode, width),
           _enum("ErrorCode", ErrorCode, 32)]
    for r in REGISTERS:
        if r.offset >= Reg.INPUT:
            continue                                      # the windows, below, per configuration
        sw = {"ro": "r", "rw": "rw", "wo": "w"}[r.access]
        if r.name == "CONTROL":
            fields = [_field(c.name.lower(), c.bit_length() - 1, c.bit_length() - 1, "rw", reset=0,
                             extra=" singlepulse;", desc=f"write 1 to {c.name}; self-clearing, reads 0")
                      for c in Control]
            fields.append(_field("mode", CONTROL_MODE_SHIFT + width - 1, CONTROL_MODE_SHIFT, "rw", reset=0,
                                 extra=" encode = Mode;", desc="the mode to START; reads the mode last started"))
        elif r.name == "STATUS":
            fields = [_field(s.name.lower(), s.bit_length() - 1, s.bit_length() - 1, "r") for s in Status]
        elif r.name in FIELDS:
            value = regs.get(r.name)
            fields = [_field(f.name, f.lsb + f.width - 1, f.lsb, sw,
                             reset=None if value is None else value >> f.lsb & ((1 << f.width) - 1))
                      for f in FIELDS[r.name]]
        else:
            extra = " encode = ErrorCode;" if r.name == "ERROR" else ""
            fields = [_field("value", 31, 0, sw, reset=regs.get(r.name), extra=extra)]
        body = f"    reg {{\n        name = {_str(r.name)};\n        desc = {_str(r.description)};\n"
        body += "".join(fields) + "    }"
        n = counts.get(r.name)
        out.append(f"{body} {r.name}[{n}] @ 0x{int(r.offset):X} += 4;\n" if n is not None else
                   f"{body} {r.name} @ 0x{int(r.offset):X};\n")
    for w in windows(cfg):
        name = w.name.upper().replace(".", "_")
        desc = (f"window {w.name}: {w.count} elements, one 32-bit register each (element i at + 4 i); "
                + (f"a write must hold a code in {w.lo} .. {w.hi}" if w.writable else "read-only"))
        sw = "rw" if w.writable else "r"
        if as_mem:
            out.append(f"    external mem {{\n        name = {_str(w.name)};\n        desc = {_str(desc)};\n"
                       f"        mementries = {w.count};\n        memwidth = 32;\n        sw = {sw};\n"
                       f"        reg {{\n    {_field('code', 31, 0, sw)}        }} code[{w.count}];\n"
                       f"    }} {name} @ 0x{int(w.base):X};\n")
        else:
            out.append(f"    external reg {{\n        name = {_str(w.name)};\n        desc = {_str(desc)};\n"
                       + _field("code", 31, 0, sw) + f"    }} {name}[{w.count}] @ 0x{int(w.base):X} += 4;\n")
    out.append("};\n")
    return "".join(out)


def compile_rdl(path: str | os.PathLike):
    """The elaborated root of the SystemRDL file at `path` (``systemrdl-compiler``)."""
    from systemrdl import RDLCompileError, RDLCompiler
    from systemrdl.messages import MessagePrinter

    class _Collect(MessagePrinter):
        def __init__(self):
            super().__init__()
            self.lines = []

        def emit_message(self, lines):
            self.lines += lines

    printer = _Collect()
    rdlc = RDLCompiler(message_printer=printer)
    try:
        rdlc.compile_file(str(path))
        return rdlc.elaborate()
    except RDLCompileError:
        raise RegmapError(f"{path}: the SystemRDL of the register map does not compile; this is a bug of the "
                          "export, please report it with the configuration:\n" + "\n".join(printer.lines)) from None


def write_regmap(cfg: HwConfig, folder: str | os.PathLike, top: str = "eqprop_accel") -> list[str]:
    """Write the SystemRDL, C header, IP-XACT and Markdown register map of `cfg` into `folder` (named by
    `regmap_files`); returns the file names written."""
    folder = Path(folder)
    names = regmap_files(top)
    (folder / names["systemrdl"]).write_text(systemrdl(cfg, top))
    root = compile_rdl(folder / names["systemrdl"])
    from peakrdl_cheader.exporter import CHeaderExporter
    from peakrdl_ipxact import IPXACTExporter
    from peakrdl_markdown import MarkdownExporter

    CHeaderExporter().export(root.top, str(folder / names["c_header"]))
    IPXACTExporter(vendor="eqprop", library="hw", version=_version()).export(root.top, str(folder / names["ip_xact"]))
    # peakrdl-markdown lists every element of a register array (4 MB for the default core's weight windows):
    # it reads the same map with each window as one memory
    with tempfile.TemporaryDirectory() as tmp:
        rdl = Path(tmp) / names["systemrdl"]
        rdl.write_text(systemrdl(cfg, top, as_mem=True))
        MarkdownExporter().export(compile_rdl(rdl).top, str(folder / names["markdown"]),
                                  input_files=[names["systemrdl"]])
    return list(names.values())


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("eqprop-hw")
    except metadata.PackageNotFoundError:
        return "0.0.0"
