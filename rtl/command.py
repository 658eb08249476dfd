"""What one command of the core leaves behind, by the golden model and the cycle model: the reference that the
co-simulation (`sim.cases`) checks the RTL against and that the host API's golden backend
(`eqprop.device.GoldenBackend`) answers with.

`ref_infer` and `ref_train` give the states and RESULT of `eqprop.hw.golden` and the counters the core
reports (CYCLES, STEPS, PHASE_STEPS, STATUS.UNSETTLED) from `rtl.schedule`'s cycle model, or for a tiled
configuration `rtl.tiled_core`'s (its samples each take their own steps; a TRAIN updates a tile row a cycle).
"""

from __future__ import annotations

import numpy as np

from eqprop.hw import golden
from eqprop.hw.formats import Mode
from eqprop.hw.hwconfig import HwConfig
from rtl.schedule import Phase, command_cycles, command_phases, golden_steps, zero_skips

__all__ = ["longest_commands", "ref_infer", "ref_train"]


def longest_commands(cfg: HwConfig) -> dict[str, int]:
    """The most cycles an INFER and a TRAIN of the core of `cfg` take (every phase to its limit): ``infer`` and
    ``train`` of `rtl.schedule.cycle_model`, or of `rtl.tiled_core.tiled_cycle_model` for a tiled configuration
    (``train`` = ``infer`` for an inference-only tiled core); testbenches bound their waits with them."""
    if cfg.tiled:
        from rtl.tiled_core import tiled_cycle_model

        model = tiled_cycle_model(cfg)
        return {"infer": model["infer"], "train": model.get("train", model["infer"])}
    from rtl.schedule import cycle_model

    model = cycle_model(cfg)
    return {"infer": model["infer"], "train": model["train"]}


def _counters(cfg: HwConfig, mode: Mode, phases: dict, trace: golden.Trace | None, sample_steps=None) -> dict:
    """CYCLES, STEPS, PHASE_STEPS (per `Phase`, 0 for a phase not run) and STATUS.UNSETTLED of a command
    whose phases ended as `phases` (`eqprop.hw.golden.Settled` by name) say; `trace`, the golden model's
    states of every step, for the issues zero-skipping saves (None without ``cfg.zero_skip``); `sample_steps`,
    an INFER's free steps of each sample (the tiled core's cycles depend on them all)."""
    steps = golden_steps(cfg, mode, {k: v.steps for k, v in phases.items()})
    per_phase = [0] * len(Phase)
    for ph, s in zip(command_phases(cfg, mode), steps, strict=True):
        per_phase[ph.value] = s
    if cfg.tiled:
        from rtl.tiled_core import infer_cycles, train_cycles

        cycles = (train_cycles(cfg, cfg.pe, cfg.simd, *steps) if mode == Mode.TRAIN
                  else infer_cycles(cfg, sample_steps))
    else:
        cycles = command_cycles(cfg, mode, steps, skips=zero_skips(cfg, mode, trace, steps=steps))
    return {"cycles": cycles, "steps": sum(steps), "phase_steps": per_phase,
            "unsettled": int(not all(bool(v.settled[0]) for v in phases.values()))}


def ref_infer(cfg: HwConfig, params: golden.IntParams, x: np.ndarray) -> dict:
    """What INFER leaves behind for the input rows x (B, n_0), one per sample of the command (B =
    ``cfg.samples``, or 1): sample 0's states s_1 .. s_L and RESULT, ``samples`` (each sample's states and
    result), and the command's CYCLES, STEPS, PHASE_STEPS and STATUS.UNSETTLED (`eqprop.hw.golden.grouped`).
    With fewer rows than B the other samples are taken to hold copies of the first row."""
    trace = golden.Trace() if cfg.zero_skip else None
    free = golden.settle(cfg, params, x, steps=cfg.free_steps, trace=trace)   # L arrays, (B, n_{l+1})
    steps, settled = golden.grouped(free, len(x))
    samples = [{"states": [s[b] for s in free.states], "result": int(np.argmax(free.states[-1][b]))}
               for b in range(len(x))]
    return {**samples[0], "samples": samples,
            **_counters(cfg, Mode.INFER, {"free": golden.Settled(free.states, steps, settled)}, trace, free.steps)}


def ref_train(cfg: HwConfig, params: golden.IntParams, x: np.ndarray, target: np.ndarray) -> dict:
    """What TRAIN leaves behind: the new parameters, the free-phase states (the STATE windows show the
    free phase after TRAIN), RESULT (argmax of the free output), CYCLES, STEPS, PHASE_STEPS and
    STATUS.UNSETTLED."""
    trace = golden.Trace() if cfg.zero_skip else None
    phases = golden.run_phases(cfg, params, x, target, trace=trace)
    new, _ = golden.contrast_update(cfg, params, np.asarray(x, dtype=np.int64), *golden.contrasted(cfg, phases))
    free = phases["free"].states
    return {"states": [s[0] for s in free], "result": int(np.argmax(free[-1][0])), "params": new,
            **_counters(cfg, Mode.TRAIN, phases, trace)}
