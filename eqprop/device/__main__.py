"""Run the digits test split on an accelerator and compare every result with the golden model's.

The accelerator is a board on a serial port (--port, at --baud: the bitstream of make bitstream), the
co-simulated board top (--cosim: the UART bridge and the core as Verilog under Verilator, the UART at
the board's clock and baud rate, so simulated time is the board's), or the golden model (--golden).
The weights are an exported core's folder (--core: what python -m export writes; its manifest.json
gives the configuration), or trained here by the golden model's on-chip training for --train epochs
(the configuration of --board; an inference-only core takes its learning twin's weights). --board
names the board whose clock and baud rate --cosim simulates (without it: 8 clock cycles a UART bit,
and simulated cycles are reported but not seconds). A mismatch with the golden model fails the
command (exit 1). The report: accuracy, mismatches, the bytes each inference moves over the UART and
the host-visible inferences per second, next to the core's own.

examples:
  python -m export --weights runs/eqprop-digits-seed0/checkpoint.pt --out core/
  python -m eqprop.device infer --golden --core core/
  python -m eqprop.device infer --cosim --core core/ --limit 20
  python -m eqprop.device infer --cosim --board icebreaker --train 3
  python -m eqprop.device infer --port /dev/ttyUSB1 --core core/
"""

from __future__ import annotations

import sys
import time

import numpy as np

from eqprop.cli_support import UsageError, guard, parser, positive_float, positive_int
from eqprop.device.accelerator import BackendMissing
from eqprop.device.link import DEFAULT_BAUD, DeviceError, LinkError

EXIT_MISMATCH = 1


def _params(args, cfg):
    from eqprop.hw import golden
    from export.images import read_images

    if args.core:
        return read_images(cfg, args.core)
    from eqprop.data import load_digits_split
    from eqprop.hw.onchip import annealed, train_epochs

    learner = cfg if cfg.learning else cfg.learning_twin()
    params, history = train_epochs(learner, golden.init_params(learner, seed=0), load_digits_split(),
                                   epochs=args.train, seed=0, schedule=annealed(learner.lr_shifts, args.train),
                                   desc="golden training")
    return params


def _core_cfg(folder):
    """The configuration an exported core's manifest records."""
    from pathlib import Path

    from eqprop.cli_support import UsageError
    from eqprop.hw.memimage import manifest_config

    if not Path(folder).is_dir():
        raise UsageError(f"--core must be an exported core's folder (python -m export --out), not {folder!r}")
    cfg = manifest_config(folder)
    if cfg is None:
        raise UsageError(f"{folder}: no manifest.json; --core takes the folder python -m export writes")
    return cfg


def _board_cfg(args):
    from export.bitstream import BOARDS, board_config

    if not args.board:
        raise ValueError(f"--board must name the board whose configuration to train ({', '.join(BOARDS)}), or "
                         "--core an exported core")
    return board_config(args.board)


@guard("the inference run", errors=(LinkError, BackendMissing), failures=(DeviceError,))
def main(argv: list[str]) -> int:
    from export.bitstream import BOARDS  # amaranth: imported here, under the guard (Ctrl-C, --debug)

    summary, _, details = __doc__.partition("\n\n")
    ap = parser("python -m eqprop.device", summary, epilog=details)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("infer", help="the digits test split through an accelerator, checked against the golden model",
                       description=summary, epilog=details)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial port of a board (e.g. /dev/ttyUSB1)")
    where.add_argument("--cosim", action="store_true", help="the co-simulated board top (Verilator)")
    where.add_argument("--golden", action="store_true", help="the golden model")
    p.add_argument("--baud", type=positive_int, default=DEFAULT_BAUD, help=f"baud rate (default {DEFAULT_BAUD})")
    p.add_argument("--board", choices=list(BOARDS),
                   help="the board: its clock and baud rate (--cosim), and its configuration (--train)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--core", "--weights", dest="core", metavar="DIR",
                      help="an exported core's folder (python -m export: memory images and manifest.json)")
    what.add_argument("--train", type=positive_int, metavar="EPOCHS", help="train the weights here (golden model)")
    p.add_argument("--limit", type=positive_int, help="the first N test images (default: all 360)")
    p.add_argument("--timeout", type=positive_float, default=1.0,
                   help="seconds to wait for a reply, a finite number > 0 (default 1)")
    p.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.port is not None and not args.port.strip():
        raise UsageError("--port must name a serial port (e.g. /dev/ttyUSB1), not the empty string; list the ports "
                         "with python -m serial.tools.list_ports")

    from tqdm.auto import tqdm

    from eqprop.data import load_digits_split
    from eqprop.device import Accelerator
    from eqprop.hw import golden
    from eqprop.hw.quantise import quantise_input

    clock_hz = None
    if args.port is not None:
        acc = Accelerator.serial(args.port, baud=args.baud, timeout_s=args.timeout)
    else:
        from export.bitstream import platform
        from rtl.uart import divisor

        cfg = _core_cfg(args.core) if args.core else _board_cfg(args)
        clock_hz = platform(args.board).default_clk_frequency if args.board else None
        if args.golden:
            acc = Accelerator.golden(cfg)
        else:
            ticks = {"divisor": divisor(clock_hz, args.baud)} if clock_hz else {}   # else the backend's own
            acc = Accelerator.cosim(cfg, timeout_s=max(args.timeout, 60.0), **ticks)
    with acc:
        cfg = acc.cfg
        params = _params(args, cfg)
        data = load_digits_split()
        x = quantise_input(cfg, data.x_test)
        y = np.asarray(data.y_test)
        if args.limit:
            if args.limit > len(x):
                raise ValueError(f"--limit must be at most {len(x)} (the test images), not {args.limit}")
            x, y = x[:args.limit], y[:args.limit]
        acc.load(params)
        want = golden.predict(cfg, params, x)
        link = getattr(acc.backend, "link", None)
        sim = getattr(acc.backend, "sim", None)
        sent0, got0 = (link.sent, link.received) if link else (0, 0)
        cycles0 = sim.cycles() if sim else 0
        results = []
        t0 = time.perf_counter()
        for row in tqdm(x, desc=f"infer ({acc.backend.name})", unit="image", leave=False):
            results.append(acc.infer(row))
        wall = time.perf_counter() - t0
        results = np.array(results)
        n = len(x)
        mismatches = int(np.sum(results != want))
        out = {"backend": acc.backend.name if not args.cosim else "cosim", "board": args.board, "port": args.port,
               "images": n, "mismatches": mismatches, "accuracy": float(np.mean(results == y)),
               "golden_accuracy": float(np.mean(want == y)), "wall_s": wall, "wall_inferences_per_s": n / wall}
        from rtl.schedule import inference_cycles

        cyc = inference_cycles(cfg, params, x)
        out["core_cycles_mean"] = float(cyc.mean())
        if link:
            # the counters read after each command are not part of an inference: count the infer() traffic only
            per = (link.sent - sent0 + link.received - got0) / n
            out.update(bytes_per_inference=per, baud=args.baud,
                       uart_inferences_per_s=1 / (per * 10 / args.baud + (cyc.mean() / clock_hz if clock_hz else 0)))
        if sim:
            simulated = sim.cycles() - cycles0
            out.update(sim_cycles=simulated)
            if clock_hz:
                out.update(clock_mhz=clock_hz / 1e6, simulated_inferences_per_s=n * clock_hz / simulated)
        if clock_hz:
            out.update(core_inferences_per_s=clock_hz / cyc.mean())
        print(f"{n} digits test images on {out['backend']}: {mismatches} mismatches against the golden model; "
              f"accuracy {100 * out['accuracy']:.1f}% (golden {100 * out['golden_accuracy']:.1f}%)")
        if link:
            print(f"UART: {out['bytes_per_inference']:.0f} bytes an inference; at {args.baud} baud "
                  f"{out['uart_inferences_per_s']:.1f} inferences/s host-visible")
        if sim and clock_hz:
            print(f"simulated: {out['sim_cycles']:,} cycles at {out['clock_mhz']:g} MHz = "
                  f"{out['simulated_inferences_per_s']:.1f} inferences/s (a host that answers at once)")
        elif sim:
            print(f"simulated: {out['sim_cycles']:,} cycles, {sim.divisor} a UART bit (--board gives a board's "
                  "clock and baud rate)")
        if clock_hz:
            print(f"the core alone: {out['core_cycles_mean']:.0f} cycles an inference = "
                  f"{out['core_inferences_per_s']:,.0f} inferences/s at {clock_hz / 1e6:g} MHz")
        print(f"wall: {out['wall_inferences_per_s']:.1f} inferences/s")
        if args.json:
            from eqprop.atomic import write_json_atomic

            write_json_atomic(args.json, out)
    return EXIT_MISMATCH if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
