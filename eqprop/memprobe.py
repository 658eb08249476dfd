"""Measure the peak memory of one training step in a fresh process (track 10, `bench.reference`).

    python -m eqprop.memprobe --method eqprop --steps 100 --depth 1 --hidden 256 --batch 128

prints one JSON line: the growth of the process's peak resident set across one training step, after
the model, the data and torch's thread pool are set up and warmed up. The peak (VmHWM) is reset to
the current resident set just before the step by writing 5 to /proc/self/clear_refs (Linux >= 4.0),
so a higher peak reached earlier (imports) cannot hide the step's; where that file is not
writable, ``ru_maxrss`` is used and the JSON says so. A fresh process per measurement keeps memory
freed by earlier measurements out of the picture.
Methods: ``eqprop`` (`EqPropNet.eqprop_step`), ``bptt`` (`EqPropNet.bptt_step`) and ``eqprop-trace``
(EqProp that also keeps every state of the free phase, as a deliberately memory-hungry control).
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys

import torch

from eqprop.cli_support import guard, parser, positive_int
from eqprop.eqpropnet import EqPropConfig, EqPropNet

METHODS = ("eqprop", "bptt", "eqprop-trace")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE).group(1))


def reset_peak() -> str:
    """Reset the peak resident set to the current one; return the method the measurement will use."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM after clear_refs"
    except OSError:
        return "ru_maxrss (peak not resettable)"


def peak_rss_bytes(method: str) -> int:
    if method.startswith("VmHWM"):
        return _status_kb("VmHWM") * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def measure(method: str, *, steps: int, depth: int, hidden: int, batch: int) -> dict:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    net = EqPropNet(EqPropConfig(sizes=[64, *[hidden] * depth, 10], free_steps=steps), generator=gen)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.rand(batch, 64, generator=gen)
    target = torch.nn.functional.one_hot(torch.arange(batch) % 10, 10).float()

    def one_step(t: int) -> None:
        net.config.free_steps = t
        if method == "eqprop":
            net.eqprop_step(x, target, opt)
        elif method == "bptt":
            net.bptt_step(x, target, opt)
        else:
            trace: list = []
            with torch.no_grad():
                net.relax(x, steps=t, trace=trace)
            net.eqprop_step(x, target, opt)
            del trace

    one_step(2)  # warm-up: allocator, thread pool, autograd machinery
    how = reset_peak()
    before = peak_rss_bytes(how)
    one_step(steps)
    return {"method": method, "steps": steps, "depth": depth, "hidden": hidden, "batch": batch,
            "peak_growth_bytes": peak_rss_bytes(how) - before, "baseline_bytes": before, "measured_by": how}


def run_probes(jobs: list[dict], *, parallel: int = 1) -> list[dict]:
    """Run the probe once per job (``method, steps, depth, hidden, batch``), each in a fresh process,
    `parallel` at a time; return the JSON rows in job order."""
    # One thread, and a fixed mmap threshold: glibc otherwise raises the threshold after frees and keeps
    # freed blocks on its heap, so the resident set would not follow the memory in use.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    results: list[dict] = []
    for i in range(0, len(jobs), parallel):
        procs = []
        for j in jobs[i:i + parallel]:
            cmd = [sys.executable, "-m", "eqprop.memprobe"] + [f"--{k}={v}" for k, v in j.items()]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"memory probe {p.args} failed with status {p.returncode}:\n{err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@guard("the memory probe")
def main(argv: list[str]) -> int:
    p = parser("python -m eqprop.memprobe", __doc__.split("\n\n")[0])
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument("--steps", type=positive_int, required=True)
    p.add_argument("--depth", type=positive_int, default=1)
    p.add_argument("--hidden", type=positive_int, default=256)
    p.add_argument("--batch", type=positive_int, default=128)
    a = p.parse_args(argv)
    print(json.dumps(measure(a.method, steps=a.steps, depth=a.depth, hidden=a.hidden, batch=a.batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
