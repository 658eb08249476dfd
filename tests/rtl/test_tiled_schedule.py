"""The planned tiled schedule (`rtl.tiled_schedule`): the layout stores every weight once and its reductions
give W s and W^T s; block, step and drive lengths, and the interleaving of samples, on cases computed by
hand; the run's invariants on random ones; the projection's entry point."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from rtl import tiled_schedule as ts
from rtl.tile import TileMode
from rtl.tiled_schedule import TilePlan, Unit, block_tiles, drive_cycles, interleave, step_cycles, tile_memory

SMALL = TilePlan(sizes=(4, 4, 2), pe=2, simd=2, latency=3)      # D = 4, S = 4 (worked out below)


def test_block_sizes_alternate_and_odd_layers_are_transposed():
    plan = TilePlan(sizes=(4, 3, 5), pe=2, simd=3)
    assert [plan.block_size(k) for k in range(3)] == [3, 2, 3] and [plan.blocks(k) for k in range(3)] == [2, 2, 2]
    w0 = np.arange(12).reshape(3, 4) + 1          # (n_1, n_0): tiles of PE = 2 rows x SIMD = 3 columns
    assert_array_equal(ts.tile_word(plan, w0, 0, 1, 1), [[12, 0, 0], [0, 0, 0]])
    assert_array_equal(ts.tile_word(plan, w0, 0, 0, 0), [[1, 2, 3], [5, 6, 7]])
    w1 = np.arange(15).reshape(5, 3) + 1          # (n_2, n_1): tiles of SIMD = 3 rows x PE = 2 columns, transposed
    assert_array_equal(ts.tile_word(plan, w1, 1, 0, 0), [[1, 4, 7], [2, 5, 8]])
    assert_array_equal(ts.tile_word(plan, w1, 1, 1, 1), [[12, 15, 0], [0, 0, 0]])
    assert tile_memory(plan, w1, 1).shape == (4, 2, 3)


@pytest.mark.parametrize("sizes, pe, simd", [((7, 5, 6, 3), 2, 3), ((10, 9, 4, 7, 2), 4, 3), ((5, 5), 1, 1),
                                             ((6, 8, 3), 3, 3)])
def test_layout_holds_each_weight_once(sizes, pe, simd):
    plan, rng = TilePlan(sizes=sizes, pe=pe, simd=simd), np.random.default_rng(0)
    for l in range(plan.n_layers):
        w = rng.integers(1, 100, (sizes[l + 1], sizes[l]))
        mem = tile_memory(plan, w, l)
        assert mem.shape == (plan.words(l), pe, simd)
        assert sorted(mem[mem != 0].tolist()) == sorted(w.ravel().tolist())     # every weight once, the rest zero


def reduce(mode, w, s):
    """`rtl.tile.TileMac`'s reduction of one tile, in numpy: ROWS w @ x[:SIMD] (PE), COLUMNS w.T @ y[:PE] (SIMD)."""
    pe, simd = w.shape
    return w @ s[:simd] if mode == TileMode.ROWS else w.T @ s[:pe]


@pytest.mark.parametrize("cache_drive", [False, True])
@pytest.mark.parametrize("sizes, pe, simd", [((7, 5, 6, 3), 2, 3), ((10, 9, 4, 7, 2), 4, 3), ((6, 8, 3), 3, 3)])
def test_each_block_is_one_reduction_of_its_tiles(sizes, pe, simd, cache_drive):
    """Every block's tiles, reduced the one way of its layer, give W_l s_l + W_{l+1}^T s_{l+2} (less W_0 x with a
    cached drive, which the load word carries)."""
    plan, rng = TilePlan(sizes=sizes, pe=pe, simd=simd, cache_drive=cache_drive), np.random.default_rng(1)
    L = plan.n_layers
    w = [rng.integers(-9, 10, (sizes[l + 1], sizes[l])) for l in range(L)]
    s = [rng.integers(0, 9, n) for n in sizes]
    mems = [tile_memory(plan, w[l], l) for l in range(L)]
    for l in range(L):
        want = (0 if l == 0 and cache_drive else w[l] @ s[l]) + (w[l + 1].T @ s[l + 1 + 1] if l + 1 < L else 0)
        n = plan.block_size(l + 1)
        got = np.zeros(plan.blocks(l + 1) * n, dtype=np.int64)
        for a in range(plan.blocks(l + 1)):
            tiles = block_tiles(plan, l, a)
            assert tiles[0].first and tiles[-1].last and sum(t.first for t in tiles) == sum(t.last for t in tiles) == 1
            for t in tiles:
                if t.kind == "empty":
                    continue
                k, m = t.state_layer, plan.block_size(t.state_layer)
                vec = np.zeros(max(pe, simd), dtype=np.int64)
                part = s[k][t.state_word * m:(t.state_word + 1) * m]
                vec[:len(part)] = part
                got[a * n:(a + 1) * n] += reduce(plan.mode(l), mems[t.layer][t.word], vec)
        assert_array_equal(got[:sizes[l + 1]], want, err_msg=f"layer {l}")
        assert not got[sizes[l + 1]:].any()


def test_block_and_step_lengths_by_hand():
    # 4-4-2, PE = SIMD = 2: blocks 2, 2, 1. Layer 0's blocks: one top-down tile each (the drive is cached);
    # layer 1's one block: two bottom-up tiles. S = 2 + 2; the drive pass: 2 x 2 tiles of W_0.
    assert step_cycles(SMALL) == 4 and drive_cycles(SMALL) == 4
    uncached = TilePlan(sizes=(4, 4, 2), pe=2, simd=2, cache_drive=False)
    assert step_cycles(uncached) == 2 * (1 + 2) + 2 and drive_cycles(uncached) == 0
    # a 2-layer net with a cached drive: layer 0's blocks have no tiles but still take one (empty) issue
    alone = TilePlan(sizes=(6, 4), pe=2, simd=3)
    assert [t.kind for t in block_tiles(alone, 0, 0)] == ["empty"] and step_cycles(alone) == 2


def test_one_sample_waits_for_its_own_pipeline():
    # drive 0..3; each step starts G = 3 after the last issue before: 6..9, 12..15, 18..21; done at 21 + 3
    run = interleave(SMALL, [3])
    assert [(u.kind, u.start, u.end) for u in run.units] == [("drive", 0, 3), ("step", 6, 9), ("step", 12, 15),
                                                             ("step", 18, 21)]
    assert run.cycles == 24 and run.busy == 16


def test_two_samples_fill_each_others_gaps():
    run = interleave(SMALL, [1, 2])
    assert run.units == (Unit(0, 0, "drive", 0, 0, 3), Unit(1, 1, "drive", 0, 4, 7), Unit(0, 0, "step", 1, 8, 11),
                         Unit(1, 1, "step", 1, 12, 15), Unit(1, 1, "step", 2, 18, 21))
    assert run.cycles == 24
    assert ts.macs(SMALL, [1, 2]) == 2 * 16 + 3 * 16 and ts.tile_bound(SMALL, [1, 2]) == 80 / 4


def test_a_freed_slot_takes_the_next_sample():
    # two slots, three samples of one step: sample 2 enters slot 0 when sample 0 has stopped (ready at 11 + 3)
    run = interleave(SMALL, [1, 1, 1], slots=2)
    assert [(u.sample, u.slot, u.kind, u.start) for u in run.units] == [
        (0, 0, "drive", 0), (1, 1, "drive", 4), (0, 0, "step", 8), (1, 1, "step", 12), (2, 0, "drive", 16),
        (2, 0, "step", 22)]
    assert run.cycles == 25 + 3


def test_a_one_tile_unit_holds_the_tile_for_its_occupancy():
    # one-tile units (drive and step of a 2-layer net in one tile), two samples: with occupancy 2 no unit
    # starts in the cycle after another's start
    one = TilePlan(sizes=(6, 4), pe=4, simd=6, latency=3)
    assert [u.start for u in interleave(one, [2, 2]).units] == [0, 1, 3, 4, 6, 7]
    assert [u.start for u in interleave(one, [2, 2], occupancy=2).units] == [0, 2, 4, 6, 8, 10]


def test_without_a_drive_pass_the_samples_start_with_their_steps():
    # a learning core's nudged phases: the free phase's drive is reused, so their first unit is a step
    run = interleave(SMALL, [2, 3], drive=False)
    assert [u.kind for u in run.units] == ["step"] * 5
    assert SMALL.cache_drive and "drive" in [u.kind for u in interleave(SMALL, [2, 3]).units]


@pytest.mark.parametrize("seed", range(4))
def test_runs_keep_their_promises(seed):
    """On random plans and step counts: one unit at a time, each sample's units G apart, every unit issued,
    the lanes never idle while a sample is ready, and no gaps at all when G = 1."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(n) for n in rng.integers(1, 30, int(rng.integers(2, 5))))
    plan = TilePlan(sizes=sizes, pe=int(rng.integers(1, 9)), simd=int(rng.integers(1, 9)),
                    cache_drive=bool(rng.integers(2)), latency=int(rng.integers(1, 40)))
    steps = rng.integers(1, 12, int(rng.integers(1, 7))).tolist()
    slots = int(rng.integers(1, len(steps) + 1))
    run = interleave(plan, steps, slots)
    assert all(a.end < b.start for a, b in zip(run.units, run.units[1:], strict=False))
    per = {}
    for u in run.units:
        per.setdefault(u.sample, []).append(u)
    for n, units in per.items():
        assert [u.kind for u in units] == ["drive"] * plan.cache_drive + ["step"] * steps[n]
        assert all(b.start - a.end >= plan.latency for a, b in zip(units, units[1:], strict=False))
    assert run.busy == len(steps) * drive_cycles(plan) + sum(steps) * step_cycles(plan)
    assert run.cycles == run.units[-1].end + plan.latency
    flat = TilePlan(sizes=sizes, pe=plan.pe, simd=plan.simd, cache_drive=plan.cache_drive, latency=1)
    assert interleave(flat, steps, slots).cycles == run.busy
    assert run.cycles >= ts.tile_bound(plan, steps) or plan.pe * plan.simd == 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: interleave(SMALL, []), ValueError, r"^steps must be one positive int per sample \(its free steps\), "
                                                r"not \[\]$"),
    (lambda: interleave(SMALL, [3, 0]), ValueError, r"^steps must be one positive int per sample"),
    (lambda: interleave(SMALL, [3, 3], slots=3), ValueError,
     r"^slots must be an int in 1 \.\. the number of samples \(2\), not 3$"),
    (lambda: interleave(SMALL, [3], occupancy=0), ValueError, r"^occupancy must be a positive int, not 0$"),
    (lambda: TilePlan(sizes=(4,), pe=2, simd=2), ValueError,
     r"^sizes must be a tuple of at least two positive integers, not \(4,\)$"),
    (lambda: TilePlan(sizes=(4, 4), pe=0, simd=2), ValueError, r"^pe must be at least 1, not 0$"),
    (lambda: TilePlan(sizes=(4, 4), pe=2, simd="2"), TypeError, r"^simd must be an int, not '2'$"),
    (lambda: TilePlan(sizes=(4, 4), pe=2, simd=2, latency=0), ValueError, r"^latency must be at least 1, not 0$"),
    (lambda: ts.tile_word(SMALL, np.zeros((3, 4)), 0, 0, 0), ValueError,
     r"^weights of layer 0 must have shape \(4, 4\), not \(3, 4\)$"),
])
def test_bad_input_is_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_projection_says_what_it_is(capsys):
    rows = ts.projection()
    assert {r["design"] for r in rows} == {"int8 8x10", "int8 16x10", "ternary 32x10"}
    assert all(r["cycles_per_inference"] >= r["tile_bound_per_inference"] for r in rows)
    assert ts.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PROJECTION of the planned tiled schedule") and "not a measurement" in out
    with pytest.raises(SystemExit) as bad:
        ts.main(["--steps", "0"])
    assert bad.value.code == 2 and "argument --steps: must be a positive integer, not '0'" in capsys.readouterr().err
