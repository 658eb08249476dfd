"""The planned schedule of the tiled datapath, as an exact cycle model: layout, block order and the interleaving
of samples (docs/tiled-datapath.md). The tiled core (`rtl.tiled_core`) generates its controller's program
from these tables and its cycle model (`rtl.tiled_core.command_cycles`) is `interleave` with its own latency;
`projection` is this model at an assumed latency and clock, not a measurement.

Layout. State layer k is cut into blocks of N_k neurons, N_k = SIMD for even k and PE for odd k, so that the
block sizes alternate from one layer to the next. Weight layer l (W_l, shape (n_{l+1}, n_l)) is stored as
N_{l+1} x N_l tiles, one tile per memory word, tile (a, c) at word ``a * blocks(l) + c`` (a the block of
s_{l+1}, c the block of s_l); every word holds a PE x SIMD array ``w[i][j]``:

- even l (N_{l+1} = PE, N_l = SIMD): ``w[i][j] = W_l[a PE + i, c SIMD + j]``, the tile as it is;
- odd l (N_{l+1} = SIMD, N_l = PE): ``w[i][j] = W_l[a SIMD + j, c PE + i]``, the tile transposed;

zero past the matrix's edge. Then every sum into a block of s_{l+1} is one reduction of `rtl.tile.TileMac`:
`TileMode.ROWS` when l is even (PE neurons; bottom-up W_l s_l and top-down W_{l+1}^T s_{l+2} alike), and
`TileMode.COLUMNS` when l is odd (SIMD neurons).

A relaxation step visits the weight layers in order and each block of each layer once (`block_tiles`): the
top-down tiles W_{l+1}[r, a] for every block r of s_{l+2}, then the bottom-up tiles W_l[a, c] for every block c
of s_l (none for l = 0 with a cached drive); the first tile carries the load (the bias, or for l = 0 with a
cached drive the stored W_0 x + b_0) and the last the finish (activation, mixing, state write). A block with
no tiles still takes one issue (a zero tile with both flags): its length is max(1, tiles). The steps are
synchronous (each reads the old states and writes the new ones to another bank), so a step's blocks depend on
no other block of the same step and issue back to back. The drive pass of a sample (with a cached drive) is
W_0 x + b_0 for every block of s_1: blocks(1) x blocks(0) tiles.

Interleaving (`interleave`). B samples share one set of lanes, round-robin: a sample's next unit of work
(its drive pass, then one step after another) may start no sooner than G cycles after the last issue of its
previous unit (G, the pipeline's latency from an issue to its state write and the early-exit flag: a step
reads the states the one before wrote, and whether the sample has reached its fixed point is known only
then). In each cycle with nothing in flight, the lanes take the next slot in round-robin order whose sample is
ready; a sample stops after its own step count (its fixed point: the step that changed no state included),
and its slot then takes the next sample waiting (with ``slots`` < the number of samples), G cycles after
the last issue. The cycles of a run end G cycles after its last issue.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eqprop.cli_support import guard, parser, positive_float, positive_int
from rtl.tile import TileMode

__all__ = ["PROJECTED", "Tile", "TilePlan", "Timeline", "Unit", "block_tiles", "interleave", "main", "projection",
           "step_cycles", "tile_bound", "tile_matrix", "tile_memory", "tile_word"]


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


@dataclass(frozen=True)
class TilePlan:
    """The shape of a tiled core's schedule: layer sizes, tile shape, the cached drive and the pipeline latency.

    Parameters
    ----------
    sizes : tuple of int
        ``(n_0, ..., n_L)``, as `eqprop.hw.hwconfig.HwConfig.sizes`.
    pe, simd : int
        The weight tile's rows and columns (`rtl.tile.TileMac`).
    cache_drive : bool
        The input drive W_0 x + b_0 is computed once per sample (a drive pass) and loaded by layer 0's blocks.
    latency : int
        G: cycles from a unit's last issue to the earliest issue of the same sample's next unit (1: back to back).

    Raises
    ------
    TypeError, ValueError
        A size, `pe`, `simd` or `latency` that is not a positive int; `cache_drive` not a bool.
    """

    sizes: tuple[int, ...]
    pe: int
    simd: int
    cache_drive: bool = True
    latency: int = 16   # G

    def __post_init__(self):
        sizes = tuple(self.sizes) if isinstance(self.sizes, list | tuple) else self.sizes
        if not isinstance(sizes, tuple) or len(sizes) < 2 or not all(_is_int(n) and n >= 1 for n in sizes):
            raise ValueError(f"sizes must be a tuple of at least two positive integers, not {self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(int(n) for n in sizes))
        for name in ("pe", "simd", "latency"):
            value = getattr(self, name)
            if not _is_int(value):
                raise TypeError(f"{name} must be an int, not {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value!r}")
        if not isinstance(self.cache_drive, bool):
            raise TypeError(f"cache_drive must be a bool, not {self.cache_drive!r}")

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def block_size(self, k: int) -> int:
        """N_k, the neurons of a block of state layer k: SIMD for even k, PE for odd k."""
        return self.simd if k % 2 == 0 else self.pe

    def blocks(self, k: int) -> int:
        """Blocks of state layer k: ceil(n_k / N_k)."""
        return -(-self.sizes[k] // self.block_size(k))

    def mode(self, l: int) -> TileMode:
        """The reduction of every sum into s_{l+1}: ROWS for even l (PE neurons a block), COLUMNS for odd l."""
        return TileMode.ROWS if l % 2 == 0 else TileMode.COLUMNS

    def words(self, l: int) -> int:
        """Tiles (memory words) of W_l: blocks(l + 1) x blocks(l)."""
        return self.blocks(l + 1) * self.blocks(l)


# ----------------------------------------------------------------------------------------------
# layout

def tile_word(plan: TilePlan, weights: np.ndarray, l: int, a: int, c: int) -> np.ndarray:
    """The (PE, SIMD) tile of W_l (`weights`, (n_{l+1}, n_l)) at block a of s_{l+1} and block c of s_l, as the
    module's layout stores it (transposed for odd l, zeros past the edge)."""
    w = np.asarray(weights)
    if w.shape != (plan.sizes[l + 1], plan.sizes[l]):
        raise ValueError(f"weights of layer {l} must have shape {(plan.sizes[l + 1], plan.sizes[l])}, not {w.shape}")
    rows, cols = plan.block_size(l + 1), plan.block_size(l)
    block = np.zeros((rows, cols), dtype=w.dtype)
    part = w[a * rows:(a + 1) * rows, c * cols:(c + 1) * cols]      # (<= N_{l+1}, <= N_l)
    block[:part.shape[0], :part.shape[1]] = part
    return block if l % 2 == 0 else block.T                          # (PE, SIMD) either way


def tile_memory(plan: TilePlan, weights: np.ndarray, l: int) -> np.ndarray:
    """Every tile of W_l in word order, (words, PE, SIMD): word ``a * blocks(l) + c`` holds `tile_word` (a, c)."""
    return np.stack([tile_word(plan, weights, l, a, c) for a in range(plan.blocks(l + 1))
                     for c in range(plan.blocks(l))])


def tile_matrix(plan: TilePlan, tiles: np.ndarray, l: int) -> np.ndarray:
    """W_l from its tiles in word order ((words, PE, SIMD)): the inverse of `tile_memory`."""
    rows, cols = plan.block_size(l + 1), plan.block_size(l)
    full = np.zeros((plan.blocks(l + 1) * rows, plan.blocks(l) * cols), dtype=np.int64)
    for w, tile in enumerate(tiles):
        a, c = divmod(w, plan.blocks(l))
        full[a * rows:(a + 1) * rows, c * cols:(c + 1) * cols] = tile if l % 2 == 0 else tile.T
    return full[:plan.sizes[l + 1], :plan.sizes[l]]


@dataclass(frozen=True)
class Tile:
    """One issue of a block: the tile of W_``layer`` at ``word`` times the state word ``state_word`` of state
    layer ``state_layer`` (``kind`` "top-down", "bottom-up" or "empty": a zero tile, for a block with none);
    ``first`` carries the load, ``last`` the finish."""

    kind: str
    layer: int
    word: int
    state_layer: int
    state_word: int
    first: bool
    last: bool


def block_tiles(plan: TilePlan, l: int, a: int) -> list[Tile]:
    """The issues of block a of s_{l+1} in one relaxation step, in order: top-down tiles, then bottom-up ones."""
    L = plan.n_layers
    raw = []
    if l + 1 < L:     # W_{l+1}^T s_{l+2}: tile (r, a) of W_{l+1}
        raw += [("top-down", l + 1, r * plan.blocks(l + 1) + a, l + 2, r) for r in range(plan.blocks(l + 2))]
    if not (l == 0 and plan.cache_drive):      # W_l s_l: tile (a, c) of W_l
        raw += [("bottom-up", l, a * plan.blocks(l) + c, l, c) for c in range(plan.blocks(l))]
    raw = raw or [("empty", l, 0, l, 0)]
    return [Tile(*t, first=i == 0, last=i == len(raw) - 1) for i, t in enumerate(raw)]


def step_cycles(plan: TilePlan) -> int:
    """S, the issues of one relaxation step: the sum over every block of every layer of max(1, its tiles)."""
    return sum(len(block_tiles(plan, l, a)) for l in range(plan.n_layers) for a in range(plan.blocks(l + 1)))


def drive_cycles(plan: TilePlan) -> int:
    """D, the issues of one sample's drive pass: blocks(1) x blocks(0) tiles of W_0 (0 without a cached drive)."""
    return plan.words(0) if plan.cache_drive else 0


# ----------------------------------------------------------------------------------------------
# interleaving

@dataclass(frozen=True)
class Unit:
    """A sample's unit of work as issued: ``kind`` "drive" or "step" (``step`` 1, 2, ...; 0 for the drive), on
    ``slot``, issuing in cycles ``start`` .. ``end`` (one tile a cycle)."""

    sample: int
    slot: int
    kind: str
    step: int
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    """The units of a run in issue order, and ``cycles``: the last issue's cycle + G (0 for an empty run)."""

    units: tuple[Unit, ...]
    cycles: int

    @property
    def busy(self) -> int:
        """Cycles that issue a tile."""
        return sum(u.end - u.start + 1 for u in self.units)


def _check_steps(steps) -> list[int]:
    steps = list(steps)
    if not steps or not all(_is_int(s) and s >= 1 for s in steps):
        raise ValueError(f"steps must be one positive int per sample (its free steps), not {steps!r}")
    return [int(s) for s in steps]


def interleave(plan: TilePlan, steps: Sequence[int], slots: int | None = None, *, refill: int = 0,
               occupancy: int = 1, drive: bool = True) -> Timeline:
    """The run of samples that take `steps` free steps each (to their fixed point, the step that changed no state
    included), `slots` of them in flight at once (default: all, one command of B = len(steps) samples), issued
    round-robin as the module's docstring says; a slot that takes a new sample may issue its first unit `refill`
    cycles after the old sample's G (`rtl.tiled_core` decides that its sample has stopped at G, and hands the
    slot over in that cycle). A unit holds the tile for at least `occupancy` cycles (a core that decides each
    pick a cycle ahead cannot pick in the cycle after a pick: a one-tile unit is followed by an idle cycle).

    Raises
    ------
    ValueError
        `steps` empty or not positive ints; `slots` not in 1 .. len(steps).
    """
    steps = _check_steps(steps)
    slots = len(steps) if slots is None else slots
    if not _is_int(slots) or not 1 <= slots <= len(steps):
        raise ValueError(f"slots must be an int in 1 .. the number of samples ({len(steps)}), not {slots!r}")
    if not _is_int(refill) or refill < 0:
        raise ValueError(f"refill must be a non-negative int, not {refill!r}")
    if not _is_int(occupancy) or occupancy < 1:
        raise ValueError(f"occupancy must be a positive int, not {occupancy!r}")
    G, D, S = plan.latency, drive_cycles(plan), step_cycles(plan)

    def work(n):     # a sample's units, in order
        return ([("drive", 0, D)] if D and drive else []) + [("step", t + 1, S) for t in range(steps[n])]

    pending = iter(range(len(steps)))
    slot = [next(pending) for _ in range(slots)]            # the sample each slot holds (None: idle)
    todo = [work(n) for n in slot]
    ready = [0] * slots
    units, now, last = [], 0, -1
    while any(s is not None for s in slot):
        order = [(last + 1 + i) % slots for i in range(slots)]
        go = [k for k in order if slot[k] is not None and ready[k] <= now]
        if not go:
            now = min(ready[k] for k in range(slots) if slot[k] is not None)
            continue
        k = go[0]
        kind, t, length = todo[k].pop(0)
        units.append(Unit(slot[k], k, kind, t, now, now + length - 1))
        ready[k], now, last = now + length - 1 + G, now + max(length, occupancy), k
        if not todo[k]:      # the sample has stopped; its slot takes the next one waiting, if any
            slot[k] = next(pending, None)
            todo[k] = work(slot[k]) if slot[k] is not None else []
            ready[k] += refill if slot[k] is not None else 0
    return Timeline(tuple(units), units[-1].end + G if units else 0)


def macs(plan: TilePlan, steps: Sequence[int]) -> int:
    """Multiply-adds of the samples' runs: each sample's drive pass (n_0 n_1 with a cached drive) and its steps
    (every W_l bottom-up, every W_{l+1} top-down, less W_0's with a cached drive)."""
    n, L = plan.sizes, plan.n_layers
    step = sum(n[l] * n[l + 1] for l in range(L)) + sum(n[l + 1] * n[l + 2] for l in range(L - 1))
    drive = n[0] * n[1] if plan.cache_drive else 0
    return sum(drive + t * (step - drive) for t in _check_steps(steps))


def tile_bound(plan: TilePlan, steps: Sequence[int]) -> float:
    """The tile bound of the run: multiply-adds / (PE x SIMD), the cycles of one set of lanes never idle and
    never padded."""
    return macs(plan, steps) / (plan.pe * plan.simd)


# ----------------------------------------------------------------------------------------------
# the projection (a schedule, not a measurement)

# (name, sizes, weight format, PE, SIMD, B samples per command) of the designs
PROJECTED = (
    ("int8 8x10", (64, 64, 10), "int", 8, 10, 1),
    ("int8 8x10", (64, 64, 10), "int", 8, 10, 2),
    ("int8 16x10", (64, 64, 10), "int", 16, 10, 1),
    ("int8 16x10", (64, 64, 10), "int", 16, 10, 2),
    ("ternary 32x10", (64, 64, 10), "ternary", 32, 10, 4),
)


def projection(mean_steps: int = 18, latency: int = 16, clock_mhz: float = 100.0, designs=PROJECTED) -> list[dict]:
    """Per design: the cycles of one command of B samples that each take `mean_steps` free steps, per inference,
    the tile bound per inference and the ratio, and inferences/s at `clock_mhz`: what the planned schedule
    would give, not a measurement of any hardware."""
    rows = []
    for name, sizes, fmt, pe, simd, b in designs:
        plan = TilePlan(sizes=sizes, pe=pe, simd=simd, latency=latency)
        steps = [mean_steps] * b
        run = interleave(plan, steps)
        per = run.cycles / b
        rows.append({"design": name, "sizes": "-".join(map(str, sizes)), "format": fmt, "PE": pe, "SIMD": simd,
                     "B": b, "G": latency, "steps": mean_steps, "step_cycles": step_cycles(plan),
                     "drive_cycles": drive_cycles(plan), "command_cycles": run.cycles, "cycles_per_inference": per,
                     "tile_bound_per_inference": tile_bound(plan, steps) / b,
                     "bound_ratio": per / (tile_bound(plan, steps) / b), "busy": run.busy / run.cycles,
                     "inferences_per_s": clock_mhz * 1e6 / per})
    return rows


def format_projection(rows: list[dict], clock_mhz: float) -> str:
    """The projection as a Markdown table, labelled as a projection."""
    head = (f"PROJECTION of the planned tiled schedule (rtl.tiled_schedule), not a measurement: every sample "
            f"takes {rows[0]['steps']} free steps, G = {rows[0]['G']} cycles, one command of B samples, "
            f"{clock_mhz:g} MHz assumed (the placed tiled designs: make fpga-tiled, docs/tiled-datapath.md)\n\n")
    lines = ["| design | sizes | B | step | drive | cycles/command | cycles/inference | tile bound | ratio | "
             "lanes busy | inferences/s (projected) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['design']} | {r['sizes']} | {r['B']} | {r['step_cycles']} | {r['drive_cycles']} | "
                     f"{r['command_cycles']} | {r['cycles_per_inference']:.1f} | "
                     f"{r['tile_bound_per_inference']:.1f} | {r['bound_ratio']:.2f} | {r['busy']:.0%} | "
                     f"{r['inferences_per_s']:,.0f} |")
    return head + "\n".join(lines) + "\n"


@guard("the projection")
def main(argv: list[str]) -> int:
    ap = parser("python -m rtl.tiled_schedule", "Print the cycles per inference that the planned tiled schedule "
                "projects for the issue's 64-64-10 designs (a model of a schedule, not a measurement).")
    ap.add_argument("--steps", type=positive_int, default=18, help="free steps every sample takes (default 18)")
    ap.add_argument("--latency", type=positive_int, default=16, help="G, the pipeline latency (default 16)")
    ap.add_argument("--clock-mhz", type=positive_float, default=100.0, help="clock to convert at (default 100)")
    args = ap.parse_args(argv)
    print(format_projection(projection(args.steps, args.latency, args.clock_mhz), args.clock_mhz), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
