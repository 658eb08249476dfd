# amaranth: UnusedElaboratable=no
"""The PE x SIMD tile stage (`rtl.tile.TileMac`) against a numpy reference of both reductions: random blocks
with random first/last flags, with and without bubbles (the valid bit held low, the payload and the load port
filled with garbage), at several tile shapes, INT8 and ternary; a tile with one transposed index wrong fails;
and fed from the tiled layout (`rtl.tiled_schedule`), every block's sums equal the golden model's accumulators
(`eqprop.hw.golden.step`), at the formats' extremes too."""

import functools

import numpy as np
import pytest
from amaranth.hdl import unsigned
from numpy.testing import assert_array_equal

from eqprop.hw import golden
from eqprop.hw.hwconfig import HwConfig
from rtl.mac import max_align_shift
from rtl.tile import TileMac, TileMode, tile_inputs, tile_latency, tile_load_delay, tile_products
from rtl.tiled_schedule import TilePlan, block_tiles, tile_memory
from tests.rtl._sim import run

CONFIGS = {   # wide enough layers that a block of up to MAX_TILES tiles stays inside the accumulator's contract
    "int8": HwConfig(sizes=(40, 40, 40), weight_frac=(4, 7)),     # alignment shifts 0 .. 3
    "ternary": HwConfig(sizes=(40, 40, 40), weight_format="ternary", weight_bits=2, shadow_bits=8,
                        weight_frac=(2, 3)),                        # alignment shifts 0 .. 1
}
SHAPES = [(1, 1), (2, 3), (4, 4), (8, 10), (3, 7), (7, 3)]         # (PE, SIMD); 3 x 7 divides nothing
MAX_TILES = 3
TAG = unsigned(8)


# ----------------------------------------------------------------------------------------------
# reference

def ref_tile(pe, simd, ops):
    """The sums each block of `ops` emits (one array of max(PE, SIMD) lanes per ``last`` operation), with
    Python integers: ROWS adds w @ x[:SIMD] << shift to lanes 0 .. PE-1, COLUMNS w.T @ y[:PE] << shift to
    lanes 0 .. SIMD-1; a ``first`` operation starts from its load word."""
    v = max(pe, simd)
    acc, out = None, []
    for o in ops:
        w = np.array(o["weights"], dtype=object).reshape(pe, simd)
        s = np.array(o["states"], dtype=object)
        part = np.zeros(v, dtype=object)
        if o["mode"] == TileMode.ROWS:
            part[:pe] = w @ s[:simd]
        else:
            part[:simd] = w.T @ s[:pe]
        acc = (np.array(o["load"], dtype=object) if o["first"] else acc) + (part << o["shift"])
        if o["last"]:
            out.append(acc.copy())
    return out


def random_blocks(cfg, pe, simd, rng, count):
    """`count` blocks of 1 .. MAX_TILES operations, each block one mode, random codes over the formats' full
    ranges (a quarter of the tiles at an extreme), random shifts and load words; ``tag`` numbers the ops."""
    v, wmax, smax = max(pe, simd), cfg.weight_max, cfg.state_max
    ops = []
    for _ in range(count):
        mode, tiles = TileMode(int(rng.integers(2))), int(rng.integers(1, MAX_TILES + 1))
        load = rng.integers(-cfg.bias_max, cfg.bias_max + 1, v).tolist()
        for t in range(tiles):
            if rng.random() < 0.25:
                sign = int(rng.choice([-1, 1]))
                weights, states = [[sign * wmax] * simd] * pe, [smax] * v
            else:
                weights = rng.integers(-wmax, wmax + 1, (pe, simd)).tolist()
                states = rng.integers(0, smax + 1, v).tolist()
            width = simd if mode == TileMode.ROWS else pe       # the state lanes past the mode's input are zero
            states = [s if k < width else 0 for k, s in enumerate(states)]
            ops.append(dict(weights=weights, states=states, mode=mode, first=t == 0, last=t == tiles - 1,
                            shift=int(rng.integers(max_align_shift(cfg) + 1)), load=load, tag=len(ops) % 256))
    return ops


# ----------------------------------------------------------------------------------------------
# the RTL

def rtl_tile(cfg, pe, simd, ops, bubbles=None, tile_class=TileMac):
    """Run `ops` through the tile, one per cycle with a bubble before each where `bubbles` (a random generator)
    says so; returns [(cycle, sums, tag)] for each cycle with ``o.valid``, and the cycle each op was presented.
    Bubbles carry a random payload (random flags included) and the load port holds random words except when a
    ``first`` op reaches the accumulator: neither may change the answers."""
    dut = tile_class(cfg=cfg, pe=pe, simd=simd, tag=TAG)
    v, latency, load_delay = max(pe, simd), tile_latency(cfg, pe, simd), tile_load_delay(cfg, pe, simd)
    noise = np.random.default_rng(7)
    schedule, when = [], []
    for o in ops:
        while bubbles is not None and bubbles.random() < 0.3:
            schedule.append(None)
        when.append(len(schedule))
        schedule.append(o)
    garbage = [dut.in_layout.const({
        "weights": noise.integers(-cfg.weight_max, cfg.weight_max + 1, (pe, simd)).tolist(),
        "states": noise.integers(0, cfg.state_max + 1, v).tolist(), "mode": TileMode(int(noise.integers(2))),
        "first": int(noise.integers(2)), "last": int(noise.integers(2)), "shift": 0, "tag": 255})
        for _ in range(4)]
    payloads = [None if o is None else dut.in_layout.const({k: o[k] for k in dut.in_layout.members})
                for o in schedule]
    out = []

    async def tb(ctx):
        for cycle in range(len(schedule) + latency + 2):
            o = schedule[cycle] if cycle < len(schedule) else None
            ctx.set(dut.i.valid, o is not None)
            ctx.set(dut.i.payload, garbage[cycle % 4] if o is None else payloads[cycle])
            late = cycle - load_delay
            lo = schedule[late] if 0 <= late < len(schedule) else None
            ctx.set(dut.load, lo["load"] if lo is not None and lo["first"]
                    else noise.integers(-cfg.bias_max, cfg.bias_max + 1, v).tolist())
            await ctx.tick()
            if ctx.get(dut.o.valid):
                out.append((cycle + 1, [ctx.get(dut.o.payload.acc[t]) for t in range(v)], ctx.get(dut.o.payload.tag)))

    run(dut, tb)
    return out, when


def check(cfg, pe, simd, ops, out, when):
    """Every block's sums, in order, at `tile_latency` after its last op, with that op's tag; a mismatch
    names the block, its mode and the lane."""
    ref = ref_tile(pe, simd, ops)
    lasts = [i for i, o in enumerate(ops) if o["last"]]
    assert all(abs(int(x)) < 2 ** (cfg.acc_bits - 1) for r in ref for x in r), "the test left the contract"
    assert len(out) == len(ref), f"{len(out)} outputs, expected {len(ref)}"
    for b, ((cycle, got, tag), want, i) in enumerate(zip(out, ref, lasts, strict=True)):
        where = f"block {b} ({ops[i]['mode'].name}, last op {i})"
        assert cycle == when[i] + tile_latency(cfg, pe, simd), f"{where}: out at cycle {cycle}"
        assert tag == ops[i]["tag"], f"{where}: tag {tag} != {ops[i]['tag']}"
        width = pe if ops[i]["mode"] == TileMode.ROWS else simd     # the lanes past the mode's output: unspecified
        assert_array_equal(np.array(got[:width], dtype=np.int64), want[:width].astype(np.int64),
                           err_msg=f"{where}: sums")


@pytest.mark.parametrize("fmt", list(CONFIGS))
@pytest.mark.parametrize("pe, simd", SHAPES, ids=[f"{p}x{s}" for p, s in SHAPES])
@pytest.mark.parametrize("bubbles", [False, True], ids=["dense", "bubbles"])
def test_tile_matches_reference(fmt, pe, simd, bubbles):
    cfg = CONFIGS[fmt]
    rng = np.random.default_rng([pe, simd, list(CONFIGS).index(fmt)])
    ops = random_blocks(cfg, pe, simd, rng, 12)
    out, when = rtl_tile(cfg, pe, simd, ops, np.random.default_rng(3) if bubbles else None)
    check(cfg, pe, simd, ops, out, when)


@pytest.mark.parametrize("pe, simd, dsp", [(2, 3, 0), (8, 10, 0), (3, 4, 5)], ids=["2x3", "8x10", "3x4-5dsp"])
def test_logic_multipliers_match_reference(pe, simd, dsp):
    """INT tiles with `dsp` of their products multiplied and the others built in logic (`dsp_products`): the
    same sums, at the same latency."""
    cfg = CONFIGS["int8"]
    ops = random_blocks(cfg, pe, simd, np.random.default_rng([pe, simd, 9]), 8)
    out, when = rtl_tile(cfg, pe, simd, ops, np.random.default_rng(4),
                         tile_class=functools.partial(TileMac, dsp_products=dsp))
    check(cfg, pe, simd, ops, out, when)


GOLDEN = {   # three weight layers: both reductions, top-down and bottom-up sums, distinct alignment shifts
    "int8": HwConfig(sizes=(7, 5, 6, 3), weight_frac=(4, 7, 5)),
    "ternary": HwConfig(sizes=(7, 5, 6, 3), weight_format="ternary", weight_bits=2, shadow_bits=8,
                        weight_frac=(2, 3, 3)),
}


def layout_ops(cfg, plan, params, x, states):
    """A relaxation step's operations as the tiled schedule issues them: every block of every layer, its tiles
    from the tiled weight memories and its state words, the load word its bias (or, for layer 0 with a cached
    drive, W_0 x << (A_0 - fw_0) + b_0, as the drive pass stores it); ``tag`` = 16 layer + block."""
    pe, simd, L = plan.pe, plan.simd, cfg.n_layers
    v = max(pe, simd)
    mems = [tile_memory(plan, params.weights[l], l) for l in range(L)]
    vectors = [x[0]] + [s[0] for s in states]       # s_0 = x .. s_L, each (n_k,)

    def word(k, c):
        n = plan.block_size(k)
        out = np.zeros(v, dtype=np.int64)
        part = vectors[k][c * n:(c + 1) * n]
        out[:len(part)] = part
        return out

    ops = []
    for l in range(L):
        a_l, n = cfg.acc_align(l), plan.block_size(l + 1)
        load_all = params.biases[l].copy()
        if l == 0 and plan.cache_drive:
            load_all += golden.matmul_exact(x, params.weights[0].T)[0] << (a_l - cfg.weight_frac[0])
        for a in range(plan.blocks(l + 1)):
            load = np.zeros(v, dtype=np.int64)
            part = load_all[a * n:(a + 1) * n]
            load[:len(part)] = part
            for t in block_tiles(plan, l, a):
                tile = np.zeros((pe, simd), dtype=np.int64) if t.kind == "empty" else mems[t.layer][t.word]
                ops.append(dict(weights=tile.tolist(), states=word(t.state_layer, t.state_word).tolist(),
                                mode=plan.mode(l), first=t.first, last=t.last, shift=a_l - cfg.weight_frac[t.layer],
                                load=load.tolist(), tag=16 * l + a))
    return ops


@pytest.mark.parametrize("fmt", list(GOLDEN))
@pytest.mark.parametrize("pe, simd", [(2, 3), (3, 2)], ids=["2x3", "3x2"])
@pytest.mark.parametrize("kind", ["random", "max", "min"])
@pytest.mark.parametrize("cache_drive", [False, True], ids=["sums", "cached-drive"])
def test_tiles_give_the_golden_accumulators(fmt, pe, simd, kind, cache_drive):
    """The tile, fed by the tiled layout, reproduces `golden.step`'s accumulator of every neuron of every layer;
    at "max" (every weight, state and bias at its largest) the sums reach the accumulator's top bits."""
    cfg, plan = GOLDEN[fmt], TilePlan(sizes=GOLDEN[fmt].sizes, pe=pe, simd=simd, cache_drive=cache_drive)
    rng, n, L = np.random.default_rng([pe, simd]), cfg.sizes, cfg.n_layers
    if kind == "random":
        weights = [rng.integers(-cfg.weight_max, cfg.weight_max + 1, (n[l + 1], n[l])) for l in range(L)]
        biases = [rng.integers(-cfg.bias_max, cfg.bias_max + 1, n[l + 1]) for l in range(L)]
        x, states = rng.integers(0, cfg.state_max + 1, (1, n[0])), [rng.integers(0, cfg.state_max + 1, (1, m))
                                                                      for m in n[1:]]
    else:
        sign = 1 if kind == "max" else -1
        weights = [np.full((n[l + 1], n[l]), sign * cfg.weight_max) for l in range(L)]
        biases = [np.full(n[l + 1], sign * cfg.bias_max) for l in range(L)]
        x, states = np.full((1, n[0]), cfg.state_max), [np.full((1, m), cfg.state_max) for m in n[1:]]
    params = golden.IntParams([w.copy() for w in weights], weights, biases)
    _, accs = golden.step(cfg, params, x, states)       # (1, n_{l+1}) per layer
    ops = layout_ops(cfg, plan, params, x, states)
    out, _ = rtl_tile(cfg, pe, simd, ops, np.random.default_rng(2) if kind == "random" else None)
    blocks = [(l, a) for l in range(L) for a in range(plan.blocks(l + 1))]
    assert [tag for _, _, tag in out] == [16 * l + a for l, a in blocks]
    for (_, got, _), (l, a) in zip(out, blocks, strict=True):
        m = plan.block_size(l + 1)
        want = accs[l][0, a * m:(a + 1) * m]
        assert_array_equal(np.array(got[:len(want)], dtype=np.int64), want, err_msg=f"layer {l}, block {a}")
        assert not any(got[len(want):m]), f"layer {l}, block {a}: lanes past the layer"
    if kind == "max":
        top = max(int(np.max(acc)) for acc in accs)
        assert top.bit_length() + 1 >= cfg.acc_bits - 1, (top, cfg.acc_bits)


class SwappedTile(TileMac):
    """A tile whose transposed reading takes one wrong element: COLUMNS tree `t` reads w[k'][t] for input k."""

    def __init__(self, *, wrong, **kwargs):
        self.wrong = wrong
        super().__init__(**kwargs)

    def _columns(self, w, t, k):
        t0, k0, k1 = self.wrong
        return w[k1][t] if (t, k) == (t0, k0) else super()._columns(w, t, k)


@pytest.mark.parametrize("pe, simd, wrong", [(4, 4, (2, 1, 3)), (3, 7, (6, 0, 2))])
def test_one_wrong_transposed_index_fails(pe, simd, wrong):
    """The comparison is sharp enough to see one misplaced weight of the transposed reading."""
    cfg = CONFIGS["int8"]
    ops = random_blocks(cfg, pe, simd, np.random.default_rng(5), 12)
    assert any(o["mode"] == TileMode.COLUMNS for o in ops)
    out, when = rtl_tile(cfg, pe, simd, ops)
    check(cfg, pe, simd, ops, out, when)        # the tile itself passes ...
    out, when = rtl_tile(cfg, pe, simd, ops, tile_class=functools.partial(SwappedTile, wrong=wrong))
    with pytest.raises(AssertionError, match=r"COLUMNS.*: sums"):
        check(cfg, pe, simd, ops, out, when)    # ... the mutant does not


def test_products_of_a_tile():
    """Square tiles have PE x SIMD products; others the union of both readings."""
    assert [tile_products(p, s) for p, s in [(1, 1), (4, 4), (8, 10), (3, 7), (32, 10)]] == [1, 16, 96, 33, 540]
    assert tile_inputs(3, 7, 0) == list(range(7)) and tile_inputs(3, 7, 5) == [0, 1, 2]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(cfg=3, pe=2, simd=2), TypeError, r"^Configuration must be a HwConfig, not 3$"),
    (dict(pe=0, simd=2), ValueError, r"^pe must be at least 1, not 0$"),
    (dict(pe=2, simd=-1), ValueError, r"^simd must be at least 1, not -1$"),
    (dict(pe=2.0, simd=2), TypeError, r"^pe must be an int, not 2\.0$"),
])
def test_bad_parameters_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        TileMac(**{"cfg": CONFIGS["int8"], **kwargs})
