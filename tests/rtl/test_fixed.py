"""The RTL rounding and saturation helpers against `golden.shift_round` / `golden.saturate`, for every
rounding mode, constant and run-time shifts (left and right), over the whole range of a narrow word."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from rtl.fixed import saturate, shift_round, shift_round_var
from tests.rtl._sim import run

MODES = ("floor", "half_up", "half_away")
WIDTH = 9     # every signed 9-bit value is tried


def ref_round(values, k, mode):
    return golden.shift_round(np.array(values), k, mode)


def rtl_round(values, ks, mode, *, k_min, k_max, variable):
    """Evaluate the helper for every value and shift; returns (len(ks), len(values))."""
    m = Module()
    x = Signal(signed(WIDTH))
    k = Signal(signed(6))
    outs = {}
    for kk in ks:
        outs[kk] = Signal(signed(WIDTH + 2 + max(0, -k_min)), name=f"out_{kk}".replace("-", "m"))
        expr = (shift_round_var(x, k, mode, k_min=k_min, k_max=k_max) if variable else shift_round(x, kk, mode))
        m.d.comb += outs[kk].eq(expr)
    got = np.zeros((len(ks), len(values)), dtype=np.int64)

    async def tb(ctx):
        for j, kk in enumerate(ks):
            ctx.set(k, kk)
            for i, v in enumerate(values):
                ctx.set(x, v)
                got[j, i] = ctx.get(outs[kk])

    run(m, tb, clock=False)
    return got


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variable", [False, True], ids=["constant", "runtime"])
def test_shift_round_matches_golden(mode, variable):
    values = list(range(-(1 << (WIDTH - 1)), 1 << (WIDTH - 1)))
    ks = list(range(-3, 7))
    got = rtl_round(values, ks, mode, k_min=-3, k_max=6, variable=variable)
    for j, kk in enumerate(ks):
        assert_array_equal(got[j], ref_round(values, kk, mode), err_msg=f"{mode} k={kk}")


@pytest.mark.parametrize("k_min, k_max", [(2, 5), (-4, -1)])
def test_runtime_shift_one_direction(k_min, k_max):
    """Shift ranges entirely right or entirely left build the one-sided datapath."""
    values = list(range(-(1 << (WIDTH - 1)), 1 << (WIDTH - 1), 7))
    ks = list(range(k_min, k_max + 1))
    got = rtl_round(values, ks, "half_away", k_min=k_min, k_max=k_max, variable=True)
    for j, kk in enumerate(ks):
        assert_array_equal(got[j], ref_round(values, kk, "half_away"), err_msg=f"k={kk}")


@pytest.mark.parametrize("lo, hi, is_signed", [(-100, 37, True), (0, 255, True), (0, 63, True), (0, 63, False),
                                               (0, 1023, True), (-63, 63, True), (-127, 127, True),
                                               (-255, 255, True)],
                         ids=["general", "state-range", "narrow-range", "unsigned", "wider-than-value", "symmetric",
                              "symmetric-one-spare-bit", "symmetric-as-wide-as-value"])
def test_saturate_matches_golden(lo, hi, is_signed):
    """The general comparators, and the [0, 2**n - 1] and [-(2**n - 1), 2**n - 1] paths that test the sign
    and high bits instead."""
    m = Module()
    x, y = Signal(signed(WIDTH) if is_signed else WIDTH), Signal(signed(WIDTH + 2))
    m.d.comb += y.eq(saturate(x, lo, hi))
    values = list(range(-(1 << (WIDTH - 1)), 1 << (WIDTH - 1))) if is_signed else list(range(1 << WIDTH))
    got = []

    async def tb(ctx):
        for v in values:
            ctx.set(x, v)
            got.append(ctx.get(y))

    run(m, tb, clock=False)
    assert_array_equal(got, golden.saturate(np.array(values), lo, hi))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^Rounding must be one of floor, half_up, half_away, not 'up'$"):
        shift_round(Signal(4), 1, "up")
    with pytest.raises(TypeError, match=r"^Shift must be an int, not 1.5$"):
        shift_round(Signal(4), 1.5, "floor")
