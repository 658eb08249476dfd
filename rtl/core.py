"""The EqProp core: the controller, the datapath and the memories, put together.

Runs `eqprop.hw.golden.relax` (free and nudged phases) and `eqprop.hw.golden.contrast_update` on chip, bit
for bit, in the memory layout of `eqprop.hw.formats.memory_layout`, following the schedule of
`rtl.schedule` (which also holds the exact cycle model). Three parts, one file each:

- `rtl.controller.Controller`: the FSM, generated from the schedule's tables; it issues one memory word
  per cycle as a control record;
- `rtl.datapath.datapath`: the fixed-latency pipeline the record travels through beside its data (the
  reads, the MAC, neuron and update lanes, the argmax, the writes);
- `rtl.memories`: the memories, and the host's access to them while the core is idle.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from eqprop.hw.formats import Window
from eqprop.hw.golden import IntParams
from eqprop.hw.hwconfig import HwConfig
from rtl.controller import Controller
from rtl.datapath import datapath
from rtl.memories import Memories, host_access
from rtl.schedule import BANKS, Phase, cycle_model
from rtl.update import LR_SHIFT_BITS, derive_weight

__all__ = ["Core", "Phase", "bus_members", "cycle_model"]


def bus_members(cfg: HwConfig, *, words: int, lanes: int) -> dict:
    """The members `rtl.axil.AxiLiteAccelerator` drives, of `Core` and of the tiled core's `rtl.tiled_bus.TiledWindows`
    alike (`Core`'s docstring says what each is): the host bus's ``word`` takes `words` values, its ``lane``
    `lanes`."""
    L = cfg.n_layers
    return {
        "start": In(1),
        "mode": In(2),
        "clear": In(1),
        "lr_shift": In(data.ArrayLayout(LR_SHIFT_BITS, L)),
        "busy": Out(1),
        "done": Out(1),
        "result": Out(range(cfg.sizes[-1])),
        "results": Out(data.ArrayLayout(range(cfg.sizes[-1]), cfg.samples)),
        "cycles": Out(32),
        "steps": Out(32),
        "phase_steps": Out(data.ArrayLayout(range(max(cfg.free_steps, cfg.nudge_steps) + 1), len(Phase))),
        "unsettled": Out(1),
        "host": In(wiring.Signature({
            "req": Out(1), "we": Out(1), "sel": Out(Window), "layer": Out(range(L + 1)),
            "word": Out(range(words)), "lane": Out(range(lanes)), "sample": Out(range(cfg.samples)),
            "wdata": Out(32),
            "ack": In(1), "rdata": In(32),
        })),
    }


class Core(wiring.Component):
    """The accelerator core: memories, MAC lanes, neuron lanes, update lanes and control FSM.

    Parameters
    ----------
    cfg : HwConfig
        Every width, size and constant.
    params : IntParams, optional
        Initial contents of the shadow, weight and bias memories (zeros if None).

    Members
    -------
    start : Signal(1), in
        Starts ``mode`` when idle (ignored while busy; `rtl.axil` reports that as an error).
    mode : Signal(2), in
        An `eqprop.hw.formats.Mode`; another value is ignored.
    clear : Signal(1), in
        Zeroes the current states (they read as zero until the next command) and ``done``.
    lr_shift : Signal(ArrayLayout(5, L)), in
        Per layer learning-rate shift (the LR_SHIFT registers).
    busy, done : Signal(1), out
        ``done`` is set when a command finishes and stays set until the next start.
    result : Signal(range(n_out)), out
        argmax of the output states after the free phase (lowest index on ties); of sample 0.
    results : Signal(ArrayLayout(range(n_out), B)), out
        ``result`` of each of the B samples (``cfg.samples``).
    cycles, steps : Signal(32), out
        Clock cycles and relaxation steps of the last (or running) command.
    step_done : Signal(1), out
        One-cycle strobe: a relaxation step has just been written to bank ``step_bank`` (``phase``).
    phase_steps : Signal(ArrayLayout(range(max(T, K) + 1), 3)), out
        Steps each phase (`Phase`) of the last command took (with early exit, up to the first step that
        changed no state; 0 for a phase it did not run).
    unsettled : Signal(1), out
        A phase of the last command ended with a step that changed a state: it reached its step limit
        without a fixed point (a limit cycle, or a slow approach).
    host : bus, in/out
        Memory access for the register windows: ``req``, ``we``, ``sel`` (`Window`), ``layer``,
        ``word``, ``lane``, ``sample`` (of the INPUT and STATE windows), ``wdata`` in; ``ack``, ``rdata``
        out. Hold ``req`` until ``ack`` (five cycles later when idle; while busy the access waits until the
        command ends).

    Raises
    ------
    TypeError
        If `cfg` is not a `HwConfig` or `params` not an `IntParams`.
    ValueError
        If `cfg` is a tiled configuration (``pe`` and ``simd`` set): this is the P-lane datapath.

    Latency: `cycle_model` cycles from ``start`` to ``done``.
    """

    def __init__(self, *, cfg: HwConfig, params: IntParams | None = None):
        if not isinstance(cfg, HwConfig):
            raise TypeError(f"Configuration must be a HwConfig, not {cfg!r}")
        if cfg.tiled:
            raise ValueError(f"pe must be None for rtl.core.Core, the P-lane datapath of mac_lanes (a tiled "
                             f"configuration's core is rtl.tiled_core.TiledCore), not {cfg.pe!r}")
        if params is not None and not isinstance(params, IntParams):
            raise TypeError(f"Parameters must be an IntParams or None, not {params!r}")
        self.cfg = cfg
        p = cfg.mac_lanes
        # the memories live here so that testbenches can load and inspect them (ctx.set / ctx.get)
        self.memories = mems = Memories(cfg, params)
        self.layout = mems.layout
        self.weight_mem, self.shadow_mem, self.bias_mem = mems.weight, mems.shadow, mems.bias
        self.input_mem, self.target_mem, self.state_mem = mems.input, mems.target, mems.state

        max_words = max(r.depth for r in self.layout.values())
        super().__init__(bus_members(cfg, words=max(2, max_words), lanes=p) | {
            "step_done": Out(1),
            "step_bank": Out(range(BANKS)),
            "phase": Out(Phase),
        })

    def state_address(self, k: int, bank: int, word: int) -> int:
        """Row of ``state_mem[k]`` holding `word` of `bank` (for testbenches)."""
        return self.memories.state_address(k, bank, word)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        ports = self.memories.add_to(m)
        m.submodules.controller = ctl = Controller(cfg=cfg)
        m.d.comb += [ctl.start.eq(self.start), ctl.mode.eq(self.mode), ctl.clear.eq(self.clear)]
        m.d.comb += [self.results.eq(ctl.result), self.result.eq(self.results[0])]
        for name in ("busy", "done", "cycles", "steps", "step_done", "step_bank", "phase", "phase_steps",
                     "unsettled"):
            m.d.comb += getattr(self, name).eq(getattr(ctl, name))
        best, changed, nonzero = datapath(m, cfg, ports, ctl.issue.payload, lr_shift=self.lr_shift, src=ctl.src,
                                          m_bank=ctl.m_bank)
        m.d.comb += [ctl.best.eq(best), ctl.changed.eq(changed), ctl.nonzero.eq(nonzero)]
        # last: while idle the host's addresses override the datapath's
        host_access(m, ports, self.host, busy=ctl.busy, cur=ctl.cur, cur_zero=ctl.cur_zero,
                    derive_weight=derive_weight)
        return m
