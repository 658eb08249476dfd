"""`docs/integration.md` against the code: the port table against the ports of the Amaranth component
and of the exported Verilog (so a port added to the RTL and not to the document fails here), the
address width against `rtl.axil.address_width` over the smallest, default and largest maps and the
manifest, the simulator flags against `export.lint` and the Icarus test, and the instantiation
example against the port table, under Verilator and (where installed) Icarus."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from amaranth.hdl import Fragment, Shape
from amaranth.lib.wiring import In

from eqprop.hw.formats import MAX_LAYERS, WEIGHT_WINDOW
from eqprop.hw.hwconfig import HwConfig
from export.lint import MIN_VERSION, SUPPRESSED, LintError, lint
from export.writer import ExportError, export_core, verilog_ports, zero_params
from rtl.axil import AxiLiteAccelerator, address_width
from tests.export.test_icarus import GENERATIONS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "integration.md").read_text()
TOP = "eqprop_accel"
SMALL = HwConfig(sizes=(2, 2), mac_lanes=1)
SIDE = int((WEIGHT_WINDOW // 4) ** 0.5)        # the widest square layer whose matrix fills a window
CONFIGS = {"smallest": SMALL, "default": HwConfig(),
           "largest": HwConfig(sizes=(SIDE,) * (MAX_LAYERS + 1)),   # 8 layers, every window full
           "smallest-inference-only": HwConfig(sizes=(2, 2), mac_lanes=1, learning=False)}   # no SHADOW windows


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert m, f"docs/integration.md has no section '## {title}'"
    return m.group(1)


def doc_ports() -> dict[str, tuple[str, int]]:
    """name -> (direction, width) from the table of the Ports section."""
    rows = re.findall(r"^\| `(\w+)` \| (input|output) \| (\d+) \|", _section("Ports"), re.M)
    assert rows, "no port rows in the Ports table"
    names = [r[0] for r in rows]
    assert len(names) == len(set(names)), f"a port is listed twice: {names}"
    return {name: (direction, int(width)) for name, direction, width in rows}


def component_ports(cfg: HwConfig) -> dict[str, tuple[str, int]]:
    """The ports of `AxiLiteAccelerator` for `cfg`: its signature, plus the sync domain's clk and rst."""
    accel = AxiLiteAccelerator(cfg=cfg)
    Fragment.get(accel, None)   # elaborated, as an export would (and so no UnusedElaboratable warning)
    sig = accel.signature
    ports = {name: ("input" if m.flow == In else "output", Shape.cast(m.shape).width)
             for name, m in sig.members.items()}
    return {"clk": ("input", 1), "rst": ("input", 1), **ports}


def doc_address_width() -> int:
    m = re.search(r"\*\*Address width: (\d+) bits\*\*", DOC)
    assert m, "docs/integration.md states no '**Address width: N bits**'"
    return int(m.group(1))


@pytest.fixture(scope="module")
def small_core(tmp_path_factory):
    out = tmp_path_factory.mktemp("integration") / "core"
    try:
        export_core(SMALL, zero_params(SMALL), out, top=TOP)
    except ExportError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(str(e))
        pytest.skip(str(e))
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_port_table_is_the_component(name):
    doc, code = doc_ports(), component_ports(CONFIGS[name])
    assert doc == code, (f"docs/integration.md ports differ from AxiLiteAccelerator's ({name}): only in the "
                         f"document {sorted(set(doc) - set(code))}, only in the RTL {sorted(set(code) - set(doc))}, "
                         f"different {sorted(k for k in set(doc) & set(code) if doc[k] != code[k])}")


def test_port_table_is_the_exported_module(small_core):
    ports = verilog_ports((small_core / f"{TOP}.v").read_text(), TOP)
    doc, verilog = doc_ports(), {name: (direction, width) for name, direction, width in ports}
    assert doc == verilog, f"docs/integration.md ports differ from the exported Verilog: {doc} != {verilog}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_address_width_is_the_same_for_every_configuration(name):
    assert address_width(CONFIGS[name]) == doc_address_width()


def test_address_width_is_the_manifest_and_the_address_ports(small_core):
    manifest = json.loads((small_core / "manifest.json").read_text())
    width = doc_address_width()
    assert manifest["axi4_lite"] == {"data_bits": 32, "address_bits": width}
    assert doc_ports()["s_axil_awaddr"] == doc_ports()["s_axil_araddr"] == ("input", width)


def test_the_largest_configuration_is_the_largest_the_map_allows():
    """The address-width claim covers every configuration of 0x40000-byte weight windows only if
    `CONFIGS["largest"]` is their limit; past it (wider windows), the widths the document states."""
    from eqprop.hw.formats import config_registers, weight_window

    config_registers(CONFIGS["largest"])
    assert weight_window(CONFIGS["largest"]) == WEIGHT_WINDOW
    assert weight_window(HwConfig(sizes=(SIDE + 1, SIDE, 10))) > WEIGHT_WINDOW
    with pytest.raises(ValueError, match="weight layers must be at most"):
        config_registers(HwConfig(sizes=(2,) * (MAX_LAYERS + 2)))
    for sizes in ((784, 128, 10), (784, 256, 10), (784, 512, 10)):
        assert address_width(HwConfig(sizes=sizes)) == doc_address_width(), sizes
    assert address_width(HwConfig(sizes=(784, 1024, 10))) == 24    # its weight windows end past 8 MiB
    assert address_width(HwConfig(sizes=(1024,) * (MAX_LAYERS + 1))) == 27


def test_simulator_flags_are_the_code():
    sims = _section("Simulators")
    verilator = re.search(r"^\| Verilator \| (.*?) \| (.*?) \|$", sims, re.M)
    icarus = re.search(r"^\| Icarus Verilog \| (.*?) \| (.*?) \|$", sims, re.M)
    assert verilator and icarus, "the Simulators table needs a Verilator and an Icarus Verilog row"
    assert re.findall(r"-Wno-(\w+)", verilator.group(2)) == list(SUPPRESSED)
    assert f"{MIN_VERSION[0]}.{MIN_VERSION[1]:03d} or newer" in verilator.group(1)
    pin = f"verilator>={MIN_VERSION[0]}.{MIN_VERSION[1]:03d}"
    assert pin in verilator.group(1) and f'"{pin}"' in (ROOT / "pyproject.toml").read_text()
    assert re.findall(r"`(-g\d+)`", icarus.group(2)) == list(GENERATIONS)


def _example() -> str:
    blocks = re.findall(r"```verilog\n(.*?)```", _section("Instantiation"), re.S)
    assert len(blocks) == 1, "the Instantiation section needs one ```verilog block"
    return blocks[0]


def test_example_connects_every_port_once_at_its_width():
    text = _example()
    widths = {name: int(hi) - int(lo) + 1 if hi else 1 for hi, lo, name in
              re.findall(r"^\s*(?:input|output)\s+wire\s+(?:\[(\d+):(\d+)\]\s*)?(\w+)", text, re.M)}
    widths.update({name: 1 for name in re.findall(r"reg \[\d+:\d+\] (\w+)", text)})   # used bit by bit
    inst = re.search(rf"\b{TOP} \w+ \((.*?)\);", text, re.S)
    assert inst, f"the example instantiates no {TOP}"
    conns = re.findall(r"\.(\w+)\((\w+)(?:\[\d+\])?\)", inst.group(1))
    ports = doc_ports()
    assert sorted(p for p, _ in conns) == sorted(ports), "the example must connect every port exactly once"
    for port, signal in conns:
        assert widths[signal] == ports[port][1], f"{port} ({ports[port][1]} bits) connected to {signal}"


def test_example_lints_with_the_core(small_core, tmp_path):
    source = tmp_path / "soc.v"
    source.write_text(_example() + "\n" + (small_core / f"{TOP}.v").read_text())
    try:
        lint(source, "soc_accel")
    except LintError as e:
        if "must be at least" in str(e) and os.environ.get("CI") != "true":
            pytest.skip(str(e))
        raise


@pytest.mark.parametrize("generation", GENERATIONS)
def test_example_elaborates_under_icarus(small_core, tmp_path, generation):
    if not shutil.which("iverilog"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and Icarus Verilog (iverilog) is not on PATH")
        pytest.skip("Icarus Verilog (iverilog) is not on PATH: apt-get install iverilog")
    (tmp_path / "soc.v").write_text(_example())
    run = subprocess.run(["iverilog", generation, "-o", str(tmp_path / "soc.vvp"), "-s", "soc_accel",
                          str(tmp_path / "soc.v"), str(small_core / f"{TOP}.v")],
                         capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "warning" not in output.lower(), output
