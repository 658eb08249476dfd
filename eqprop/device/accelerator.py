"""One host interface for the accelerator, whatever runs it: the golden model, the co-simulated board, a board.

`Accelerator` has the calls a host makes (`Accelerator.load`, `read_params`, `infer`, `train`, `states`,
`counters`, `set_lr_shifts`) over a backend:

- `GoldenBackend`: the integer golden model (`eqprop.hw.golden`, through `rtl.command.ref_infer` and
  `ref_train`, which also give the counters the hardware reports: CYCLES, STEPS, PHASE_STEPS, UNSETTLED);
- `BusBackend`: the register map (docs/register-map.md) over a `eqprop.device.link.Link`, for a board on
  a serial port (`Accelerator.serial`) or the co-simulated board top (`Accelerator.cosim`).

The host API sits below the simulators (docs/layers.md) and imports none of them: the co-simulated board
is a backend that the ``sim`` package registers under the entry-point group `BACKENDS`
(``cosim = "sim.boardsim:board"`` in pyproject.toml), and `backend` finds it.

The same calls give the same answers on every backend; the tests in ``tests/board/test_accelerator.py``
run one body against the golden model and the co-simulated board. A bus backend reads the core's
configuration from its registers (`config_from_registers`), after checking ID and the register map's
major version. Commands run one sample at a time (a core with B > 1 samples per command relaxes the same
input in every sample).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from eqprop.device.link import DEFAULT_BAUD, DeviceError, Link, open_serial
from eqprop.hw import golden
from eqprop.hw.formats import (
    CONTROL_MODE_SHIFT,
    ID_MAGIC,
    VERSION,
    WINDOW_SIZE,
    Control,
    Mode,
    Reg,
    Status,
    config_registers,
    shadow_base,
    unpack,
    weight_base,
)
from eqprop.hw.hwconfig import ESTIMATORS, ROUNDINGS, HwConfig
from rtl.command import ref_infer, ref_train

__all__ = ["BACKENDS", "Accelerator", "BackendMissing", "BusBackend", "Counters", "GoldenBackend", "backend",
           "config_from_registers"]

BACKENDS = "eqprop.device.backends"   # entry-point group: a name -> a factory(cfg, **options) -> Accelerator


class BackendMissing(DeviceError):
    """No installed package provides the backend asked for (the co-simulation: eqprop-hw's ``sim`` group)."""


def backend(name: str):
    """The factory that the installed entry point `name` of the group `BACKENDS` provides (``cosim``: the
    co-simulated board, `sim.boardsim.board`); `BackendMissing` when no installed package provides it."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=BACKENDS) if ep.name == name]
    if not found:
        raise BackendMissing(f"no installed package provides the {name!r} backend of the host API (entry point group "
                             f"{BACKENDS!r}); install eqprop-hw with its simulators: pip install 'eqprop-hw[sim]' "
                             "(make venv does)")
    return found[0].load()


@dataclasses.dataclass(frozen=True)
class Counters:
    """The performance registers after the last command (docs/register-map.md)."""

    cycles: int               # CYCLES: clock cycles of the last command
    steps: int                # STEPS: relaxation steps, all phases
    phase_steps: tuple[int, int, int]   # PHASE_STEPS: free, plus (nudged), minus
    unsettled: bool           # STATUS.UNSETTLED


def _codes(cfg: HwConfig, x, n: int, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{what} must be a vector of {n} codes, not an array of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{what} must be integer codes (eqprop.hw.quantise.quantise_input), not {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > cfg.state_max):
        raise ValueError(f"{what} codes must be in 0 .. {cfg.state_max}, not {a.min()} .. {a.max()}")
    return a.astype(np.int64)


def _integer_codes(what: str, a) -> None:
    """Parameters are integer codes: a float array is accepted only when every value is a finite whole number."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            i = tuple(int(k) for k in bad[0])
            raise ValueError(f"{what} must be finite integer codes, not {float(a[i])} at index {i}")
        if a.size and not np.array_equal(a, np.round(a)):
            raise ValueError(f"{what} must be integer codes (eqprop.hw.quantise.quantise gives them), not fractions")
    elif a.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integer codes, not an array of {a.dtype}")


def _target(cfg: HwConfig, target) -> np.ndarray:
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < cfg.sizes[-1]:
            raise ValueError(f"target label must be in 0 .. {cfg.sizes[-1] - 1}, not {target!r}")
        return golden.encode_targets(cfg, np.array([int(target)]))[0]
    return _codes(cfg, target, cfg.sizes[-1], "target")


class GoldenBackend:
    """The golden model with the state a core keeps: parameters, LR_SHIFT, the last command's states and
    counters."""

    name = "golden"

    def __init__(self, cfg: HwConfig, params: golden.IntParams | None = None):
        self.cfg = cfg
        self.params = params.copy() if params is not None else golden.zero_params(cfg)
        self._states = [np.zeros(n, dtype=np.int64) for n in cfg.sizes[1:]]
        self._counters = Counters(0, 0, (0, 0, 0), False)

    def load(self, params: golden.IntParams) -> None:
        self.params = params.copy()

    def read_params(self) -> golden.IntParams:
        return self.params.copy()

    def set_lr_shifts(self, shifts) -> None:
        self.cfg = self.cfg.replace(lr_shifts=tuple(int(s) for s in shifts), acc_bits=self.cfg.acc_bits)

    def _keep(self, ref: dict) -> int:
        self._states = [np.asarray(s) for s in ref["states"]]
        self._counters = Counters(ref["cycles"], ref["steps"], tuple(ref["phase_steps"]), bool(ref["unsettled"]))
        return int(ref["result"])

    def infer(self, x: np.ndarray) -> int:
        return self._keep(ref_infer(self.cfg, self.params, x[None, :]))

    def train(self, x: np.ndarray, target: np.ndarray) -> int:
        if not self.cfg.learning:
            raise DeviceError("this core is inference-only (learning=False): it cannot train")
        ref = ref_train(self.cfg, self.params, x[None, :], target[None, :])
        self.params = ref["params"]
        return self._keep(ref)

    def states(self) -> list[np.ndarray]:
        return [s.copy() for s in self._states]

    def counters(self) -> Counters:
        return self._counters

    def close(self) -> None:
        pass


def config_from_registers(read) -> HwConfig:
    """The `HwConfig` of a core, from its registers (`read(address, count) -> list of words`): ID and the major
    version are checked first; the configuration is then checked to reproduce every register read."""
    ident, version = read(Reg.ID, 2)
    if ident != ID_MAGIC:
        raise DeviceError(f"this is not the accelerator: ID reads {ident:#010x}, not {ID_MAGIC:#010x}")
    if version >> 16 != VERSION >> 16:
        raise DeviceError(f"register map version {version >> 16}.{version & 0xFFFF} on the device, this host speaks "
                          f"{VERSION >> 16}.x: use the matching eqprop-hw")
    layers, formats, steps, shifts, lanes, acc, features = read(Reg.CFG_LAYERS, 7)
    f, s, st, ft = (unpack("CFG_FORMATS", formats), unpack("CFG_SHIFTS", shifts), unpack("CFG_STEPS", steps),
                    unpack("CFG_FEATURES", features))
    sizes = tuple(read(Reg.LAYER_SIZE, layers + 1))
    fracs = [unpack("LAYER_FRAC", w)["weight_frac"] for w in read(Reg.LAYER_FRAC, layers)]
    lr = tuple(read(Reg.LR_SHIFT, layers))
    # CFG_TILE (map 3.4 on): a tiled core's folding; before 3.4 every core was a P-lane one
    has_tile = version & 0xFFFF >= 4
    tile = unpack("CFG_TILE", read(Reg.CFG_TILE, 1)[0]) if has_tile else {"tiled": 0}
    datapath = ({"pe": tile["pe"], "simd": tile["simd"], "slots": tile["slots"]} if tile["tiled"]
                else {"mac_lanes": lanes})
    cfg = HwConfig(sizes=sizes, state_bits=f["state_bits"], weight_format="ternary" if f["ternary"] else "int",
                   weight_bits=f["weight_bits"], weight_frac=tuple(fracs), shadow_bits=f["shadow_bits"],
                   bias_bits=f["bias_bits"], acc_bits=acc, free_steps=st["free_steps"], nudge_steps=st["nudge_steps"],
                   beta_shift=s["beta_shift"], eps_shift=s["eps_shift"], lr_shifts=lr,
                   estimator=ESTIMATORS[s["estimator"]], rounding=ROUNDINGS[s["rounding"]],
                   ternary_threshold=s["ternary_threshold"], early_exit=bool(ft["early_exit"]),
                   cache_drive=bool(ft["cache_drive"]), zero_skip=bool(ft["zero_skip"]), learning=bool(ft["learning"]),
                   samples=ft["samples"], **datapath)
    want = config_registers(cfg)
    for name, value in want.items():
        reg, _, index = name.partition(".")
        if reg == "LR_SHIFT" or (reg == "CFG_TILE" and not has_tile):
            continue
        got = read(Reg[reg] + 4 * int(index or 0), 1)[0]
        if got != value:
            raise DeviceError(f"the device's {name} reads {got:#x}, but its other registers describe {value:#x}")
    return cfg


class BusBackend:
    """The register map over a `Link` (the UART bridge of a board, real or co-simulated)."""

    name = "bus"

    def __init__(self, link: Link, *, command_timeout_s: float = 10.0, on_close=None):
        self.link = link
        self.command_timeout_s = command_timeout_s
        self._on_close = on_close
        self.cfg = config_from_registers(lambda a, n: link.read_words(a, n))

    def load(self, params: golden.IntParams) -> None:
        cfg, link = self.cfg, self.link
        for l in range(cfg.n_layers):
            if cfg.learning:     # a shadow write re-derives its weight
                link.write_words(shadow_base(cfg, l), np.ravel(params.shadow[l]))
            else:
                link.write_words(weight_base(cfg, l), np.ravel(params.weights[l]))
            link.write_words(Reg.BIAS + l * WINDOW_SIZE, params.biases[l])

    def read_params(self) -> golden.IntParams:
        cfg, link = self.cfg, self.link
        shadow, weights, biases = [], [], []
        for l in range(cfg.n_layers):
            shape = (cfg.sizes[l + 1], cfg.sizes[l])
            n = shape[0] * shape[1]
            if cfg.learning:
                shadow.append(np.array(link.read_words(shadow_base(cfg, l), n, signed=True)).reshape(shape))
            weights.append(np.array(link.read_words(weight_base(cfg, l), n, signed=True)).reshape(shape))
            biases.append(np.array(link.read_words(Reg.BIAS + l * WINDOW_SIZE, shape[0], signed=True)))
        return golden.IntParams(shadow, weights, biases)

    def set_lr_shifts(self, shifts) -> None:
        self.link.write_words(Reg.LR_SHIFT, [int(s) for s in shifts])
        self.cfg = self.cfg.replace(lr_shifts=tuple(int(s) for s in shifts), acc_bits=self.cfg.acc_bits)

    def _input(self, x: np.ndarray) -> None:
        if self.cfg.samples > 1:
            for b in range(self.cfg.samples):
                self.link.write(Reg.SAMPLE, b)
                self.link.write_words(Reg.INPUT, x)
        else:
            self.link.write_words(Reg.INPUT, x)

    def _command(self, mode: Mode) -> int:
        """START `mode`, then poll STATUS, ERROR and RESULT (one burst) until DONE; returns RESULT."""
        self.link.write(Reg.CONTROL, int(Control.START) | int(mode) << CONTROL_MODE_SHIFT)
        deadline = time.monotonic() + self.command_timeout_s
        while True:
            status, error, result = self.link.read_words(Reg.STATUS, 3)
            if not status & Status.BUSY:
                if not status & Status.DONE:
                    raise DeviceError(f"{mode.name} did not run: STATUS {status:#x}, ERROR {error} (was the board "
                                      "reset while it ran?)")
                return result
            if time.monotonic() > deadline:
                raise DeviceError(f"{mode.name} still BUSY after {self.command_timeout_s:g} s")

    def infer(self, x: np.ndarray) -> int:
        self._input(x)
        return self._command(Mode.INFER)

    def train(self, x: np.ndarray, target: np.ndarray) -> int:
        if not self.cfg.learning:
            raise DeviceError("this core is inference-only (learning=False): it cannot train")
        self._input(x)
        self.link.write_words(Reg.TARGET, target)
        return self._command(Mode.TRAIN)

    def states(self) -> list[np.ndarray]:
        return [np.array(self.link.read_words(Reg.STATE + k * WINDOW_SIZE, n)) for k, n in
                enumerate(self.cfg.sizes) if k > 0]

    def counters(self) -> Counters:
        _, cycles, steps = self.link.read_words(Reg.RESULT, 3)
        phase = tuple(self.link.read_words(Reg.PHASE_STEPS, 3))
        status = self.link.read(Reg.STATUS)
        return Counters(cycles, steps, phase, bool(status & Status.UNSETTLED))

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


class Accelerator:
    """The accelerator, on any backend.

    Build one with `Accelerator.golden`, `Accelerator.serial` or `Accelerator.cosim` (the co-simulated board
    top); use it as a context manager to close the port or the simulation.
    """

    def __init__(self, backend):
        self.backend = backend

    @classmethod
    def golden(cls, cfg: HwConfig, params: golden.IntParams | None = None) -> Accelerator:
        return cls(GoldenBackend(cfg, params))

    @classmethod
    def cosim(cls, cfg: HwConfig, **options) -> Accelerator:
        """The co-simulated board top of `cfg` (the UART bridge and the core under Verilator, its UART on a pty),
        from the backend the ``sim`` package registers (`backend` ``"cosim"``: `sim.boardsim.board`, whose
        `options` are ``divisor``, ``timeout_s``, ``retries``, ``params``, and ``netlist``, ``stage`` and ``mutate``
        to co-simulate the board design's synthesised or routed netlist instead of its RTL); its
        `sim.boardsim.SimBoard` is ``accelerator.backend.sim``."""
        return backend("cosim")(cfg, **options)

    @classmethod
    def serial(cls, port: str, *, baud: int = DEFAULT_BAUD, timeout_s: float = 1.0, retries: int = 2) -> Accelerator:
        """A board on serial port `port` (the bitstream of ``make bitstream``, at `baud`)."""
        ser = open_serial(port, baud)
        try:
            return cls(BusBackend(Link(ser, baud=baud, timeout_s=timeout_s, retries=retries), on_close=ser.close))
        except BaseException:
            ser.close()
            raise

    @property
    def cfg(self) -> HwConfig:
        return self.backend.cfg

    def load(self, params: golden.IntParams) -> None:
        """Write every parameter (shadows, or the weights of an inference-only core, and biases)."""
        cfg = self.cfg
        for l in range(cfg.n_layers):
            shape = (cfg.sizes[l + 1], cfg.sizes[l])
            if np.shape(params.weights[l]) != shape or np.shape(params.biases[l]) != shape[:1]:
                raise ValueError(f"layer {l}: the weights must have shape {shape} and the biases {shape[:1]}")
        for what, arrays in (("shadow weights", params.shadow), ("weights", params.weights),
                             ("biases", params.biases)):
            for l, a in enumerate(arrays):
                _integer_codes(f"layer {l}: the {what}", a)
        self.backend.load(params)

    def read_params(self) -> golden.IntParams:
        """Every parameter as the core holds it (an inference-only core has no shadows: an empty list)."""
        return self.backend.read_params()

    def infer(self, x) -> int | np.ndarray:
        """INFER one input (a vector of codes: its result) or each row of a matrix (an array of results)."""
        a = np.asarray(x)
        if a.ndim == 2:             # a batch: one INFER command per row
            if a.shape[1] != self.cfg.sizes[0]:
                raise ValueError(f"a batch of inputs must have {self.cfg.sizes[0]} codes a row, not {a.shape[1]} "
                                 f"(an array of shape {a.shape})")
            return np.array([self.infer(row) for row in a], dtype=np.int64)
        return self.backend.infer(_codes(self.cfg, a, self.cfg.sizes[0], "input"))

    def train(self, x, target) -> int:
        """One TRAIN step on input codes `x` with `target` (a label or output codes); returns the free-phase
        result."""
        return self.backend.train(_codes(self.cfg, x, self.cfg.sizes[0], "input"), _target(self.cfg, target))

    def states(self) -> list[np.ndarray]:
        """s_1 .. s_L as the last command left them."""
        return self.backend.states()

    def counters(self) -> Counters:
        return self.backend.counters()

    def set_lr_shifts(self, shifts) -> None:
        """LR_SHIFT: the learning-rate shift of each layer (``cfg.lr_shifts`` follows)."""
        self.backend.set_lr_shifts(shifts)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
