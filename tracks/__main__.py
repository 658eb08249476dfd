"""``python -m tracks``: run the verification tracks and write the notebook.

    python -m tracks                 # every registered track, quick mode, into results/
    python -m tracks --track 1 3 5   # some tracks
    python -m tracks --list          # the tracks and their claims
    python -m tracks --full          # more seeds, longer training

Exit status: 0 when every track ran (whatever its verdict), 1 when a track crashed (ERROR),
2 for a bad command line.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

import torch

from tracks.base import Context
from tracks.registry import NOT_REGISTERED, get_tracks
from tracks.runner import run_tracks, summary_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tracks", description="Run the EqProp verification tracks.")
    p.add_argument("--track", type=int, nargs="+", metavar="N", help="run only these track numbers")
    p.add_argument("--list", action="store_true", help="list the registered tracks and their claims, run nothing")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick mode (the default): one seed, short training")
    mode.add_argument("--full", action="store_true", help="full mode: three seeds, longer training")
    p.add_argument("--out", default="results", help="output folder for the notebook, JSON and figures")
    p.add_argument("--seed", type=int, default=0, help="base seed")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 keeps the numbers identical from machine to machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        tracks = get_tracks(args.track)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for t in tracks:
            print(f"{t.number:2d}. {t.title}")
            print(textwrap.fill(t.claim, 100, initial_indent="    claim: ", subsequent_indent="    "))
        print("not registered: " + "; ".join(f"{k}: {v}" for k, v in NOT_REGISTERED.items()))
        return 0
    if args.threads < 1:
        print(f"error: --threads must be at least 1, not {args.threads}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    ctx = Context(mode="full" if args.full else "quick", out_dir=args.out, seed=args.seed)
    report = run_tracks(tracks, ctx, progress=not args.no_progress)
    print(summary_table(report))
    print(f"wrote {ctx.out_dir}/verification_notebook.md and {ctx.out_dir}/tracks.json")
    return 1 if any(r["status"] == "ERROR" for r in report["tracks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
