"""Run the verification tracks and write the notebook (results/verification_notebook.md, JSON, plots).

A run of some tracks into a folder that holds an earlier report merges into it (the other tracks'
results are kept; tracks.runner). Exit status: 0 when every track ran (whatever its verdict), 1 when
a track crashed (ERROR), 2 for a bad command line or output folder, 130 at Ctrl-C (docs/errors.md).

examples:
  python -m tracks                 # every registered track, quick mode, into results/
  python -m tracks --track 1 3 5   # some tracks
  python -m tracks --list          # the tracks and their claims
  python -m tracks --full          # more seeds, longer training
"""

from __future__ import annotations

import sys
import textwrap

from eqprop.cli_support import check_output_folder, guard, parser, positive_int, seed_int
from tracks.base import Context
from tracks.registry import NOT_REGISTERED, get_tracks
from tracks.runner import NOTEBOOK, REPORT, previous_report, run_tracks, summary_table


def _parser():
    summary, _, details = __doc__.partition("\n\n")
    p = parser("python -m tracks", summary, epilog=details)
    p.add_argument("--track", type=positive_int, nargs="+", metavar="N", help="run only these track numbers")
    p.add_argument("--list", action="store_true", help="list the registered tracks and their claims, run nothing")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick mode (the default): one seed, short training")
    mode.add_argument("--full", action="store_true", help="full mode: three seeds, longer training")
    p.add_argument("--out", default="results", help="output folder for the notebook, JSON and figures; an earlier "
                   "report there is merged into, not replaced")
    p.add_argument("--seed", type=seed_int, default=0, help="base seed")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads (1 keeps the numbers identical from machine to machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@guard("the tracks run")
def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    tracks = get_tracks(args.track)
    if args.list:
        for t in tracks:
            print(f"{t.number:2d}. {t.title}")
            print(textwrap.fill(t.claim, 100, initial_indent="    claim: ", subsequent_indent="    "))
        print("not registered: " + "; ".join(f"{k}: {v}" for k, v in NOT_REGISTERED.items()))
        return 0
    check_output_folder(args.out, files=(REPORT, NOTEBOOK))
    previous_report(args.out)          # an unreadable earlier report stops the run before it starts
    import torch

    torch.set_num_threads(args.threads)
    ctx = Context(mode="full" if args.full else "quick", out_dir=args.out, seed=args.seed)
    report = run_tracks(tracks, ctx, progress=not args.no_progress)
    print(summary_table(report))
    print(f"wrote {ctx.out_dir}/{NOTEBOOK} and {ctx.out_dir}/{REPORT}")
    return 1 if any(r["status"] == "ERROR" for r in report["tracks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
