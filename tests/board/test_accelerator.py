"""The host API (`eqprop.device.Accelerator`): one body per test, run on the golden model and on the
co-simulated board (UART, bridge and core in Verilog), each against the golden model's reference
(`rtl.command.ref_infer`, `ref_train`): results, states, counters, trained parameters."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from eqprop.device import Accelerator, DeviceError, config_from_registers
from eqprop.hw import golden
from rtl.command import ref_infer, ref_train
from tests.board.conftest import CFG


def assert_params(got, want, what):
    for key in ("shadow", "weights", "biases"):
        for l, (a, b) in enumerate(zip(getattr(got, key), getattr(want, key), strict=True)):
            assert_array_equal(a, b, err_msg=f"{what}: {key} layer {l}")


def vectors(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, CFG.state_max + 1, (n, CFG.sizes[0]))
    x[0] = 0                                    # an all-zero input
    x[1] = CFG.state_max                        # a saturated one
    return x


def test_configuration_read_back(accelerator):
    assert accelerator.cfg == CFG


def test_load_and_read_params(accelerator, params):
    accelerator.load(params)
    assert_params(accelerator.read_params(), params, "read back after load")


def test_infer_matches_golden(accelerator, params):
    accelerator.load(params)
    xs = vectors(4)
    for i, x in enumerate(xs):
        ref = ref_infer(CFG, params, x[None, :])
        assert accelerator.infer(x) == ref["result"], f"vector {i}: RESULT"
        for k, (a, b) in enumerate(zip(accelerator.states(), ref["states"], strict=True)):
            assert_array_equal(a, b, err_msg=f"vector {i}: state layer {k + 1}")
        c = accelerator.counters()
        assert (c.cycles, c.steps, list(c.phase_steps), c.unsettled) == (
            ref["cycles"], ref["steps"], ref["phase_steps"], bool(ref["unsettled"])), f"vector {i}: counters"
    assert_array_equal(accelerator.infer(xs), golden.predict(CFG, params, xs))


def test_train_matches_golden(accelerator, params):
    accelerator.load(params)
    accelerator.set_lr_shifts((3, 4))
    cfg = CFG.replace(lr_shifts=(3, 4))
    want = params
    for i, (x, label) in enumerate(zip(vectors(3, seed=1), (2, 0, 1), strict=True)):
        ref = ref_train(cfg, want, x[None, :], golden.encode_targets(cfg, np.array([label])))
        assert accelerator.train(x, label) == ref["result"], f"step {i}: free-phase RESULT"
        c = accelerator.counters()
        assert (c.cycles, c.steps) == (ref["cycles"], ref["steps"]), f"step {i}: counters"
        want = ref["params"]
    assert_params(accelerator.read_params(), want, "after 3 TRAIN steps")


def test_bad_inputs(accelerator):
    with pytest.raises(ValueError, match=r"input must be a vector of 5 codes, not an array of shape \(4,\)"):
        accelerator.infer(np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="input codes must be in 0 .. 255, not 0 .. 256"):
        accelerator.infer(np.array([0, 1, 2, 3, 256]))
    with pytest.raises(TypeError, match="input must be integer codes"):
        accelerator.infer(np.zeros(5))
    with pytest.raises(ValueError, match="target label must be in 0 .. 2, not 3"):
        accelerator.train(np.zeros(5, dtype=int), 3)


def test_inference_only_core_refuses_train():
    acc = Accelerator.golden(CFG.replace(learning=False))
    with pytest.raises(DeviceError, match="inference-only"):
        acc.train(np.zeros(5, dtype=int), 0)


def test_config_from_registers_checks_id_and_version():
    from eqprop.hw.formats import ID_MAGIC, VERSION, Reg, config_registers
    from eqprop.hw.hwconfig import HwConfig

    def registers(cfg):
        words = {}
        for name, value in config_registers(cfg).items():
            reg, _, index = name.partition(".")
            words[Reg[reg] + 4 * int(index or 0)] = value
        return words

    def read(address, n):
        return [words.get(address + 4 * i, 0) for i in range(n)]

    skipping = CFG.replace(zero_skip=True, learning=False, samples=2)
    words = registers(skipping)
    assert config_from_registers(read) == skipping
    # CFG_TILE: the tiled core's folding (its mac_lanes, unused, is read as the default)
    tiled = CFG.replace(pe=3, simd=4, samples=4, slots=2, mac_lanes=HwConfig().mac_lanes)
    words = registers(tiled)
    assert config_from_registers(read) == tiled
    words = registers(CFG)
    assert config_from_registers(read) == CFG
    words[Reg.ID] = 0x1234
    with pytest.raises(DeviceError, match="this is not the accelerator: ID reads 0x00001234"):
        config_from_registers(read)
    words[Reg.ID], words[Reg.VERSION] = ID_MAGIC, VERSION + (1 << 16)
    with pytest.raises(DeviceError, match=rf"register map version {(VERSION >> 16) + 1}\.{VERSION & 0xFFFF} on the"):
        config_from_registers(read)


def test_serial_constructor_on_the_simulated_link(cosim_board, params):
    """`Accelerator.serial` (the path a real board takes) on a second simulated board's pty."""
    from sim.boardsim import SimBoard

    sim = SimBoard(cosim_board.backend.built, cosim_board.backend.sim.divisor)
    try:
        with Accelerator.serial(sim.port, timeout_s=30.0) as acc:
            assert acc.cfg == CFG
            acc.load(params)
            x = vectors(3)[2]
            assert acc.infer(x) == ref_infer(CFG, params, x[None, :])["result"]
    finally:
        sim.close()


def test_lr_shifts_follow(accelerator):
    accelerator.set_lr_shifts((7, 8))
    assert accelerator.cfg.lr_shifts == (7, 8)
    accelerator.set_lr_shifts(CFG.lr_shifts)
    assert accelerator.cfg == CFG
