"""The host side of the accelerator: one interface (`Accelerator`) over the golden model, the co-simulated
board (`Accelerator.cosim`, provided by `sim.boardsim`) and a board on a serial port, and the UART link
beneath the last two.

``python -m eqprop.device`` is its command line (`eqprop.device.__main__`).
"""

from eqprop.device.accelerator import (
    BACKENDS,
    Accelerator,
    BackendMissing,
    BusBackend,
    Counters,
    GoldenBackend,
    backend,
    config_from_registers,
)
from eqprop.device.link import BusError, DeviceError, Link, LinkError, open_serial

__all__ = ["BACKENDS", "Accelerator", "BackendMissing", "BusBackend", "BusError", "Counters", "DeviceError",
           "GoldenBackend", "Link", "LinkError", "backend", "config_from_registers", "open_serial"]
