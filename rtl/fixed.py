"""Fixed-point building blocks as Amaranth expressions: the RTL twins of `eqprop.golden.shift_round`
and `eqprop.golden.saturate`.

These are plain functions returning combinational `Value`s (no state, latency 0); every block of the
accelerator that rounds or saturates calls them, so there is one hardware spelling of each rule.
Callers assign the result to a signal wide enough for the exact value; the helpers never truncate.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value

from eqprop.hwconfig import ROUNDINGS

__all__ = ["lanes", "saturate", "shift_round", "shift_round_var"]


def _check_mode(mode) -> None:
    if mode not in ROUNDINGS:
        raise ValueError(f"Rounding must be one of {', '.join(ROUNDINGS)}, not {mode!r}")


def shift_round(value, k: int, mode: str) -> Value:
    """``value / 2**k`` rounded to an integer under `mode`; a left shift (exact) when ``k <= 0``.

    Bit for bit `eqprop.golden.shift_round` with a constant shift: ``floor`` is an arithmetic shift,
    ``half_up`` adds half an LSB first, ``half_away`` rounds the magnitude and restores the sign.
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
    negative = value < 0 if value.shape().signed else False
    magnitude = Mux(negative, -value, value)
    rounded = (magnitude + half) >> k
    return Mux(negative, -rounded, rounded)


def shift_round_var(value, k, mode: str, *, k_min: int, k_max: int) -> Value:
    """`shift_round` with a run-time shift `k` (a signed `Value` known to lie in ``k_min .. k_max``).

    Used where the shift depends on the LR_SHIFT register. A negative `k` is an exact left shift.
    """
    _check_mode(mode)
    value, k = Value.cast(value), Value.cast(k)
    if k_max <= 0:
        return value << (-k).as_unsigned()[:max(1, (-k_min).bit_length())]
    right = Mux(k > 0, k, 0).as_unsigned()[:k_max.bit_length()]     # 0 .. k_max
    shifted_left = value
    if k_min < 0:
        left = Mux(k < 0, -k, 0).as_unsigned()[:(-k_min).bit_length()]
        shifted_left = value << left
    if mode == "floor":
        rounded = value >> right
    else:
        half = (Value.cast(1) << right) >> 1      # 2**(k-1), or 0 when k = 0
        if mode == "half_up":
            rounded = (value + half) >> right
        else:
            negative = value < 0 if value.shape().signed else False
            magnitude = Mux(negative, -value, value)
            rounded = Mux(negative, -((magnitude + half) >> right), (magnitude + half) >> right)
    return Mux(k > 0, rounded, shifted_left)


def saturate(value, lo: int, hi: int) -> Value:
    """Clip `value` to ``[lo, hi]`` (`eqprop.golden.saturate`)."""
    value = Value.cast(value)
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


def lanes(word, width: int, count: int, *, signed: bool) -> list[Value]:
    """The `count` fields of a memory word, lane 0 in the least significant bits (`eqprop.formats`)."""
    word = Value.cast(word)
    fields = [word.word_select(i, width) for i in range(count)]
    return [f.as_signed() if signed else f for f in fields]
