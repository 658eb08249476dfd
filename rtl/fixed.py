"""Fixed-point building blocks as Amaranth expressions: the RTL twins of `eqprop.hw.golden.shift_round`
and `eqprop.hw.golden.saturate`.

These are plain functions returning combinational `Value`s (no state, latency 0); every block of the
accelerator that rounds or saturates calls them, so there is one hardware spelling of each rule.
Callers assign the result to a signal wide enough for the exact value; the helpers never truncate.
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux, Value

from eqprop.hw.hwconfig import ROUNDINGS

__all__ = ["lanes", "round_addend_var", "round_half_var", "saturate", "shift_amount", "shift_by_amount", "shift_round",
           "shift_round_var", "shift_var"]


def _check_mode(mode) -> None:
    if mode not in ROUNDINGS:
        raise ValueError(f"Rounding must be one of {', '.join(ROUNDINGS)}, not {mode!r}")


def shift_round(value, k: int, mode: str) -> Value:
    """``value / 2**k`` rounded to an integer under `mode`; a left shift (exact) when ``k <= 0``.

    Bit for bit `eqprop.hw.golden.shift_round` with a constant shift: ``floor`` is an arithmetic shift,
    ``half_up`` adds half an LSB first, ``half_away`` adds half an LSB less one on negative values (the same as
    rounding the magnitude and restoring the sign, in one adder).
    """
    _check_mode(mode)
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"Shift must be an int, not {k!r}")
    value = Value.cast(value)
    if k <= 0:
        return value << -k
    if mode == "floor":
        return value >> k
    half = 1 << (k - 1)
    if mode == "half_up":
        return (value + half) >> k
    # sign(v) * ((|v| + half) >> k) is (v + half - [v < 0]) >> k: ties move away from zero on both
    # sides. One adder instead of negate, add, negate (three carry chains on the FPGA's critical path).
    if not value.shape().signed:
        return (value + half) >> k
    return (value + Mux(value < 0, half - 1, half)) >> k


def round_half_var(k, *, k_max: int) -> Value:
    """2**(k-1) for a run-time `k` in 1 .. `k_max`, 0 for ``k <= 0``: the half LSB that rounding to
    nearest adds before a right shift by `k` (a decoder; a pipeline may register it ahead of the adder)."""
    k = Value.cast(k)
    right = Mux(k > 0, k, 0).as_unsigned()[:max(1, k_max.bit_length())]     # 0 .. k_max
    return (Value.cast(1) << right) >> 1


def round_addend_var(value, k, mode: str, *, k_max: int, half=None, half_less_one=None) -> Value:
    """What `shift_round_var` adds to `value` before its right shift by a run-time `k`: 0 for ``floor``
    or ``k <= 0``, 2**(k-1) for ``half_up``, and 2**(k-1) less one on a negative value for ``half_away``.

    `half` and `half_less_one`, if given, are `round_half_var` of `k` and one less, computed (and
    registered) earlier, so that only a multiplexer is left before the adder. With `shift_var` this
    splits `shift_round_var` into an adder and a shifter, which a pipeline registers apart (`rtl.update`)."""
    _check_mode(mode)
    value, k = Value.cast(value), Value.cast(k)
    if mode == "floor" or k_max <= 0:
        return Const(0, 1)
    half = round_half_var(k, k_max=k_max) if half is None else Value.cast(half)
    if mode == "half_up" or not value.shape().signed:
        return half
    # as in `shift_round`: (v + half - [v < 0]) >> k; only when k > 0, so half >= 1
    less = half - 1 if half_less_one is None else Value.cast(half_less_one)
    return Mux((value < 0) & (k > 0), less, half)


def shift_amount(k, *, k_min: int, k_max: int) -> Value:
    """The amount of `shift_var`'s one right shift for a run-time `k` in ``k_min .. k_max``:
    ``k + max(0, -k_min)``, unsigned (0 .. ``k_max + max(0, -k_min)``). An adder on `k` alone, so a
    pipeline may register it a stage ahead of the shifter (`rtl.update`)."""
    lead = max(0, -k_min)
    width = max(1, (k_max + lead).bit_length())
    return (Value.cast(k) + lead).as_unsigned()[:width]


def shift_by_amount(value, amount, *, k_min: int) -> Value:
    """`shift_var` of `value` by the `k` whose `shift_amount` is `amount` (computed, and registered,
    earlier, so that the shifter's select lines come straight from registers)."""
    return (Value.cast(value) << max(0, -k_min)) >> Value.cast(amount)


def shift_var(value, k, *, k_min: int, k_max: int) -> Value:
    """``value >> k`` (arithmetic) for a run-time `k` > 0, ``value << -k`` (exact) for `k` <= 0; `k` is a
    signed `Value` known to lie in ``k_min .. k_max``.

    One barrel shifter, not a right and a left one and a multiplexer between them: `value` is first
    moved left by the largest left shift, ``max(0, -k_min)`` (wiring), then shifted right by
    `shift_amount` (k plus that lead), which is the exact left shift for ``k <= 0`` and the arithmetic
    right shift (floor) for ``k > 0``."""
    return shift_by_amount(value, shift_amount(k, k_min=k_min, k_max=k_max), k_min=k_min)


def shift_round_var(value, k, mode: str, *, k_min: int, k_max: int) -> Value:
    """`shift_round` with a run-time shift `k` (a signed `Value` known to lie in ``k_min .. k_max``).

    Used where the shift depends on the LR_SHIFT register. A negative `k` is an exact left shift. The
    sum of `value` and `round_addend_var`, shifted by `shift_var`.
    """
    _check_mode(mode)
    value = Value.cast(value)
    return shift_var(value + round_addend_var(value, k, mode, k_max=k_max), k, k_min=k_min, k_max=k_max)


def saturate(value, lo: int, hi: int) -> Value:
    """Clip `value` to ``[lo, hi]`` (`eqprop.hw.golden.saturate`)."""
    value = Value.cast(value)
    signed, width = value.shape().signed, value.shape().width
    if lo == 0 and hi > 0 and hi & (hi + 1) == 0:
        # [0, 2**n - 1], the state range: the sign bit and the bits above n decide, with no comparator
        n = hi.bit_length()
        below = value[-1] if signed else False
        above = value[n:].any() if width > n else False
        return Mux(below, lo, Mux(above, hi, value))
    if signed and lo == -hi and hi > 0 and hi & (hi + 1) == 0 and width > hi.bit_length() + 1:
        # [-(2**n - 1), 2**n - 1], a shadow's or a bias's range: above is a non-negative value with a bit
        # at n or higher, below a negative one whose bits from n up are not all ones, or are and the
        # bits below n are all zeros (-2**n exactly). Bit tests, no comparator carry chains after the
        # adder that usually feeds a saturation.
        n = hi.bit_length()
        top = value[n:width - 1]
        above = ~value[-1] & top.any()
        below = value[-1] & (~top.all() | ~value[:n].any())
        return Mux(below, lo, Mux(above, hi, value))
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


def lanes(word, width: int, count: int, *, signed: bool) -> list[Value]:
    """The `count` fields of a memory word, lane 0 in the least significant bits (`eqprop.hw.formats`)."""
    word = Value.cast(word)
    fields = [word.word_select(i, width) for i in range(count)]
    return [f.as_signed() if signed else f for f in fields]
