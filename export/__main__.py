"""``python -m export --config CONFIG [--weights CHECKPOINT] --out DIR``: write the core (see `export.writer`)."""

from __future__ import annotations

import argparse
import sys

from export.lint import LintError
from export.writer import ExportError, export_core, load_config, load_params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    ap.add_argument("--config", required=True, help="JSON object of HwConfig fields")
    ap.add_argument("--weights", help="EqPropNet checkpoint, or a folder of memory images; default: zeros")
    ap.add_argument("--out", required=True, help="output folder (written atomically)")
    ap.add_argument("--top", default="eqprop_accel", help="Verilog top module name")
    ap.add_argument("--force", action="store_true", help="replace an existing output folder")
    ap.add_argument("--lint", action="store_true", help="run verilator --lint-only on the result")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
        cfg, params = load_params(cfg, args.weights)
        files = export_core(cfg, params, args.out, top=args.top, force=args.force, lint=args.lint)
    except (ExportError, LintError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, digest in files.items():
        print(f"{digest[:16]}  {args.out}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
