"""``python -m export [--config CONFIG] [--weights CHECKPOINT | IMAGES] --out DIR``: write the core (see
`export.writer`).

The configuration, the weights and the output folder are all checked before the Verilog is built: a
folder of memory images is read with the configuration its own ``manifest.json`` records (``--config``
may be left out), and a ``--config`` that disagrees with it is refused rather than read at the wrong
scale. Errors, exit statuses and ``--debug``: docs/errors.md.
"""

from __future__ import annotations

from pathlib import Path

from eqprop.atomic import check_replaceable
from eqprop.cli_support import UsageError, check_output_folder, guard, parser
from eqprop.hw.hwconfig import load_config
from eqprop.hw.memimage import manifest_config
from export.lint import LintError
from export.writer import ExportError, export_core, foreign_files, load_params


def _config(args):
    """The configuration: --config, else the manifest of a --weights folder of memory images."""
    if args.config is not None:
        return load_config(args.config)
    if args.weights is not None and Path(args.weights).is_dir():
        own = manifest_config(args.weights)
        if own is not None:
            return own
    raise UsageError("--config is required unless --weights is a folder of memory images with its manifest.json; "
                     "pass --config with a JSON object of HwConfig fields (an empty object {} is the default core)")


def _check_not_all_zero(path: str, params, *, strict: bool) -> None:
    """A checkpoint layer whose weights all quantise to zero gives a core that answers the same for every input:
    a warning, or with --strict an error, before anything is written."""
    import sys

    zero = [l for l, w in enumerate(params.weights) if not w.any()]
    if not zero:
        return
    which = f"layer {zero[0]}" if len(zero) == 1 else f"layers {', '.join(map(str, zero))}"
    text = (f"{path}: every weight of {which} quantises to zero (the trained weights are far smaller than the "
            "format's step); the core would answer the same for every input")
    if strict:
        raise UsageError(f"{text}; check the checkpoint, or drop --strict to export it anyway")
    print(f"warning: {text} (--strict refuses it)", file=sys.stderr)


@guard("the export", errors=(ExportError, LintError))
def main(argv: list[str]) -> int:
    ap = parser("python -m export", __doc__.split("\n\n")[0])
    ap.add_argument("--config", help="JSON object of HwConfig fields (default: the manifest of a --weights folder)")
    ap.add_argument("--weights", help="EqPropNet checkpoint, or a folder of memory images; default: zeros")
    ap.add_argument("--out", required=True, help="output folder (written atomically)")
    ap.add_argument("--top", default="eqprop_accel", help="Verilog top module name")
    ap.add_argument("--force", action="store_true", help="replace an earlier export in --out, swapped in whole "
                    "once the new one is complete (never a folder holding anything else)")
    ap.add_argument("--lint", action="store_true", help="run verilator --lint-only on the result")
    ap.add_argument("--strict", action="store_true", help="refuse, rather than warn about, a checkpoint whose "
                    "weights of a layer all quantise to zero")
    args = ap.parse_args(argv)
    if not args.top.isidentifier() or not args.top.isascii():
        raise UsageError(f"--top must be a Verilog identifier (letters, digits and _, not starting with a digit), "
                         f"not {args.top!r}")
    out = check_output_folder(args.out)
    check_replaceable(args.out, foreign_files, what="exported core")   # --force replaces only an earlier export
    if out.exists() and not args.force:
        raise UsageError(f"{args.out}: the output folder exists; remove it or pass --force")
    cfg = _config(args)
    from eqprop.hw.formats import config_registers

    config_registers(cfg)          # sizes the register windows cannot hold are refused before the build
    cfg, params = load_params(cfg, args.weights)
    if args.weights is not None and not Path(args.weights).is_dir():
        _check_not_all_zero(args.weights, params, strict=args.strict)
    files = export_core(cfg, params, args.out, top=args.top, force=args.force, lint=args.lint)
    for name, digest in files.items():
        print(f"{digest[:16]}  {args.out}/{name}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
