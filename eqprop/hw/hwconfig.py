"""The hardware configuration: one frozen object that decides every width and constant of the accelerator.

`HwConfig` is read by the integer golden model (`eqprop.hw.golden`), the quantiser (`eqprop.hw.quantise`),
the number-format and memory-layout definitions (`eqprop.hw.formats`) and, later, the RTL, the
co-simulation and the export. Every derived quantity (accumulator width, alignment and update
shifts) is a method here, so no consumer recomputes it differently. The formats themselves are
tabulated in ``docs/number-formats.md``; a test checks that table against this class.

Layer indexing follows `EqPropNet`: ``sizes = (n_0, n_1, ..., n_L)``, weight layer ``l`` (0-based,
``l = 0 .. L-1``) maps state ``s_l`` (``s_0 = x``) to ``s_{l+1}``, has shape ``(n_{l+1}, n_l)``
and its own power-of-two scale ``2**-weight_frac[l]``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from eqprop.cli_support import check_int, read_json_object

__all__ = ["ESTIMATORS", "MAX_SAMPLES", "HwConfig", "ROUNDINGS", "TILED_FIELDS", "WEIGHT_FORMATS", "check_buildable",
           "config_fields", "config_from_fields", "load_config"]

WEIGHT_FORMATS = ("int", "ternary")
ROUNDINGS = ("floor", "half_up", "half_away")
ESTIMATORS = ("symmetric", "one-sided")

MAX_SAMPLES = 16    # B: the RESULT registers the register map provides (RESULTS + 4 b)
# The tiled datapath's fields: None in a P-lane configuration, and then left out of `config_fields` (manifests,
# digests, sweep records), so that every P-lane configuration serialises as it did before they existed.
TILED_FIELDS = ("pe", "simd", "slots")
_MAX_ACC_BITS = 52  # every accumulator value is exact in float64 and int64 (see golden.matmul_exact)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class HwConfig:
    """Every width and constant of the accelerator. Invalid values raise at construction.

    Parameters
    ----------
    sizes : tuple of int
        ``(n_in, hidden..., n_out)``; the default is a digits network, 64 -> 64 -> 10.
    state_bits : int
        Width ``b`` of states and inputs: unsigned UQ0.b, value = code / 2**b, codes 0 .. 2**b - 1.
        The hard sigmoid saturates to this range, so 1.0 is represented by 1 - 2**-b.
    weight_format : {"int", "ternary"}
        "int": signed codes in the symmetric range +-(2**(weight_bits-1) - 1). "ternary": codes
        {-1, 0, +1} (``weight_bits`` must be 2); the MAC lanes add or subtract, no multiplier.
    weight_frac : tuple of int, optional
        Per weight layer, value = code * 2**-weight_frac[l]. Default: ``weight_bits - 1`` for "int"
        (range about +-1), 3 for "ternary" (alpha = 1/8). The quantiser picks them per layer.
    shadow_bits : int
        Width of the shadow weights that on-chip learning accumulates into: signed, symmetric
        saturation, ``weight_frac[l] + shadow_bits - weight_bits`` fraction bits.
    bias_bits : int
        Width of the biases: signed, symmetric saturation, at the accumulator fraction of their layer.
    acc_bits : int, optional
        Accumulator width. Default (None): the worst case over all layers, `acc_bits_required`, so
        no sum can overflow. A given value must be at least that; there is no saturation mode.
    free_steps, nudge_steps : int
        T relaxation steps of the free phase and K of each nudged phase.
    beta_shift : int
        Nudge strength beta = 2**-beta_shift (0.5 by default, the value the float model needs).
    eps_shift : int
        Relaxation step size eps = 2**-eps_shift; 0 means plain iteration s <- rho(drive).
    lr_shifts : tuple of int, optional
        Per weight layer, learning rate 2**-lr_shifts[l] per sample; default ``(5, 6, 7, ...)``, halving per
        layer up as in the float model. A runtime register (LR_SHIFT) on the chip, so the host can anneal it.
    estimator : {"symmetric", "one-sided"}
        Symmetric: nudged phases at +beta and -beta from the free state (Laborieux et al. 2021).
        One-sided: one nudged phase at +beta against the free state.
    rounding : {"floor", "half_up", "half_away"}
        Rounding of every right shift (mixing, drive to state, nudge, updates, weight re-derivation).
    ternary_threshold : int
        Ternary re-derivation threshold in eighths of alpha: w = sign(shadow) where
        |shadow| >= ternary_threshold/8 * alpha, else 0. 4 (alpha/2) is rounding to nearest.
    mac_lanes : int
        P, the number of parallel MAC lanes of the P-lane datapath (``pe`` and ``simd`` None); one
        weight-memory word holds P weights of one row of a weight matrix. Its folding is 1 x P (`folding`).
    early_exit : bool
        Each relaxation phase stops at the first step whose new states equal the old ones (a fixed
        point: every later step would compute the same states), or after T (K) steps. Results are
        identical either way; only the steps taken and the cycles change.
    cache_drive : bool
        The input layer's drive W_0 x + b_0, constant while the input is clamped, is computed once per
        command and held in a drive memory, instead of at every step. Results are identical.
    zero_skip : bool
        The top-down sums skip the upper states that are zero in every sample of the command: a step
        issues one TOP_DOWN cycle per nonzero upper state instead of one per upper state, so its cycles
        depend on the states (`rtl.schedule.zero_skips`; the cycle model stays exact). Results are
        identical (a zero state adds nothing to an integer sum).
    learning : bool
        False builds an inference-only core, for weights trained elsewhere: no shadow or target memories,
        no update lanes, no nudge; TRAIN is refused and the weights are written directly.
    samples : int
        B, the samples one command relaxes side by side (1 .. `MAX_SAMPLES`): B banks of states share each
        weight read, so B inferences cost about the cycles of one. Each sample's states and result are
        exactly those of a command of its own; the phase runs until every sample has stopped (STEPS and
        CYCLES are the group's). B > 1 needs ``learning=False`` in a P-lane core (on-chip training takes one
        sample at a time). In a tiled configuration these are the samples of one command, of which ``slots``
        are in flight; a learning tiled core's INFER takes them all, its TRAIN one (the first).
    pe, simd : int, optional
        The tiled datapath's folding: one PE x SIMD tile of a weight matrix read per cycle, PE rows (output
        neurons, one adder tree each) by SIMD columns (the products each tree reduces) bottom-up, the same
        tile read transposed top-down (SIMD sums of PE products); ``docs/tiled-datapath.md``. Both set (each
        1 .. the widest layer) or both None, the default: the P-lane datapath of ``mac_lanes``. A tiled
        configuration has no zero-skipping. `rtl.tiled_core.TiledCore` reads them, and the export and the bus
        (`rtl.axil`) build it for a tiled configuration; the P-lane core (`rtl.core.Core`) refuses one.
    slots : int, optional
        Tiled datapath only: the samples in flight, interleaved on the one tile (1 .. ``samples``); None, the
        default, is all ``samples``. None in a P-lane configuration.
    """

    sizes: tuple[int, ...] = (64, 64, 10)
    state_bits: int = 8               # UQ0.8 states and inputs
    weight_format: str = "int"        # "int" or "ternary"
    weight_bits: int = 8              # symmetric INT8: codes -127 .. 127
    weight_frac: tuple[int, ...] | None = None   # per layer; None: weight_bits - 1 (int), 3 (ternary)
    shadow_bits: int = 16             # on-chip learning accumulates here
    bias_bits: int = 20               # at the layer's accumulator fraction
    acc_bits: int | None = None       # None: derived from the worst case
    free_steps: int = 30              # T
    nudge_steps: int = 10             # K
    beta_shift: int = 1               # beta = 1/2
    eps_shift: int = 1                # eps = 1/2
    lr_shifts: tuple[int, ...] | None = None      # per layer; None: (5, 6, ...)
    estimator: str = "symmetric"
    rounding: str = "half_away"       # symmetric in sign: no drift of signed updates
    ternary_threshold: int = 4        # eighths of alpha
    mac_lanes: int = 8                # P
    early_exit: bool = True           # stop each phase at its fixed point
    cache_drive: bool = True          # W_0 x + b_0 once per command
    zero_skip: bool = False           # top-down sums skip zero upper states (cycles depend on the states)
    learning: bool = True             # False: an inference-only core
    samples: int = 1                  # B samples per command, sharing each weight read
    pe: int | None = None             # tiled datapath: tile rows per cycle; None (with simd): P lanes
    simd: int | None = None           # tiled datapath: tile columns per cycle
    slots: int | None = None          # tiled datapath: samples in flight; None: all samples

    def __post_init__(self) -> None:
        def fail(name: str, rule: str, value) -> None:
            raise ValueError(f"{name} must be {rule}, not {value!r}")

        sizes = self.sizes
        if isinstance(sizes, list):
            object.__setattr__(self, "sizes", sizes := tuple(sizes))
        if not isinstance(sizes, tuple) or len(sizes) < 2 or not all(_is_int(n) and n >= 1 for n in sizes):
            fail("sizes", "a tuple of at least two positive integers (n_in, ..., n_out)", sizes)
        for name in ("state_bits", "weight_bits", "shadow_bits", "bias_bits", "free_steps", "nudge_steps",
                     "beta_shift", "eps_shift", "ternary_threshold", "mac_lanes", "samples"):
            if not _is_int(getattr(self, name)):
                raise TypeError(f"{name} must be an int, not {getattr(self, name)!r}")
        for name in ("early_exit", "cache_drive", "zero_skip", "learning"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool (true or false), not {getattr(self, name)!r}")
        if not 2 <= self.state_bits <= 16:
            fail("state_bits", "in 2 .. 16", self.state_bits)
        if self.weight_format not in WEIGHT_FORMATS:
            fail("weight_format", f"one of {', '.join(WEIGHT_FORMATS)}", self.weight_format)
        if self.weight_format == "ternary" and self.weight_bits != 2:
            fail("weight_bits", "2 for ternary weights", self.weight_bits)
        if not 2 <= self.weight_bits <= 16:
            fail("weight_bits", "in 2 .. 16", self.weight_bits)
        if not self.weight_bits + 3 <= self.shadow_bits <= 32:
            fail("shadow_bits", f"in weight_bits + 3 .. 32 (= {self.weight_bits + 3} .. 32)", self.shadow_bits)
        if not 2 <= self.bias_bits <= 40:
            fail("bias_bits", "in 2 .. 40", self.bias_bits)
        for name in ("free_steps", "nudge_steps", "mac_lanes"):
            check_int(name, getattr(self, name), lo=1)
        if not 1 <= self.samples <= MAX_SAMPLES:
            fail("samples", f"in 1 .. {MAX_SAMPLES}", self.samples)
        if self.samples > 1 and self.learning and self.pe is None:
            fail("samples", "1 in a learning P-lane core (on-chip training takes one sample per command; set "
                 "learning=False for B samples per command, or pe and simd for a tiled core, whose INFER takes B)",
                 self.samples)
        if not 0 <= self.beta_shift <= 16:
            fail("beta_shift", "in 0 .. 16", self.beta_shift)
        if not 0 <= self.eps_shift <= self.state_bits:
            fail("eps_shift", f"in 0 .. state_bits (= 0 .. {self.state_bits})", self.eps_shift)
        if not 1 <= self.ternary_threshold <= 8:
            fail("ternary_threshold", "in 1 .. 8 (eighths of alpha)", self.ternary_threshold)
        if self.estimator not in ESTIMATORS:
            fail("estimator", f"one of {', '.join(ESTIMATORS)}", self.estimator)
        if self.rounding not in ROUNDINGS:
            fail("rounding", f"one of {', '.join(ROUNDINGS)}", self.rounding)
        n = self.n_layers
        default_frac = self.weight_bits - 1 if self.weight_format == "int" else 3
        self._per_layer("weight_frac", (default_frac,) * n, 0, 24, fail)
        self._per_layer("lr_shifts", tuple(5 + l for l in range(n)), 0, 30, fail)
        for l in range(n):
            if self.weight_update_shift(l) < -16:
                fail(f"weight_update_shift({l})", "at least -16 (raise lr_shifts or lower beta_shift, weight_frac "
                     "or shadow_bits)", self.weight_update_shift(l))
        required = self.acc_bits_required
        if max(required) > _MAX_ACC_BITS:
            fail("the worst-case accumulator width", f"at most {_MAX_ACC_BITS} bits (narrow the formats)",
                 max(required))
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", max(required))
        elif not _is_int(self.acc_bits):
            raise TypeError(f"acc_bits must be an int or None, not {self.acc_bits!r}")
        elif not max(required) <= self.acc_bits <= _MAX_ACC_BITS:
            fail("acc_bits", f"in {max(required)} (the worst case) .. {_MAX_ACC_BITS}", self.acc_bits)
        self._check_folding(fail)

    def _check_folding(self, fail) -> None:
        """The rules of ``pe``, ``simd`` and ``slots`` (the tiled datapath)."""
        for name in TILED_FIELDS:
            value = getattr(self, name)
            if value is not None and not _is_int(value):
                raise TypeError(f"{name} must be an int or None, not {value!r}")
        pe, simd = self.pe, self.simd
        if (pe is None) != (simd is None):
            other, missing = ("pe", "simd") if simd is None else ("simd", "pe")
            fail(missing, f"an int when {other} is (both set: the tiled datapath; both None: the P-lane datapath "
                 "of mac_lanes)", None)
        if pe is not None:
            for name in ("pe", "simd"):
                if getattr(self, name) < 1:
                    fail(name, "at least 1", getattr(self, name))
            if max(pe, simd) > max(self.sizes):
                fail("max(pe, simd)", f"at most the widest layer (max of sizes = {max(self.sizes)})", max(pe, simd))
            if self.zero_skip:
                fail("zero_skip", "False in a tiled configuration (pe and simd set: the tiled datapath has no "
                     "zero-skipping)", self.zero_skip)
        if self.slots is not None:
            if pe is None:
                fail("slots", "None in a P-lane configuration (slots are the tiled datapath's samples in flight; "
                     "set pe and simd for it)", self.slots)
            if not 1 <= self.slots <= self.samples:
                fail("slots", f"in 1 .. samples (= 1 .. {self.samples})", self.slots)

    def _per_layer(self, name: str, default: tuple[int, ...], lo: int, hi: int, fail) -> None:
        value = getattr(self, name)
        if value is None:
            object.__setattr__(self, name, default)
            return
        if isinstance(value, list):
            object.__setattr__(self, name, value := tuple(value))
        if not isinstance(value, tuple) or len(value) != self.n_layers or not all(_is_int(v) for v in value):
            fail(name, f"a tuple of {self.n_layers} integers (one per weight layer)", value)
        if not all(lo <= v <= hi for v in value):
            fail(name, f"integers in {lo} .. {hi}", value)

    def replace(self, **changes) -> HwConfig:
        """A copy with `changes`; ``acc_bits`` is derived again unless given (weight_frac and lr_shifts
        are kept unless given, so pass them when changing widths they were derived from)."""
        return dataclasses.replace(self, **{"acc_bits": None, **changes})

    def learning_twin(self) -> HwConfig:
        """The learning core with this datapath (one sample per command), e.g. to train the weights an
        inference-only core runs; the accumulator width is kept."""
        return self.replace(learning=True, samples=1, slots=None, acc_bits=self.acc_bits)

    # ------------------------------------------------------------------------------------------
    # the datapath

    @property
    def tiled(self) -> bool:
        """True for the tiled datapath (``pe`` and ``simd`` set), False for the P-lane datapath."""
        return self.pe is not None

    @property
    def folding(self) -> tuple[int, int]:
        """The weights read per cycle, as (rows, columns) of the weight tile: (``pe``, ``simd``) or (1, P).

        Rows are the sums a bottom-up cycle advances (one adder tree each), columns the products each of
        them reduces; a top-down cycle reads the same tile transposed (columns sums of rows products).

        - Tiled datapath: one PE x SIMD tile a cycle (`rtl.tile.TileMac`): bottom-up, PE adder trees each
          reduce SIMD products; top-down, the same tile read transposed, SIMD sums of PE products
          (``docs/tiled-datapath.md``; every second weight layer is stored transposed, so that each layer's
          sums are one of the two readings).
        - P-lane datapath (`rtl.mac.MacLanes`): one memory word, P weights of one row of W_l,
          ``W_l[r, c0 : c0 + P]``: 1 x P. Bottom-up (``W_l s_l``) the word times P lower states is summed
          by one adder tree into one accumulator (one neuron); top-down (``W_{l+1}^T s_{l+2}``) the same
          word of W_{l+1}, a column of P weights of W_{l+1}^T, times one broadcast upper state goes into
          P accumulators (P neurons), one product each: the 1 x P tile read transposed.

        ``rows * columns`` multiply-adds a cycle either way.
        """
        return (self.pe, self.simd) if self.tiled else (1, self.mac_lanes)

    # ------------------------------------------------------------------------------------------
    # sizes and ranges

    @property
    def n_layers(self) -> int:
        """Number of weight layers L (= number of state layers above the input)."""
        return len(self.sizes) - 1

    @property
    def state_max(self) -> int:
        """Largest state code, 2**state_bits - 1 (the hard sigmoid's 1.0)."""
        return (1 << self.state_bits) - 1

    @property
    def weight_max(self) -> int:
        """Largest |forward weight code|: 1 for ternary, else 2**(weight_bits-1) - 1 (symmetric)."""
        return 1 if self.weight_format == "ternary" else (1 << (self.weight_bits - 1)) - 1

    @property
    def shadow_extra(self) -> int:
        """Fraction bits the shadow weights hold below the forward weights: shadow_bits - weight_bits."""
        return self.shadow_bits - self.weight_bits

    @property
    def shadow_max(self) -> int:
        return (1 << (self.shadow_bits - 1)) - 1

    @property
    def bias_max(self) -> int:
        return (1 << (self.bias_bits - 1)) - 1

    @property
    def ternary_threshold_code(self) -> int:
        """The ternary threshold in shadow LSBs: ternary_threshold * 2**(shadow_extra - 3)."""
        return self.ternary_threshold << (self.shadow_extra - 3)

    # ------------------------------------------------------------------------------------------
    # derived shifts (all exact integers; a negative right shift is a left shift)

    def acc_align(self, l: int) -> int:
        """A_l: weight fraction bits of layer l's accumulator, max(weight_frac[l], weight_frac[l+1])."""
        fw = self.weight_frac
        return max(fw[l], fw[l + 1]) if l + 1 < self.n_layers else fw[l]

    def acc_frac(self, l: int) -> int:
        """Fraction bits of layer l's accumulator and bias: state_bits + A_l."""
        return self.state_bits + self.acc_align(l)

    def nudge_shift(self) -> int:
        """Right shift taking (target - s_L) (state fraction) to beta * (target - s_L) at the output
        accumulator's fraction: beta_shift - A_{L-1}."""
        return self.beta_shift - self.acc_align(self.n_layers - 1)

    def update_scale_shift(self) -> int:
        """log2 of the estimator's 1/beta factor: beta_shift - 1 (symmetric, 1/(2 beta)) or beta_shift."""
        return self.beta_shift - (1 if self.estimator == "symmetric" else 0)

    def weight_update_shift(self, l: int) -> int:
        """Right shift from a state-product contrast (fraction 2*state_bits) to shadow LSBs of layer l."""
        return (2 * self.state_bits + self.lr_shifts[l] - self.update_scale_shift()
                - self.weight_frac[l] - self.shadow_extra)

    def bias_update_shift(self, l: int) -> int:
        """Right shift from a state contrast (fraction state_bits) to bias LSBs of layer l."""
        return self.lr_shifts[l] - self.update_scale_shift() - self.acc_align(l)

    # ------------------------------------------------------------------------------------------
    # accumulator worst case

    def _acc_worst_case(self, l: int) -> int:
        """Largest |accumulator| of layer l: bottom-up + top-down + bias (+ nudge on the output)."""
        s, w, a = self.state_max, self.weight_max, self.acc_align(l)
        total = self.sizes[l] * w * s << (a - self.weight_frac[l])  # W_l s_l, aligned
        if l + 1 < self.n_layers:
            total += self.sizes[l + 2] * w * s << (a - self.weight_frac[l + 1])  # W_{l+1}^T s_{l+2}
        else:
            k = self.nudge_shift()  # |round(d >> k)| <= (|d| >> k) + 1 for k > 0
            total += s << -k if k <= 0 else (s >> k) + 1
        return total + self.bias_max

    @property
    def acc_bits_required(self) -> tuple[int, ...]:
        """Per layer, the signed width that holds the worst-case accumulator (sign bit included)."""
        return tuple(self._acc_worst_case(l).bit_length() + 1 for l in range(self.n_layers))  # + sign bit

    # ------------------------------------------------------------------------------------------
    # cost model

    def macs_per_step(self) -> int:
        """Multiply-accumulates of one relaxation step: each W is used bottom-up and (below the top) top-down."""
        n = self.sizes
        return sum(n[l] * n[l + 1] for l in range(self.n_layers)) + sum(
            n[l + 1] * n[l + 2] for l in range(self.n_layers - 1))

    def macs_per_cached_step(self) -> int:
        """Multiply-accumulates of one relaxation step the core computes: `macs_per_step`, less the input
        layer's W_0 x when ``cache_drive`` holds it (computed once per command instead)."""
        return self.macs_per_step() - (self.sizes[0] * self.sizes[1] if self.cache_drive else 0)

    def ideal_cycles_inference(self) -> int:
        """Cycle count of the free phase at one MAC per weight of the `folding` per cycle, no overhead:
        T * ceil(MACs / P) for P lanes, T * ceil(MACs / (PE SIMD)) for a tile."""
        rows, columns = self.folding
        return self.free_steps * -(-self.macs_per_step() // (rows * columns))


# ------------------------------------------------------------------------------------------------
# configuration files (``python -m export --config``) and manifests


def check_buildable(cfg: HwConfig) -> HwConfig:
    """Raise ValueError unless the accelerator can be built for `cfg`: a lane count wider than the widest
    layer would leave lanes that never hold a weight (and is not a configuration the RTL supports). The rule
    is the P-lane datapath's; a tiled configuration's tile is bounded by `HwConfig` itself."""
    if not cfg.tiled and cfg.mac_lanes > max(cfg.sizes):
        raise ValueError(f"mac_lanes must be at most the widest layer (max of sizes = {max(cfg.sizes)}), "
                         f"not {cfg.mac_lanes!r}")
    return cfg


def config_fields(cfg: HwConfig) -> dict:
    """The fields of `cfg` as JSON values (tuples as lists), in field order, loadable by `config_from_fields`.

    The tiled datapath's fields (`TILED_FIELDS`) are left out where they are None: a P-lane configuration
    gives exactly the fields, manifests and digests it gave before they existed, and a missing field reads
    back as None."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()
            if not (k in TILED_FIELDS and v is None)}


def config_from_fields(fields: dict, where: str, base: HwConfig | None = None) -> HwConfig:
    """A buildable `HwConfig` from a dict of its fields (JSON lists for tuples); errors start with `where`.

    With `base`, the fields change that configuration (`HwConfig.replace`: ``acc_bits`` is derived again
    unless given) instead of the defaults."""
    known = {f.name for f in dataclasses.fields(HwConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{where}: unknown HwConfig field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    try:
        return check_buildable(HwConfig(**values) if base is None else base.replace(**values))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def load_config(path: str | os.PathLike) -> HwConfig:
    """A `HwConfig` from a JSON file holding an object of its fields, e.g. ``{"sizes": [64, 64, 10]}``.

    Raises
    ------
    ValueError
        Starting with the path: an unreadable or binary file, invalid JSON, a key given twice, an unknown
        field, or a value that breaks a rule of `HwConfig` or `check_buildable`.
    """
    return config_from_fields(read_json_object(path, "configuration"), os.fspath(path))
