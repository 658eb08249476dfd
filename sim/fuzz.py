"""Fuzzed configurations: seeded random `HwConfig`s, each co-simulated against the golden model.

``python -m sim.fuzz --count 50 --seed 1`` (``make fuzz``; ``make test`` co-simulates the first points of
seed 0) draws `count` configurations with
`random_config` (sizes, hidden layers, lane counts that do and do not divide the layers, INT and ternary
weights, weight, shadow, state and bias widths, shifts, rounding, estimator, ternary threshold, early
exit, the cached drive, inference-only cores and their samples per command), exports and builds each
one (`sim.runner.build`) and runs the cocotb testbench on random and corner-case vectors
(`sim.vectors.corner_sets`): INFER with and without bus stalls, online TRAIN with every parameter read
back through the bus after every step, and every illegal access, compared with the golden model on
every state, weight and counter.

Point i of a run is drawn from ``numpy.random.default_rng([seed, i])``, so any point can be drawn
again alone. A point that fails (a mismatch, a build error, an exception anywhere) is printed and
written as a reproducer, ``<out>/failing-<seed>-<i>.json``: the configuration's fields, the vector
seed and count, the simulator, the error, and the command that replays it
(``python -m sim.fuzz --replay FILE``). Every run writes ``<out>/summary.json`` (one record per point,
rewritten after each point).
The exit status is 1 when any point failed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from eqprop.atomic import atomic_path
from eqprop.cli_support import (
    EXIT_FAILED,
    UsageError,
    check_output_folder,
    guard,
    non_negative_int,
    parser,
    positive_int,
)
from eqprop.hw.hwconfig import (
    ESTIMATORS,
    MAX_SAMPLES,
    ROUNDINGS,
    HwConfig,
    check_buildable,
    config_fields,
    config_from_fields,
)
from sim import runner
from sim.cases import write_cases
from sim.tiled import TiledPoint
from sim.tiled import fuzz as fuzz_tiled
from sim.vectors import FAMILIES, corner_sets

__all__ = ["DEFAULT_OUT", "FuzzError", "Point", "draw", "draw_tiled", "draw_tiled_learning", "fuzz", "main",
           "random_config", "replay", "run_point"]

DEFAULT_OUT = Path("results") / "fuzz"     # where the command runs, as every command's results/
MAX_DRAWS = 200     # tries for one valid configuration (a draw can break a rule of HwConfig, e.g. the update shift)


class FuzzError(ValueError):
    """A reproducer file that cannot be replayed (missing, not JSON, a field missing or invalid)."""


def random_config(rng: np.random.Generator) -> HwConfig:
    """A valid, buildable `HwConfig` drawn from `rng`, small enough to co-simulate in seconds.

    Every option of the core is drawn: one or two hidden layers of 2 .. 12 neurons (inputs 2 .. 16,
    outputs 2 .. 6), P from 1 to the widest layer (often one that does not divide a layer), INT weights
    of 3 .. 8 bits or ternary, shadow 3 .. 10 bits wider than the weights, states of 3 .. 8 bits, bias
    widths, beta, eps and learning-rate shifts, the rounding, the estimator, the ternary threshold,
    early exit, the cached drive and zero-skipping, and inference-only cores with 1 .. 4 samples per command. A draw
    that breaks a rule of `HwConfig` is drawn again.
    """
    def pick(options):
        return options[int(rng.integers(len(options)))]

    for _ in range(MAX_DRAWS):
        hidden = [int(rng.integers(2, 13)) for _ in range(1 if rng.random() < 0.7 else 2)]
        sizes = (int(rng.integers(2, 17)), *hidden, int(rng.integers(2, 7)))
        ternary = rng.random() < 0.4
        weight_bits = 2 if ternary else int(rng.integers(3, 9))
        state_bits = int(rng.integers(3, 9))
        early_exit = bool(rng.random() < 0.7)
        learning = bool(rng.random() < 0.7)
        lanes = int(rng.integers(1, max(sizes) + 1)) if rng.random() < 0.8 else int(rng.integers(1, 5))
        fields = dict(
            sizes=sizes, state_bits=state_bits, weight_format="ternary" if ternary else "int",
            weight_bits=weight_bits, shadow_bits=weight_bits + int(rng.integers(3, 11)),
            bias_bits=int(rng.integers(8, 25)),
            # long limits with early exit (the phases settle), short ones without (every step runs)
            free_steps=int(rng.integers(8, 41)) if early_exit else int(rng.integers(2, 7)),
            nudge_steps=int(rng.integers(4, 21)) if early_exit else int(rng.integers(1, 5)),
            beta_shift=int(rng.integers(0, 4)), eps_shift=int(rng.integers(0, min(state_bits, 3) + 1)),
            lr_shifts=tuple(int(rng.integers(2, 9)) for _ in range(len(sizes) - 1)),
            estimator=pick(ESTIMATORS), rounding=pick(ROUNDINGS), ternary_threshold=int(rng.integers(1, 9)),
            mac_lanes=lanes, early_exit=early_exit, cache_drive=bool(rng.random() < 0.7), learning=learning,
            samples=1 if learning else int(rng.integers(1, min(4, MAX_SAMPLES) + 1)),
        )
        fields["zero_skip"] = bool(rng.random() < 0.5)     # drawn after the others, which keep their draws
        try:
            return check_buildable(HwConfig(**fields))
        except ValueError:
            continue
    raise RuntimeError(f"no valid HwConfig in {MAX_DRAWS} draws: the generator's ranges break HwConfig's rules")


def draw(seed: int, index: int) -> HwConfig:
    """Point `index` of a run with `seed`: the same configuration every time."""
    return random_config(np.random.default_rng([seed, index]))


@dataclasses.dataclass
class Point:
    """One fuzzed configuration and how its co-simulation went."""

    index: int
    cfg: HwConfig
    ok: bool
    error: str = ""
    wall_s: float = 0.0
    cases: int = 0

    def record(self) -> dict:
        return {"index": self.index, "key": runner.config_key(self.cfg), "ok": self.ok, "wall_s": round(self.wall_s, 2),
                "cases": self.cases, "config": config_fields(self.cfg), **({"error": self.error} if self.error else {})}


def draw_tiled(seed: int, index: int) -> TiledPoint:
    """Point `index` of a tiled fuzz run with `seed` (the same every time): `sim.fuzz.random_config`'s draw made
    inference-only without zero-skipping, and a tile, samples and slots drawn after it."""
    rng = np.random.default_rng([seed, index])
    base = random_config(rng)
    cfg = check_buildable(base.replace(learning=False, zero_skip=False, samples=1, weight_frac=base.weight_frac,
                                       lr_shifts=base.lr_shifts))
    widest = max(cfg.sizes)
    pe, simd = (int(rng.integers(1, widest + 1)) for _ in range(2))
    samples = int(rng.integers(1, 6))
    return TiledPoint(cfg, pe, simd, samples, int(rng.integers(1, samples + 1)))


def draw_tiled_learning(seed: int, index: int) -> TiledPoint:
    """Point `index` of a learning tiled fuzz run with `seed`: `sim.fuzz.random_config`'s draw (from its own
    stream, ``[seed, index, 1]``) made a learning core without zero-skipping, and a tile, the tile rows its
    update takes a cycle (a divisor of PE), its samples (INFER's; TRAIN takes the first) and slots drawn after it."""
    rng = np.random.default_rng([seed, index, 1])
    base = random_config(rng)
    cfg = check_buildable(base.replace(learning=True, zero_skip=False, samples=1, weight_frac=base.weight_frac,
                                       lr_shifts=base.lr_shifts))
    widest = max(cfg.sizes)
    pe, simd = (int(rng.integers(1, widest + 1)) for _ in range(2))
    divisors = [r for r in range(1, pe + 1) if pe % r == 0]
    rows = divisors[int(rng.integers(len(divisors)))]
    samples = int(rng.integers(1, 5))
    return TiledPoint(cfg, pe, simd, samples, int(rng.integers(1, samples + 1)), rows)


def vectors_for(cfg: HwConfig) -> int:
    """Cases per point: two per vector family, and B distinct samples in each family's command."""
    return len(FAMILIES) * max(2, cfg.samples)


def run_point(cfg: HwConfig, *, index: int = 0, vector_seed: int = 0, sim: str | None = None,
              progress: str | None = None) -> Point:
    """Build and co-simulate `cfg` on `vectors_for(cfg)` vectors drawn with `vector_seed`. Any failure
    (a mismatch, a build error, an exception) is caught and returned in the `Point`; a simulator that is
    not installed is not a failure of the design and raises `sim.runner.ToolMissing`."""
    t0 = time.perf_counter()
    n = vectors_for(cfg)
    try:
        b = runner.build(cfg, sim=sim)
        run = runner.run(b, write_cases(cfg, corner_sets(cfg, n, seed=vector_seed)), progress=progress)
        expected = 4 if cfg.learning else 2     # INFER with and without stalls, and TRAIN the same
        if len(run.stats) != expected or any(s["cases"] != n for s in run.stats):
            raise runner.SimError(f"the testbench ran {[(s['test'], s['cases']) for s in run.stats]}, not {expected} "
                                  f"tests of {n} cases")
    except runner.ToolMissing:
        raise
    except Exception as e:  # noqa: BLE001 - every failure of a point is a finding, recorded with its traceback
        detail = str(e) if isinstance(e, runner.SimError) else traceback.format_exc()
        return Point(index, cfg, False, f"{type(e).__name__}: {detail}", time.perf_counter() - t0)
    return Point(index, cfg, True, "", time.perf_counter() - t0, n)


def write_reproducer(point: Point, *, seed: int, sim: str, out: Path) -> Path:
    """Write `point`'s reproducer to ``out/failing-<seed>-<index>.json`` and return its path."""
    path = Path(out) / f"failing-{seed}-{point.index}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"config": config_fields(point.cfg), "vector_seed": seed, "vectors": vectors_for(point.cfg),
            "sim": sim, "fuzz_seed": seed, "index": point.index, "error": point.error,
            "replay": f"python -m sim.fuzz --replay {path.name} (from {path.parent})"}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=1) + "\n")
    return path


def fuzz(count: int, *, seed: int = 0, sim: str | None = None, out: Path = DEFAULT_OUT,
         start: int = 0, echo=print) -> list[Point]:
    """Co-simulate points ``start .. start + count - 1`` of the run with `seed`; write a reproducer for each
    failing point and ``out/summary.json``; return the points."""
    from tqdm.auto import tqdm

    sim = sim or runner.default_simulator()
    out = Path(out)
    points: list[Point] = []
    bar = tqdm(range(start, start + count), desc=f"fuzz seed {seed} ({sim})", unit="config")
    out.mkdir(parents=True, exist_ok=True)
    for i in bar:
        cfg = draw(seed, i)
        bar.set_postfix_str(f"{runner.config_key(cfg)} failed {sum(not p.ok for p in points)}")
        point = run_point(cfg, index=i, vector_seed=seed, sim=sim)
        points.append(point)
        if not point.ok:
            path = write_reproducer(point, seed=seed, sim=sim, out=out)
            echo(f"FAILED point {i} of seed {seed}: {runner.config_key(cfg)}\n  config: "
                 f"{json.dumps(config_fields(cfg))}\n  reproducer: {path}\n  {point.error.splitlines()[0]}")
        # after every point, so that an interrupted run keeps what it did
        summary = {"seed": seed, "sim": sim, "start": start, "count": count, "done": len(points),
                   "failed": sum(not p.ok for p in points), "wall_s": round(sum(p.wall_s for p in points), 1),
                   "points": [p.record() for p in points]}
        with atomic_path(out / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return points


def load_reproducer(path: str | Path) -> tuple[HwConfig, int, str | None]:
    """(configuration, vector seed, simulator) of a reproducer file written by `fuzz`."""
    path = Path(path)
    try:
        body = json.loads(path.read_text())
    except OSError as e:
        raise FuzzError(f"{path}: cannot read the reproducer ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FuzzError(f"{path}: not a reproducer written by python -m sim.fuzz (invalid JSON: {e})") from None
    except RecursionError:
        raise FuzzError(f"{path}: not a reproducer written by python -m sim.fuzz (nested too deeply)") from None
    if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
        raise FuzzError(f"{path}: a reproducer holds an object with a \"config\" object of HwConfig fields")
    seed = body.get("vector_seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise FuzzError(f"{path}: vector_seed must be a non-negative integer, not {seed!r}")
    try:
        cfg = config_from_fields(body["config"], f"{path}: config")
    except ValueError as e:
        raise FuzzError(str(e)) from None
    return cfg, seed, body.get("sim")


def replay(path: str | Path, *, sim: str | None = None) -> Point:
    """Co-simulate the configuration of a reproducer again, with its vectors."""
    cfg, seed, recorded = load_reproducer(path)
    return run_point(cfg, vector_seed=seed, sim=sim or recorded, progress="replay")


@guard("the fuzz run", errors=(FuzzError, runner.ToolMissing, runner.SimError))   # SimError: $SIM names no simulator
def main(argv: list[str]) -> int:
    ap = parser("python -m sim.fuzz", __doc__.split("\n\n")[0])
    ap.add_argument("--count", type=positive_int, default=50, help="configurations to co-simulate (default 50)")
    ap.add_argument("--seed", type=non_negative_int, default=0, help="the run's seed: point i is drawn from (seed, i)")
    ap.add_argument("--start", type=non_negative_int, default=0, help="first point index (to continue a run)")
    ap.add_argument("--sim", choices=runner.SIMULATORS, default=None, help="simulator (default: Verilator)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="reproducers and summary.json (default results/fuzz)")
    ap.add_argument("--replay", type=Path, metavar="FILE", help="co-simulate one reproducer again")
    ap.add_argument("--list", action="store_true", help="print the configurations the run would draw, and stop")
    ap.add_argument("--tiled", action="store_true",
                    help="fuzz the tiled core instead (sim.tiled: a tile, samples and slots drawn too; "
                         "Amaranth's simulator, no build)")
    ap.add_argument("--learning", action="store_true",
                    help="with --tiled: learning cores, two TRAIN commands a vector family, every parameter checked")
    args = ap.parse_args(argv)
    if args.learning and not args.tiled:
        raise UsageError("--learning needs --tiled (the P-lane fuzz run draws learning cores already)")
    if args.tiled:
        drawer = draw_tiled_learning if args.learning else draw_tiled
        if args.list:
            for i in range(args.start, args.start + args.count):
                print(i, drawer(args.seed, i).describe())
            return 0
        failed = fuzz_tiled(args.count, drawer, seed=args.seed, start=args.start)
        print(f"{args.count} tiled cores simulated against the golden model: {args.count - failed} with 0 "
              f"mismatches, {failed} failed")
        return EXIT_FAILED if failed else 0
    if args.replay:
        point = replay(args.replay, sim=args.sim)
        print(f"{runner.config_key(point.cfg)}: {'0 mismatches' if point.ok else 'FAILED'} "
              f"({point.wall_s:.1f} s)\n{point.error}".rstrip())
        return EXIT_FAILED if not point.ok else 0
    if args.list:
        for i in range(args.start, args.start + args.count):
            print(i, json.dumps(config_fields(draw(args.seed, i))))
        return 0
    check_output_folder(args.out, files=("summary.json",))     # before the first build, not after it
    points = fuzz(args.count, seed=args.seed, sim=args.sim, out=args.out, start=args.start)
    failed = [p for p in points if not p.ok]
    print(f"{len(points)} configurations co-simulated against the golden model: "
          f"{len(points) - len(failed)} with 0 mismatches, {len(failed)} failed; "
          f"summary in {args.out / 'summary.json'}")
    return EXIT_FAILED if failed else 0


if __name__ == "__main__":
    sys.exit(main())
