"""The hardware specification: what the accelerator computes, bit for bit, and how a host talks to it.

Everything the RTL (`rtl/`), the co-simulation (`sim/`), the export (`export/`) and the tracks answer
to lives here, in numpy and plain Python (no torch):

- `eqprop.hw.hwconfig`: `HwConfig`, the one frozen configuration that decides every width and constant;
- `eqprop.hw.formats`: the number formats, memory layout, register map, opcodes and error codes,
  each defined once (tabulated in ``docs/number-formats.md`` and ``docs/register-map.md``, which
  tests check against this module);
- `eqprop.hw.golden`: the integer golden model (relax, nudge, online update), the executable
  specification;
- `eqprop.hw.quantise`: the bridge from a float checkpoint to integer parameters (the only place
  where the float models and the specification meet);
- `eqprop.hw.memimage`: ``$readmemh`` memory images and their manifest;
- `eqprop.hw.onchip`: the host's on-chip training loop and learning-rate schedule.
"""
