"""A LiteX peripheral: an exported core (`python -m export`) as an AXI4-Lite slave of a LiteX SoC.

`EqPropAccel` instantiates the exported Verilog module (its name, address width and file from the export's
``manifest.json``) behind a LiteX ``AXILiteInterface`` and adds the Verilog to the platform's sources;
`add_eqprop` puts it on a SoC's main bus at an aligned region, with LiteX's own adapters between the bus
standard of the SoC (Wishbone by default, AXI-Lite with ``bus_standard="axi-lite"``) and the core's slave:

.. code-block:: python

    from export.litex_soc import add_eqprop

    class MySoC(SoCCore):
        def __init__(self, platform, **kwargs):
            SoCCore.__init__(self, platform, clk_freq=int(50e6), **kwargs)
            ...
            accel = add_eqprop(self, "build/eqprop_accel", origin=0x4000_0000)
            self.comb += self.cpu.interrupt[3].eq(accel.irq)   # or poll STATUS.DONE

The core runs in the SoC's ``sys`` clock domain (another with `clock_domain`); its reset is that domain's
reset (synchronous, active high, as the core wants). The region is 2^address_bits bytes (8 MiB for every
map of up to 784-512-10) and must be aligned to its size, so the low address bits the core decodes are the
offset into the map. ``tests/export/test_litex.py`` builds a small SoC with this and simulates accesses
through LiteX's interconnect.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from litex.gen import LiteXModule
from litex.soc.integration.soc import SoCRegion
from litex.soc.interconnect import axi
from migen import ClockSignal, Instance, ResetSignal, Signal

__all__ = ["EqPropAccel", "add_eqprop"]


def _manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no manifest; the folder must be one `python -m export` wrote") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the export's manifest ({e})") from None


class EqPropAccel(LiteXModule):
    """The exported core of `folder`, as a LiteX module with an AXI4-Lite slave.

    Parameters
    ----------
    platform : litex.build.generic_platform.GenericPlatform
        The platform whose sources get the core's Verilog.
    folder : path
        An export folder (``manifest.json``, ``<top>.v``).
    address_width : int
        Address bits of `bus`, the SoC's (32 for LiteX's main bus); the core sees the low
        ``manifest["axi4_lite"]["address_bits"]`` of them.
    clock_domain : str
        The LiteX clock domain the core runs in.

    Attributes
    ----------
    bus : litex.soc.interconnect.axi.AXILiteInterface
        The core's slave (32-bit data). AWPROT and ARPROT are not connected (the core has none).
    irq : migen.Signal
        STATUS.DONE, a level (docs/integration.md).
    top, address_bits, size : str, int, int
        The module name, the address bits the core decodes and the bytes of its region.
    """

    def __init__(self, platform, folder: str | os.PathLike, *, address_width: int = 32, clock_domain: str = "sys"):
        folder = Path(folder)
        manifest = _manifest(folder)
        self.top = manifest["top"]
        self.address_bits = manifest["axi4_lite"]["address_bits"]
        self.size = 1 << self.address_bits
        if address_width < self.address_bits:
            raise ValueError(f"address_width must be at least the core's {self.address_bits} bits, "
                             f"not {address_width!r}")
        verilog = folder / f"{self.top}.v"
        if not verilog.is_file():
            raise ValueError(f"{verilog}: the export's Verilog is missing")
        self.bus = bus = axi.AXILiteInterface(data_width=32, address_width=address_width)
        self.irq = Signal()
        aw = self.address_bits
        self.specials += Instance(
            self.top,
            i_clk=ClockSignal(clock_domain), i_rst=ResetSignal(clock_domain), o_irq=self.irq,
            i_s_axil_awaddr=bus.aw.addr[:aw], i_s_axil_awvalid=bus.aw.valid, o_s_axil_awready=bus.aw.ready,
            i_s_axil_wdata=bus.w.data, i_s_axil_wstrb=bus.w.strb, i_s_axil_wvalid=bus.w.valid,
            o_s_axil_wready=bus.w.ready,
            o_s_axil_bresp=bus.b.resp, o_s_axil_bvalid=bus.b.valid, i_s_axil_bready=bus.b.ready,
            i_s_axil_araddr=bus.ar.addr[:aw], i_s_axil_arvalid=bus.ar.valid, o_s_axil_arready=bus.ar.ready,
            o_s_axil_rdata=bus.r.data, o_s_axil_rresp=bus.r.resp, o_s_axil_rvalid=bus.r.valid,
            i_s_axil_rready=bus.r.ready,
        )
        platform.add_source(str(verilog))


def add_eqprop(soc, folder: str | os.PathLike, *, origin: int, name: str = "eqprop",
               clock_domain: str = "sys") -> EqPropAccel:
    """Add the exported core of `folder` to `soc` (a LiteX ``SoC``) as bus slave `name` at `origin`, an
    uncached region of the core's size aligned to it; returns the `EqPropAccel` (its ``irq`` unconnected)."""
    accel = EqPropAccel(soc.platform, folder, address_width=soc.bus.address_width, clock_domain=clock_domain)
    if origin % accel.size:
        raise ValueError(f"origin must be a multiple of the core's region size 0x{accel.size:X}, not 0x{origin:X}")
    setattr(soc, name, accel)
    soc.bus.add_slave(name, accel.bus, SoCRegion(origin=origin, size=accel.size, cached=False))
    return accel
