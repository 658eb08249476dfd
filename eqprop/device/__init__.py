"""The host side of the accelerator: one interface (`Accelerator`) over the golden model, the co-simulated
board (`eqprop.device.cosim`) and a board on a serial port, and the UART link beneath the last two.

``python -m eqprop.device`` is its command line (`eqprop.device.__main__`).
"""

from eqprop.device.accelerator import Accelerator, BusBackend, Counters, GoldenBackend, config_from_registers
from eqprop.device.link import BusError, DeviceError, Link, LinkError, open_serial

__all__ = ["Accelerator", "BusBackend", "BusError", "Counters", "DeviceError", "GoldenBackend", "Link", "LinkError",
           "config_from_registers", "open_serial"]
