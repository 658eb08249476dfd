"""Encodings defined once: number formats, memory layout, register map and opcodes of the accelerator.

The golden model (`eqprop.hw.golden`), the memory images (`eqprop.hw.memimage`) and, later, the RTL,
co-simulation and export import these definitions instead of restating them (the pattern of
Glasgow's shared command enums and Gemmini's config-generated headers). Everything is plain data
computed from a `HwConfig`; ``docs/number-formats.md`` tabulates `number_formats(HwConfig())` and a
test checks the two against each other.

Memory layout (one memory per region, word-addressed from 0, lane 0 in the least significant bits):

- A weight matrix W_l of shape (rows, cols) = (n_{l+1}, n_l) is stored row-major; a word holds P =
  ``mac_lanes`` consecutive entries of one row, W_l[r, c0 : c0 + P], and each row is padded with zeros
  to a whole number of words. Word address = r * ceil(cols / P) + c // P, lane = c % P. Bottom-up,
  the P lanes multiply one row's word by P input states and reduce into one neuron; top-down (W^T),
  the same word is multiplied by the one broadcast upper state s_{l+1}[r] and the P lanes accumulate
  P different lower neurons c0 .. c0 + P - 1. W and W^T are the same memory read in two orders.
- Shadow weights use the same layout with ``shadow_bits`` lanes; biases and states are vectors,
  P entries per word, padded with zeros.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from eqprop.hw.hwconfig import HwConfig

__all__ = ["CONTROL_MODE_SHIFT", "FIELDS", "LR_SHIFT_MAX", "Control", "ErrorCode", "Field", "Format", "ID_MAGIC",
           "MAX_LAYERS", "MemoryRegion", "Mode", "REGISTERS", "Reg", "RegisterInfo", "Status", "VERSION",
           "WEIGHT_WINDOW", "WINDOW_SIZE", "Window", "WindowInfo", "config_registers", "memory_layout",
           "lr_shift_range", "number_formats", "pack", "register_counts", "shadow_base", "unpack", "weight_base",
           "weight_window", "windows"]


# ----------------------------------------------------------------------------------------------
# number formats

@dataclass(frozen=True)
class Format:
    """A fixed-point format: value = code * 2**-frac, codes in [lo, hi].

    ``rounding`` says how a wider value is brought into this format and ``saturation`` what
    happens outside [lo, hi]; both are spelled as in the docs table.
    """

    name: str
    signed: bool
    bits: int
    frac: int
    lo: int
    hi: int
    rounding: str
    saturation: str

    @property
    def step(self) -> float:
        """The value of one LSB, 2**-frac."""
        return 2.0 ** -self.frac

    @property
    def q(self) -> str:
        """Q notation: ``UQ0.8`` (unsigned, integer.fraction bits) or ``Q1.6`` (signed, sign bit not counted)."""
        int_bits = self.bits - self.frac - (1 if self.signed else 0)
        return f"{'' if self.signed else 'U'}Q{int_bits}.{self.frac}"


def number_formats(cfg: HwConfig) -> dict[str, Format]:
    """Every number format of `cfg`, keyed ``state``, ``input``, ``target``, ``weight.l``, ``shadow.l``,
    ``bias.l``, ``acc.l`` (l = weight layer)."""
    r = cfg.rounding
    s = cfg.state_max
    out = {
        "input": Format("input", False, cfg.state_bits, cfg.state_bits, 0, s, "half_up (from float)",
                        "clip to [lo, hi]"),
        "state": Format("state", False, cfg.state_bits, cfg.state_bits, 0, s, r, "clip to [lo, hi] (hard sigmoid)"),
        "target": Format("target", False, cfg.state_bits, cfg.state_bits, 0, s, "exact (one-hot: hi)", "none"),
    }
    for l in range(cfg.n_layers):
        fw = cfg.weight_frac[l]
        if cfg.weight_format == "ternary":
            out[f"weight.{l}"] = Format(f"weight.{l}", True, 2, fw, -1, 1,
                                        f"threshold {cfg.ternary_threshold}/8 of the step", "symmetric to [lo, hi]")
        else:
            out[f"weight.{l}"] = Format(f"weight.{l}", True, cfg.weight_bits, fw, -cfg.weight_max, cfg.weight_max,
                                        r, "symmetric to [lo, hi]")
        out[f"shadow.{l}"] = Format(f"shadow.{l}", True, cfg.shadow_bits, fw + cfg.shadow_extra,
                                    -cfg.shadow_max, cfg.shadow_max, r, "symmetric to [lo, hi]")
        out[f"bias.{l}"] = Format(f"bias.{l}", True, cfg.bias_bits, cfg.acc_frac(l), -cfg.bias_max, cfg.bias_max,
                                  r, "symmetric to [lo, hi]")
        amax = (1 << (cfg.acc_bits - 1)) - 1
        out[f"acc.{l}"] = Format(f"acc.{l}", True, cfg.acc_bits, cfg.acc_frac(l), -amax, amax,
                                 "exact (integer sum)", "cannot overflow (worst-case width)")
    return out


# ----------------------------------------------------------------------------------------------
# memory layout

@dataclass(frozen=True)
class MemoryRegion:
    """One on-chip memory: ``depth`` words of ``lanes`` signed or unsigned ``lane_bits``-wide fields.

    ``rows`` x ``cols`` is the logical array (a vector has rows = 1); ``words_per_row`` =
    ceil(cols / lanes).
    """

    name: str
    layer: int
    rows: int
    cols: int
    lanes: int
    lane_bits: int
    signed: bool

    @property
    def words_per_row(self) -> int:
        return -(-self.cols // self.lanes)

    @property
    def depth(self) -> int:
        return self.rows * self.words_per_row

    @property
    def word_bits(self) -> int:
        return self.lanes * self.lane_bits

    def address(self, row: int, col: int) -> tuple[int, int]:
        """(word address, lane) of element [row, col]."""
        return row * self.words_per_row + col // self.lanes, col % self.lanes


def memory_layout(cfg: HwConfig) -> dict[str, MemoryRegion]:
    """The memories of `cfg`, keyed ``weight.l``, ``shadow.l``, ``bias.l`` and ``state.k`` (k = 0 is the input)."""
    p = cfg.mac_lanes
    regions = {}
    for l in range(cfg.n_layers):
        rows, cols = cfg.sizes[l + 1], cfg.sizes[l]
        regions[f"weight.{l}"] = MemoryRegion(f"weight.{l}", l, rows, cols, p, cfg.weight_bits, True)
        regions[f"shadow.{l}"] = MemoryRegion(f"shadow.{l}", l, rows, cols, p, cfg.shadow_bits, True)
        regions[f"bias.{l}"] = MemoryRegion(f"bias.{l}", l, 1, rows, p, cfg.bias_bits, True)
    for k, n in enumerate(cfg.sizes):
        regions[f"state.{k}"] = MemoryRegion(f"state.{k}", k, 1, n, p, cfg.state_bits, False)
    return regions


# ----------------------------------------------------------------------------------------------
# register map (AXI4-Lite slave, 32-bit registers, byte offsets)

ID_MAGIC = 0x45515048   # "EQPH"
# major << 16 | minor. The major number changes when a register, field, code or behaviour that a host
# relies on changes or goes away; the minor number when something is added and old hosts still work.
# 2.0: unaligned accesses, partial write strobes and out-of-range codes are refused; INPUT and TARGET
# read back; LAYER_FRAC registers.
# 3.0: early exit (STEPS and CYCLES depend on the steps each phase took), STATUS.UNSETTLED, PHASE_STEPS and
# CFG_FEATURES registers.
# 3.1: B samples per command (CFG_FEATURES.samples): the SAMPLE register selects the sample of the INPUT and
# STATE windows, RESULTS + 4 b holds sample b's result.
# 3.2: zero-skipping (CFG_FEATURES.zero_skip): CYCLES may depend on the states; a core without it behaves as 3.1.
# 3.3: weight and shadow windows sized by the configuration (`weight_window`): a matrix of more than 65,536
# entries (784-128-10 and up) gets a wider window; every core whose matrices fit has 3.2's layout.
# 3.4: the CFG_TILE register (the datapath's folding; the tiled core, `rtl.tiled_core`, behind the bus), CFG_LANES
# the multiply-adds a cycle; a P-lane core behaves as 3.3.
VERSION = 0x00030004
MAX_LAYERS = 8          # LAYER_SIZE, LR_SHIFT and LAYER_FRAC registers provided
WINDOW_SIZE = 0x1000    # bytes per window; one 32-bit register per element, element i at base + 4 i
WEIGHT_WINDOW = 0x40000  # bytes per weight or shadow window, the least (`weight_window` widens it for larger matrices)
LR_SHIFT_MAX = 30       # LR_SHIFT accepts 0 .. LR_SHIFT_MAX (HwConfig.lr_shifts has the same range)


class Reg(enum.IntEnum):
    """Byte offsets of the registers and windows."""

    ID = 0x000
    VERSION = 0x004
    CONTROL = 0x008
    STATUS = 0x00C
    ERROR = 0x010
    RESULT = 0x014
    CYCLES = 0x018
    STEPS = 0x01C
    CFG_LAYERS = 0x020
    CFG_FORMATS = 0x024
    CFG_STEPS = 0x028
    CFG_SHIFTS = 0x02C
    CFG_LANES = 0x030
    CFG_ACC = 0x034
    CFG_FEATURES = 0x038
    SAMPLE = 0x03C              # the sample (0 .. B-1) the INPUT and STATE windows address
    LAYER_SIZE = 0x040          # MAX_LAYERS + 1 registers, n_0 .. n_L
    LR_SHIFT = 0x080            # MAX_LAYERS registers
    LAYER_FRAC = 0x0C0          # MAX_LAYERS registers: the fraction bits of layer l's weights, shadows, biases
    PHASE_STEPS = 0x0E0         # 3 registers: the steps of the last command's free, plus (nudged), minus phase
    CFG_TILE = 0x0F0            # the datapath's folding: PE x SIMD weights a cycle, and the samples in flight
    RESULTS = 0x100             # B registers: the result of sample b at RESULTS + 4 b (RESULTS + 0 = RESULT)
    INPUT = 0x1000              # window: input codes s_0
    TARGET = 0x2000             # window: target codes
    STATE = 0x10000             # windows: state.k at STATE + k * WINDOW_SIZE (read-only; k = 0 is the input)
    BIAS = 0x20000              # windows: bias.l at BIAS + l * WINDOW_SIZE
    WEIGHT = 0x100000           # windows: weight.l at WEIGHT + l * weight_window(cfg), element [r, c] at 4 (r cols + c)
    SHADOW = 0x400000           # windows: shadow.l at shadow_base(cfg, l) (SHADOW + l * weight_window(cfg) unless
                                # the weight windows reach past SHADOW), same indexing


class Mode(enum.IntEnum):
    """Opcodes written to CONTROL.mode."""

    INFER = 0        # free phase from zero states; RESULT = argmax of the output states
    TRAIN = 1        # free phase, nudged phase(s), contrastive update of shadows, biases and weights
    RELAX = 2        # free phase only, from the current states (for debugging)


class Control(enum.IntFlag):
    START = 1 << 0   # write 1 to start; self-clearing
    RESET = 1 << 1   # write 1 to clear states, STATUS and counters; self-clearing


CONTROL_MODE_SHIFT = 4   # CONTROL[5:4] = Mode


class Status(enum.IntFlag):
    BUSY = 1 << 0
    DONE = 1 << 1    # sticky until the next START
    ERROR = 1 << 2   # ERROR holds the code
    UNSETTLED = 1 << 3   # a phase of the last command reached its step limit still changing states


class ErrorCode(enum.IntEnum):
    NONE = 0
    BAD_MODE = 1             # START with a CONTROL.mode that is not a Mode
    START_WHILE_BUSY = 2     # START or RESET while a command runs
    BAD_ADDRESS = 3          # unmapped or unaligned address, or a write to a read-only register or window
    BAD_VALUE = 4            # a written value outside the register's or element's range; nothing is written
    BAD_STROBE = 5           # a write whose WSTRB is not 0b1111 (registers are written whole)


class Window(enum.IntEnum):
    """The memories behind the register windows (the RTL's host-access select, `rtl.core.Core.host.sel`)."""

    INPUT = 0
    TARGET = 1
    STATE = 2    # state.k, k = 0 .. L (0 is the input), as the last command left it; read-only
    BIAS = 3
    WEIGHT = 4
    SHADOW = 5   # a write also writes the weight derived from it


@dataclass(frozen=True)
class Field:
    """Bits ``[lsb + width - 1 : lsb]`` of a register."""

    name: str
    lsb: int
    width: int

    @property
    def spelled(self) -> str:
        """As the register descriptions write it: ``name[msb:lsb]``, or ``name[bit]`` for one bit."""
        msb = self.lsb + self.width - 1
        return f"{self.name}[{msb}:{self.lsb}]" if self.width > 1 else f"{self.name}[{self.lsb}]"


# The fields of the packed configuration registers, defined once: `config_registers` packs them, the
# register descriptions spell them, docs/register-map.md lists them (checked by a test).
FIELDS: dict[str, tuple[Field, ...]] = {
    "CFG_FORMATS": (Field("state_bits", 0, 5), Field("weight_bits", 5, 5), Field("ternary", 10, 1),
                    Field("shadow_bits", 11, 6), Field("bias_bits", 17, 6)),
    "CFG_STEPS": (Field("free_steps", 0, 16), Field("nudge_steps", 16, 16)),
    "CFG_SHIFTS": (Field("beta_shift", 0, 5), Field("eps_shift", 5, 5), Field("rounding", 10, 2),
                   Field("estimator", 12, 1), Field("ternary_threshold", 13, 4)),
    "LAYER_FRAC": (Field("weight_frac", 0, 8), Field("shadow_frac", 8, 8), Field("bias_frac", 16, 8)),
    "CFG_FEATURES": (Field("early_exit", 0, 1), Field("cache_drive", 1, 1), Field("learning", 2, 1),
                     Field("zero_skip", 3, 1), Field("samples", 8, 5)),
    "CFG_TILE": (Field("pe", 0, 12), Field("simd", 12, 12), Field("slots", 24, 5), Field("tiled", 29, 1)),
}


def _spell(reg: str) -> str:
    return " | ".join(f.spelled for f in FIELDS[reg])


def pack(reg: str, **values: int) -> int:
    """The 32-bit value of register `reg` with its `FIELDS` set to `values` (every field, each in range)."""
    fields = FIELDS[reg]
    if set(values) != {f.name for f in fields}:
        raise ValueError(f"fields of {reg} must be {[f.name for f in fields]}, not {sorted(values)!r}")
    word = 0
    for f in fields:
        v = int(values[f.name])
        if not 0 <= v < 1 << f.width:
            raise ValueError(f"{reg}.{f.name} must be in 0 .. {(1 << f.width) - 1}, not {v!r}")
        word |= v << f.lsb
    return word


def unpack(reg: str, word: int) -> dict[str, int]:
    """The fields of register `reg` in the 32-bit `word` (the inverse of `pack`)."""
    return {f.name: word >> f.lsb & ((1 << f.width) - 1) for f in FIELDS[reg]}


@dataclass(frozen=True)
class RegisterInfo:
    name: str
    offset: int
    access: str        # "ro", "rw", "wo"
    description: str


REGISTERS: tuple[RegisterInfo, ...] = (
    RegisterInfo("ID", Reg.ID, "ro", f"0x{ID_MAGIC:08X} ('EQPH')"),
    RegisterInfo("VERSION", Reg.VERSION, "ro",
                 f"0x{VERSION:08X}: register-map version, major << 16 | minor"),
    RegisterInfo("CONTROL", Reg.CONTROL, "rw",
                 "bit 0 START, bit 1 RESET (self-clearing, read 0); bits 5:4 mode (Mode; reads the last started)"),
    RegisterInfo("STATUS", Reg.STATUS, "ro", "bit 0 BUSY, bit 1 DONE, bit 2 ERROR, bit 3 UNSETTLED (a phase of the "
                 "last command ran to its step limit without a fixed point)"),
    RegisterInfo("ERROR", Reg.ERROR, "ro", "ErrorCode of the last refused access"),
    RegisterInfo("RESULT", Reg.RESULT, "ro", "argmax of the output states after the last free phase (of sample 0)"),
    RegisterInfo("CYCLES", Reg.CYCLES, "ro", "clock cycles of the last run"),
    RegisterInfo("STEPS", Reg.STEPS, "ro", "relaxation steps taken in the last run, all phases (with early exit, "
                 "each phase ends after its first step that changes no state)"),
    RegisterInfo("CFG_LAYERS", Reg.CFG_LAYERS, "ro", "number of weight layers L"),
    RegisterInfo("CFG_FORMATS", Reg.CFG_FORMATS, "ro", _spell("CFG_FORMATS")),
    RegisterInfo("CFG_STEPS", Reg.CFG_STEPS, "ro", _spell("CFG_STEPS")),
    RegisterInfo("CFG_SHIFTS", Reg.CFG_SHIFTS, "ro", _spell("CFG_SHIFTS")),
    RegisterInfo("CFG_LANES", Reg.CFG_LANES, "ro", "multiply-adds a cycle: the MAC lanes P, or a tiled core's PE x "
                 "SIMD"),
    RegisterInfo("CFG_ACC", Reg.CFG_ACC, "ro", "accumulator width in bits"),
    RegisterInfo("CFG_FEATURES", Reg.CFG_FEATURES, "ro", _spell("CFG_FEATURES")),
    RegisterInfo("SAMPLE", Reg.SAMPLE, "rw", "the sample b, 0 .. B-1, whose input and states the INPUT and STATE "
                 "windows address (reset: 0)"),
    RegisterInfo("LAYER_SIZE", Reg.LAYER_SIZE, "ro", "n_k at LAYER_SIZE + 4 k, k = 0 .. L"),
    RegisterInfo("LR_SHIFT", Reg.LR_SHIFT, "rw",
                 f"lr_shifts[l] at LR_SHIFT + 4 l, 0 .. {LR_SHIFT_MAX} (reset: HwConfig.lr_shifts)"),
    RegisterInfo("LAYER_FRAC", Reg.LAYER_FRAC, "ro", "layer l at LAYER_FRAC + 4 l: " + _spell("LAYER_FRAC")),
    RegisterInfo("PHASE_STEPS", Reg.PHASE_STEPS, "ro", "steps the last run's phase p took at PHASE_STEPS + 4 p: "
                 "p = 0 free, 1 plus (the one-sided nudged), 2 minus; 0 for a phase it did not run"),
    RegisterInfo("CFG_TILE", Reg.CFG_TILE, "ro", _spell("CFG_TILE")),
    RegisterInfo("RESULTS", Reg.RESULTS, "ro", "the result of sample b at RESULTS + 4 b, b = 0 .. B-1 (RESULTS + 0 "
                 "reads as RESULT)"),
    RegisterInfo("INPUT", Reg.INPUT, "rw", "window: input code i at INPUT + 4 i (also state.0)"),
    RegisterInfo("TARGET", Reg.TARGET, "rw", "window: target code i at TARGET + 4 i"),
    RegisterInfo("STATE", Reg.STATE, "ro", "windows: state.k code i at STATE + k WINDOW_SIZE + 4 i (k = 0: input)"),
    RegisterInfo("BIAS", Reg.BIAS, "rw", "windows: bias.l code i at BIAS + l WINDOW_SIZE + 4 i"),
    RegisterInfo("WEIGHT", Reg.WEIGHT, "rw", "windows: weight.l [r, c] at WEIGHT + l S + 4 (r n_l + c), S the weight "
                 "window size (0x40000 unless a matrix needs more)"),
    RegisterInfo("SHADOW", Reg.SHADOW, "rw",
                 "windows: shadow.l [r, c] at SHADOW + l S + 4 (r n_l + c) (from WEIGHT + L S instead when that is "
                 "higher); writing re-derives the weight"),
)


@dataclass(frozen=True)
class WindowInfo:
    """One register window: `count` elements of memory `kind` (layer `layer`) from byte `base`, 4 bytes
    each; a write must hold a code in ``lo .. hi`` (the 32-bit word read as signed), else BAD_VALUE."""

    kind: Window
    layer: int
    base: int
    count: int
    writable: bool
    lo: int
    hi: int

    @property
    def name(self) -> str:
        return self.kind.name.lower() + (f".{self.layer}" if self.kind in _LAYERED else "")


_LAYERED = (Window.STATE, Window.BIAS, Window.WEIGHT, Window.SHADOW)


def weight_window(cfg: HwConfig) -> int:
    """S, the bytes from one weight (or shadow) window to the next: `WEIGHT_WINDOW` (65,536 entries), or, when
    the largest matrix of `cfg` has more entries, the least power of two that holds it (784-128-10: 0x80000).
    A function of the sizes alone, which the host reads from LAYER_SIZE."""
    largest = max(cfg.sizes[l] * cfg.sizes[l + 1] for l in range(cfg.n_layers))
    return max(WEIGHT_WINDOW, 1 << (4 * largest - 1).bit_length())


def weight_base(cfg: HwConfig, l: int) -> int:
    """Byte address of the weight window of layer `l`: WEIGHT + l S."""
    return Reg.WEIGHT + l * weight_window(cfg)


def shadow_base(cfg: HwConfig, l: int) -> int:
    """Byte address of the shadow window of layer `l`: SHADOW + l S, from WEIGHT + L S when the weight windows
    reach past SHADOW (only with wide windows: L S > 0x300000)."""
    s = weight_window(cfg)
    return max(Reg.SHADOW, Reg.WEIGHT + cfg.n_layers * s) + l * s


def windows(cfg: HwConfig) -> list[WindowInfo]:
    """Every window of the register map of `cfg`, with the codes a write may hold (`number_formats`); an
    inference-only core (``learning=False``) has no TARGET and no SHADOW windows."""
    n, L, fmt = cfg.sizes, cfg.n_layers, number_formats(cfg)

    def win(kind, layer, base, count, writable, f):
        return WindowInfo(kind, layer, base, count, writable, fmt[f].lo, fmt[f].hi)

    out = [win(Window.INPUT, 0, Reg.INPUT, n[0], True, "input")]
    if cfg.learning:
        out.append(win(Window.TARGET, 0, Reg.TARGET, n[-1], True, "target"))
    out += [win(Window.STATE, k, Reg.STATE + k * WINDOW_SIZE, n[k], False, "state") for k in range(L + 1)]
    out += [win(Window.BIAS, l, Reg.BIAS + l * WINDOW_SIZE, n[l + 1], True, f"bias.{l}") for l in range(L)]
    out += [win(Window.WEIGHT, l, weight_base(cfg, l), n[l + 1] * n[l], True, f"weight.{l}") for l in range(L)]
    out += [win(Window.SHADOW, l, shadow_base(cfg, l), n[l + 1] * n[l], True, f"shadow.{l}")
            for l in range(L) if cfg.learning]
    return out


def register_counts(cfg: HwConfig) -> dict[str, int]:
    """How many registers each register array of `cfg` has, from its offset in steps of 4 (the other registers
    below the windows are one each): L + 1 LAYER_SIZE, L LR_SHIFT, L LAYER_FRAC, 3 PHASE_STEPS (free, plus,
    minus) and B RESULTS. The offsets past an array's end answer SLVERR."""
    L = cfg.n_layers
    return {"LAYER_SIZE": L + 1, "LR_SHIFT": L, "LAYER_FRAC": L, "PHASE_STEPS": 3, "RESULTS": cfg.samples}


def lr_shift_range(cfg: HwConfig, l: int) -> tuple[int, int]:
    """The values LR_SHIFT register `l` accepts: those 0 .. LR_SHIFT_MAX that `HwConfig` accepts as
    ``lr_shifts[l]`` (a small shift can make the update's left shift too wide), so the golden model
    can always follow the chip."""
    ok = []
    for v in range(LR_SHIFT_MAX + 1):
        try:
            cfg.replace(lr_shifts=cfg.lr_shifts[:l] + (v,) + cfg.lr_shifts[l + 1:], acc_bits=cfg.acc_bits)
        except ValueError:
            continue
        ok.append(v)
    assert ok == list(range(ok[0], LR_SHIFT_MAX + 1)), ok    # the rule is a lower bound
    return ok[0], LR_SHIFT_MAX


def config_registers(cfg: HwConfig) -> dict[str, int]:
    """The reset values of the configuration registers for `cfg` (name -> 32-bit value); all are
    read-only except LR_SHIFT, which the host may rewrite to anneal the learning rate."""
    from eqprop.hw.hwconfig import ESTIMATORS, ROUNDINGS

    if cfg.n_layers > MAX_LAYERS:
        raise ValueError(f"the number of weight layers must be at most {MAX_LAYERS}, not {cfg.n_layers!r}")
    if max(cfg.sizes) > WINDOW_SIZE // 4:
        raise ValueError(f"every layer size must be at most {WINDOW_SIZE // 4} (one register window), "
                         f"not {max(cfg.sizes)!r}")
    if cfg.bias_bits > 32:
        raise ValueError(f"bias_bits must be at most 32 (a bias is one 32-bit bus word), not {cfg.bias_bits!r}")
    regs = {
        "ID": ID_MAGIC, "VERSION": VERSION, "CFG_LAYERS": cfg.n_layers,
        "CFG_FORMATS": pack("CFG_FORMATS", state_bits=cfg.state_bits, weight_bits=cfg.weight_bits,
                            ternary=cfg.weight_format == "ternary", shadow_bits=cfg.shadow_bits,
                            bias_bits=cfg.bias_bits),
        "CFG_STEPS": pack("CFG_STEPS", free_steps=cfg.free_steps, nudge_steps=cfg.nudge_steps),
        "CFG_SHIFTS": pack("CFG_SHIFTS", beta_shift=cfg.beta_shift, eps_shift=cfg.eps_shift,
                           rounding=ROUNDINGS.index(cfg.rounding), estimator=ESTIMATORS.index(cfg.estimator),
                           ternary_threshold=cfg.ternary_threshold),
        "CFG_LANES": cfg.folding[0] * cfg.folding[1], "CFG_ACC": cfg.acc_bits,
        "CFG_FEATURES": pack("CFG_FEATURES", early_exit=cfg.early_exit, cache_drive=cfg.cache_drive,
                             learning=cfg.learning, zero_skip=cfg.zero_skip, samples=cfg.samples),
    }
    # a P-lane core is folding 1 x P with its B samples side by side (all in flight)
    regs["CFG_TILE"] = pack("CFG_TILE", pe=cfg.folding[0], simd=cfg.folding[1],
                            slots=(cfg.slots or cfg.samples) if cfg.tiled else cfg.samples, tiled=cfg.tiled)
    for k, n in enumerate(cfg.sizes):
        regs[f"LAYER_SIZE.{k}"] = n
    for l, s in enumerate(cfg.lr_shifts):
        regs[f"LR_SHIFT.{l}"] = s
    for l in range(cfg.n_layers):
        regs[f"LAYER_FRAC.{l}"] = pack("LAYER_FRAC", weight_frac=cfg.weight_frac[l],
                                       shadow_frac=cfg.weight_frac[l] + cfg.shadow_extra, bias_frac=cfg.acc_frac(l))
    return regs
