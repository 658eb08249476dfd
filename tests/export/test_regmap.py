"""The register map in the register tools' formats (`export.regmap`): the SystemRDL compiles, the C header
compiles with the system C compiler and a C program built on it prints every register's offset, array
length, field position and width and the configuration registers' reset values, compared with
`eqprop.hw.formats`; the IP-XACT is parsed for the same offsets and lengths. The expectations come from
`eqprop.hw.formats` directly, not from the generator."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    FIELDS,
    REGISTERS,
    Control,
    Mode,
    Reg,
    Status,
    config_registers,
    register_counts,
    windows,
)
from eqprop.hw.hwconfig import HwConfig
from export.regmap import regmap_files, write_regmap

TOP = "eqprop_accel"
CONFIGS = {
    "learning": HwConfig(sizes=(5, 6, 3), mac_lanes=2),
    "inference-only, 3 samples": HwConfig(sizes=(5, 6, 4, 3), mac_lanes=2, learning=False, samples=3),
}


def _expected(cfg):
    """name -> (byte offset, registers) and (register, field) -> (lsb, width), from eqprop.hw.formats."""
    counts = register_counts(cfg)
    regs = {r.name: (int(r.offset), counts.get(r.name, 1)) for r in REGISTERS if r.offset < Reg.INPUT}
    regs |= {w.name.upper().replace(".", "_"): (int(w.base), w.count) for w in windows(cfg)}
    fields = {(reg, f.name.upper()): (f.lsb, f.width) for reg, fs in FIELDS.items() for f in fs}
    fields |= {("CONTROL", c.name): (c.bit_length() - 1, 1) for c in Control}
    fields[("CONTROL", "MODE")] = (CONTROL_MODE_SHIFT, max(int(m).bit_length() for m in Mode))
    fields |= {("STATUS", s.name): (s.bit_length() - 1, 1) for s in Status}
    return regs, fields


@pytest.fixture(scope="module", params=list(CONFIGS))
def exported(request, tmp_path_factory):
    cfg = CONFIGS[request.param]
    folder = tmp_path_factory.mktemp("regmap")
    names = write_regmap(cfg, folder, TOP)
    assert sorted(names) == sorted(p.name for p in folder.iterdir()) == sorted(regmap_files(TOP).values())
    return cfg, folder


def test_c_header_compiles_and_matches_the_register_map(exported):
    cfg, folder = exported
    cc = shutil.which("cc")
    if cc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no C compiler (cc) is on PATH")
        pytest.skip("no C compiler (cc) on PATH")
    regs, fields = _expected(cfg)
    prefix = TOP.upper()
    lines = [f'#include "{regmap_files(TOP)["c_header"]}"', "#include <stddef.h>", "#include <stdio.h>",
             "int main(void) {"]
    for name in regs:
        lines.append(f'    printf("reg {name} %zu %zu\\n", offsetof({TOP}_t, {name}), '
                     f"sizeof((({TOP}_t *)0)->{name}) / 4);")
    for reg, field in fields:
        m = f"{prefix}__{reg}__{field}"
        lines.append(f'    printf("field {reg}.{field} %d %d\\n", (int){m}_bp, (int){m}_bw);')
    resets = {name: value for name, value in config_registers(cfg).items() if "." not in name}
    for name in resets:
        if name in FIELDS:
            expr = " | ".join(f"((unsigned long){prefix}__{name}__{f.name.upper()}_reset << {prefix}__{name}__"
                              f"{f.name.upper()}_bp)" for f in FIELDS[name])
        else:
            expr = f"(unsigned long){prefix}__{name}__VALUE_reset"
        lines.append(f'    printf("reset {name} %lu\\n", {expr});')
    lines += [f'    printf("size %zu\\n", sizeof({TOP}_t));', "    return 0;", "}"]
    (folder / "main.c").write_text("\n".join(lines) + "\n")
    build = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-o", str(folder / "regs"), str(folder / "main.c")],
                           cwd=folder, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    out = subprocess.run([str(folder / "regs")], capture_output=True, text=True, check=True).stdout.splitlines()
    got_regs = {w[1]: (int(w[2]), int(w[3])) for w in map(str.split, out) if w[0] == "reg"}
    got_fields = {tuple(w[1].split(".")): (int(w[2]), int(w[3])) for w in map(str.split, out) if w[0] == "field"}
    got_resets = {w[1]: int(w[2]) for w in map(str.split, out) if w[0] == "reset"}
    assert got_regs == regs
    assert got_fields == fields
    assert got_resets == resets
    last = max(windows(cfg), key=lambda w: w.base)
    assert [int(w[1]) for w in map(str.split, out) if w[0] == "size"] == [last.base + 4 * last.count]


def test_ip_xact_has_every_register_at_its_offset(exported):
    cfg, folder = exported
    regs, fields = _expected(cfg)
    root = ET.parse(folder / regmap_files(TOP)["ip_xact"]).getroot()
    ns = {"ipxact": "http://www.accellera.org/XMLSchema/IPXACT/1685-2014"}
    assert root.tag == f"{{{ns['ipxact']}}}component"

    def number(text):                          # IP-XACT writes 'h1f, or plain decimal
        return int(text[2:], 16) if text.startswith("'h") else int(text)

    got, got_fields = {}, {}
    for reg in root.iterfind(".//ipxact:register", ns):
        name = reg.findtext("ipxact:name", namespaces=ns)
        got[name] = (number(reg.findtext("ipxact:addressOffset", namespaces=ns)),
                     int(reg.findtext("ipxact:dim", default="1", namespaces=ns)))
        for f in reg.iterfind("ipxact:field", ns):
            got_fields[(name, f.findtext("ipxact:name", namespaces=ns).upper())] = (
                number(f.findtext("ipxact:bitOffset", namespaces=ns)),
                number(f.findtext("ipxact:bitWidth", namespaces=ns)))
    assert got == regs
    assert {k: v for k, v in got_fields.items() if k in fields} == fields


def test_systemrdl_and_markdown_name_every_register(exported):
    cfg, folder = exported
    regs, _ = _expected(cfg)
    rdl = (folder / regmap_files(TOP)["systemrdl"]).read_text()
    md = (folder / regmap_files(TOP)["markdown"]).read_text()
    assert set(re.findall(r"\} (\w+)(?:\[\d+\])? @", rdl)) == set(regs)
    assert all(f"|{name}" in md.replace(" ", "") for name in regs)
    assert ("TARGET" in regs) == ("SHADOW_0" in regs) == cfg.learning


def test_a_top_named_like_a_systemrdl_keyword_still_compiles(tmp_path):
    """`python -m export --top reg` is a valid Verilog name; the SystemRDL escapes it, so the files are named
    and prefixed by it like any other."""
    write_regmap(CONFIGS["learning"], tmp_path, "reg")
    assert "} reg_t;" in (tmp_path / regmap_files("reg")["c_header"]).read_text()
