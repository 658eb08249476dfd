"""The accelerator in Amaranth 0.5: a bit-exact hardware twin of the integer golden model (`eqprop.hw.golden`).

Blocks, each a `wiring.Component` parameterised by one `eqprop.hw.hwconfig.HwConfig` and tested against
the golden model under Amaranth's simulator (``tests/rtl``):

- `rtl.fixed`     rounding shifts and saturation as expressions (`golden.shift_round`, `golden.saturate`)
- `rtl.mac`       P MAC lanes: bottom-up dot products and top-down (W^T) broadcasts from one weight word;
                  ternary lanes add or subtract
- `rtl.tile`      the tiled datapath's stage: a PE x SIMD weight tile per cycle, reduced by rows (W s) or
                  by columns (the tile transposed, W^T s), accumulated over a block (docs/tiled-datapath.md)
- `rtl.neuron`    hard-sigmoid activation, output nudge and step-size mixing of P neurons
- `rtl.update`    shadow-weight and bias update lanes with weight re-derivation (`golden.contrast_update`)
- `rtl.schedule`  the schedule, described once: the runs each command issues, the state-bank plan,
                  the pipeline's latencies and the exact cycle model
- `rtl.tiled_schedule` the planned schedule of the tiled datapath: alternating PE/SIMD blocks, one tile per
                  weight word, samples interleaved on one set of lanes; an exact cycle model and a projection
                  (`python -m rtl.tiled_schedule`), not yet wired into the core
- `rtl.command`   what a command leaves behind by the golden model and the cycle model (the reference)
- `rtl.controller` the FSM, generated from the schedule's tables; it issues one control record a cycle
- `rtl.datapath`  the pipeline the record travels through: reads, lanes, argmax, writes
- `rtl.memories`  the memories and the host's access to them
- `rtl.core`      the three above put together, running INFER, TRAIN and RELAX commands
- `rtl.axil`      the top level: an AXI4-Lite slave over the register map of `eqprop.hw.formats`
"""
