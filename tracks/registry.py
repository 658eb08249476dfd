"""The registered tracks, by number, and the seed's tracks that are not registered yet (with why).

Only finished tracks are registered: a track here runs a real experiment and can FAIL.
"""

from __future__ import annotations

import importlib

from tracks.base import Track

__all__ = ["NOT_REGISTERED", "all_tracks", "get_tracks"]

# module names under tracks/, in track order
_MODULES = [
    "t01_spectral_norm",
    "t02_eqprop_vs_backprop",
    "t03_self_healing",
    "t04_ternary",
    "t05_neural_cube",
    "t06_feedback_alignment",
    "t07_temporal_resonance",
    "t08_homeostatic",
    "t09_gradient_alignment",
    "t10_memory",
    "t11_deep",
    "t12_lazy",
    "t13_conv",
    "t14_attention",
    "t15_kernel",
    "t16_bit_precision",
    "t17_analog_noise",
    "t18_energy",
    "t19_criticality",
    "t20_transfer",
    "t21_continual",
    "t22_golden_reference",
    "t23_extreme_depth",
    "t24_lazy_wallclock",
    "t25_onchip_learning",
    "t26_rtl_vs_float",
]

# the seed's tracks (and the hardware tracks) that are not registered, with the reason
NOT_REGISTERED: dict = {}


def all_tracks() -> list[Track]:
    """Every registered track, sorted by number."""
    tracks = [importlib.import_module(f"tracks.{name}").TRACK for name in _MODULES]
    numbers = [t.number for t in tracks]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two registered tracks share a number: {sorted(numbers)}")
    return sorted(tracks, key=lambda t: t.number)


def get_tracks(numbers: list[int] | None = None) -> list[Track]:
    """The registered tracks with these numbers (all if None); an unknown number raises ValueError."""
    tracks = all_tracks()
    if numbers is None:
        return tracks
    by_number = {t.number: t for t in tracks}
    unknown = [n for n in numbers if n not in by_number]
    if unknown:
        why = "; ".join(f"{n}: {NOT_REGISTERED[n]}" for n in unknown if n in NOT_REGISTERED)
        raise ValueError(f"no registered track numbered {', '.join(map(str, unknown))}"
                         + (f" ({why})" if why else "") + f"; registered: {', '.join(map(str, sorted(by_number)))}")
    return [by_number[n] for n in dict.fromkeys(numbers)]
