"""HwConfig: defaults, derived widths and shifts, and the error message of every rule."""

import dataclasses
import json
import re

import pytest

from eqprop.hw.hwconfig import TILED_FIELDS, HwConfig, check_buildable, config_fields, config_from_fields, load_config


def test_default_is_a_digits_network_with_int8_formats():
    cfg = HwConfig()
    assert cfg.sizes == (64, 64, 10)
    assert (cfg.state_bits, cfg.weight_bits, cfg.weight_format) == (8, 8, "int")
    assert cfg.weight_frac == (7, 7) and cfg.lr_shifts == (5, 6)
    assert (cfg.state_max, cfg.weight_max, cfg.shadow_max) == (255, 127, 32767)
    assert cfg.acc_bits == max(cfg.acc_bits_required)


def test_worst_case_accumulator_by_hand():
    # 64 inputs x 127 x 255 + 10 outputs x 127 x 255 (top-down) + bias 2**19 - 1, aligned (equal fracs)
    cfg = HwConfig()
    worst0 = 64 * 127 * 255 + 10 * 127 * 255 + (2**19 - 1)
    assert cfg.acc_bits_required[0] == worst0.bit_length() + 1 == 23
    # unequal fractions: layer 0's bottom-up sum is shifted left by 3 to meet layer 1's fraction
    cfg = HwConfig(weight_frac=(4, 7))
    worst0 = (64 * 127 * 255 << 3) + 10 * 127 * 255 + (2**19 - 1)
    assert cfg.acc_bits_required[0] == worst0.bit_length() + 1
    assert cfg.acc_frac(0) == 8 + 7 and cfg.acc_frac(1) == 8 + 7


def test_ternary_needs_two_bits_and_uses_unit_weights():
    cfg = HwConfig(weight_format="ternary", weight_bits=2)
    assert cfg.weight_max == 1 and cfg.weight_frac == (3, 3)
    assert cfg.ternary_threshold_code == 4 << (16 - 2 - 3)  # alpha / 2 in shadow LSBs
    assert cfg.acc_bits < HwConfig().acc_bits  # no multiplier products to hold


def test_update_shifts_follow_the_estimator():
    sym, one = HwConfig(), HwConfig(estimator="one-sided")
    # symmetric: 1/(2 beta) = 1 at beta = 1/2; one-sided: 1/beta = 2, one bit less right shift
    assert sym.weight_update_shift(0) == 2 * 8 + 5 - 0 - 7 - 8 == 6
    assert one.weight_update_shift(0) == sym.weight_update_shift(0) - 1
    assert sym.bias_update_shift(1) == 6 - 0 - 7
    assert sym.nudge_shift() == 1 - 7


def test_cost_model():
    cfg = HwConfig()
    assert cfg.macs_per_step() == 64 * 64 + 64 * 10 + 64 * 10
    assert cfg.ideal_cycles_inference() == 30 * (64 * 64 + 2 * 640) // 8


def test_frozen_and_lists_become_tuples():
    cfg = HwConfig(sizes=[16, 8, 4], weight_frac=[5, 6])
    assert cfg.sizes == (16, 8, 4) and cfg.weight_frac == (5, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.state_bits = 4


def test_explicit_acc_bits_wider_than_the_worst_case_is_kept():
    assert HwConfig(acc_bits=32).acc_bits == 32


def test_replace_derives_the_accumulator_again():
    wide = HwConfig().replace(state_bits=16, weight_bits=16, shadow_bits=24, weight_frac=(15, 15))
    assert wide.acc_bits == max(wide.acc_bits_required) > HwConfig().acc_bits
    assert HwConfig().replace(acc_bits=40).acc_bits == 40
    with pytest.raises(ValueError, match="acc_bits must be in"):
        dataclasses.replace(HwConfig(), state_bits=16)  # the plain replace keeps the old, too narrow width


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sizes": (64,)}, "sizes must be a tuple of at least two positive integers (n_in, ..., n_out), not (64,)"),
    ({"sizes": (64, 0, 10)}, "sizes must be a tuple of at least two positive integers (n_in, ..., n_out), "
                             "not (64, 0, 10)"),
    ({"state_bits": 1}, "state_bits must be in 2 .. 16, not 1"),
    ({"state_bits": 17}, "state_bits must be in 2 .. 16, not 17"),
    ({"weight_format": "binary"}, "weight_format must be one of int, ternary, not 'binary'"),
    ({"weight_format": "ternary"}, "weight_bits must be 2 for ternary weights, not 8"),
    ({"weight_bits": 1}, "weight_bits must be in 2 .. 16, not 1"),
    ({"shadow_bits": 10}, "shadow_bits must be in weight_bits + 3 .. 32 (= 11 .. 32), not 10"),
    ({"bias_bits": 41}, "bias_bits must be in 2 .. 40, not 41"),
    ({"free_steps": 0}, "free_steps must be a positive integer, not 0"),
    ({"nudge_steps": -1}, "nudge_steps must be a positive integer, not -1"),
    ({"mac_lanes": 0}, "mac_lanes must be a positive integer, not 0"),
    ({"beta_shift": 17}, "beta_shift must be in 0 .. 16, not 17"),
    ({"eps_shift": 9}, "eps_shift must be in 0 .. state_bits (= 0 .. 8), not 9"),
    ({"ternary_threshold": 0}, "ternary_threshold must be in 1 .. 8 (eighths of alpha), not 0"),
    ({"estimator": "random-sign"}, "estimator must be one of symmetric, one-sided, not 'random-sign'"),
    ({"rounding": "stochastic"}, "rounding must be one of floor, half_up, half_away, not 'stochastic'"),
    ({"weight_frac": (7,)}, "weight_frac must be a tuple of 2 integers (one per weight layer), not (7,)"),
    ({"weight_frac": (7, 25)}, "weight_frac must be integers in 0 .. 24, not (7, 25)"),
    ({"lr_shifts": (5, -1)}, "lr_shifts must be integers in 0 .. 30, not (5, -1)"),
    ({"acc_bits": 22}, "acc_bits must be in 23 (the worst case) .. 52, not 22"),
    ({"lr_shifts": (0, 0), "beta_shift": 16, "weight_frac": (24, 7), "shadow_bits": 32},
     "weight_update_shift(0) must be at least -16 (raise lr_shifts or lower beta_shift, weight_frac or shadow_bits), "
     "not -47"),
    ({"samples": 0, "learning": False}, "samples must be in 1 .. 16, not 0"),
    ({"samples": 17, "learning": False}, "samples must be in 1 .. 16, not 17"),
    ({"samples": 2}, "samples must be 1 in a learning P-lane core (on-chip training takes one sample per command; "
                     "set learning=False for B samples per command, or pe and simd for a tiled core, whose INFER "
                     "takes B), not 2"),
    ({"sizes": (4096, 4096, 10), "state_bits": 16, "weight_bits": 16, "shadow_bits": 32, "weight_frac": (0, 20)},
     "the worst-case accumulator width must be at most 52 bits (narrow the formats), not"),
    ({"pe": 8}, "simd must be an int when pe is (both set: the tiled datapath; both None: the P-lane datapath of "
                "mac_lanes), not None"),
    ({"simd": 10}, "pe must be an int when simd is (both set: the tiled datapath; both None: the P-lane datapath "
                   "of mac_lanes), not None"),
    ({"pe": 0, "simd": 10}, "pe must be at least 1, not 0"),
    ({"pe": 8, "simd": -1}, "simd must be at least 1, not -1"),
    ({"pe": 65, "simd": 10}, "max(pe, simd) must be at most the widest layer (max of sizes = 64), not 65"),
    ({"sizes": (16, 12, 4), "pe": 8, "simd": 17}, "max(pe, simd) must be at most the widest layer (max of sizes = "
                                                  "16), not 17"),
    ({"pe": 8, "simd": 10, "zero_skip": True}, "zero_skip must be False in a tiled configuration (pe and simd set: "
                                               "the tiled datapath has no zero-skipping), not True"),
    ({"slots": 1}, "slots must be None in a P-lane configuration (slots are the tiled datapath's samples in flight; "
                   "set pe and simd for it), not 1"),
    ({"pe": 8, "simd": 10, "slots": 0}, "slots must be in 1 .. samples (= 1 .. 1), not 0"),
    ({"pe": 8, "simd": 10, "learning": False, "samples": 4, "slots": 5}, "slots must be in 1 .. samples (= 1 .. 4), "
                                                                        "not 5"),
])
def test_invalid_values_name_the_rule_and_the_value(kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        HwConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"state_bits": 8.0}, {"mac_lanes": True}, {"acc_bits": "24"},
                                    {"pe": 8.0, "simd": 10}, {"simd": True, "pe": 8}, {"slots": "2"}])
def test_wrong_types_raise_type_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(TypeError, match=f"^{name} must be an int"):
        HwConfig(**kwargs)


def test_the_learning_twin_has_one_sample_and_the_same_accumulator():
    cfg = HwConfig(learning=False, samples=4, acc_bits=40)
    twin = cfg.learning_twin()
    assert (twin.learning, twin.samples, twin.acc_bits) == (True, 1, 40)
    assert twin.replace(learning=False, samples=4, acc_bits=40) == cfg


def test_the_tiled_fields_default_to_the_p_lane_datapath():
    cfg = HwConfig()
    assert (cfg.pe, cfg.simd, cfg.slots) == (None, None, None) and not cfg.tiled
    assert [f.name for f in dataclasses.fields(HwConfig)][-3:] == list(TILED_FIELDS)   # appended, order kept


def test_folding_of_p_lanes_and_of_a_tile():
    # P lanes read P weights of one row a cycle: 1 x P (one adder tree bottom-up, P accumulators top-down)
    assert HwConfig().folding == (1, 8) and HwConfig(mac_lanes=32).folding == (1, 32)
    tiled = HwConfig(pe=8, simd=10, learning=False, samples=4, slots=2)
    assert tiled.tiled and tiled.folding == (8, 10)
    assert HwConfig(pe=10, simd=8).folding == (10, 8)            # rows first: not sorted
    assert tiled.ideal_cycles_inference() == 30 * -(-(64 * 64 + 2 * 640) // 80)
    assert HwConfig(mac_lanes=8).ideal_cycles_inference() == 30 * (64 * 64 + 2 * 640) // 8


def test_a_tiled_configuration_is_bounded_by_its_tile_not_by_mac_lanes():
    small = HwConfig(sizes=(5, 6, 3), pe=6, simd=2)                # mac_lanes 8 > 6 does not matter to a tile
    assert check_buildable(small) is small
    with pytest.raises(ValueError, match=r"^mac_lanes must be at most the widest layer"):
        check_buildable(small.replace(pe=None, simd=None))


def test_the_learning_twin_of_a_tiled_core_keeps_its_tile():
    twin = HwConfig(pe=8, simd=10, learning=False, samples=8, slots=4).learning_twin()
    assert (twin.pe, twin.simd, twin.samples, twin.slots, twin.learning) == (8, 10, 1, None, True)


def test_config_fields_leave_out_the_tiled_fields_of_a_p_lane_configuration():
    fields = config_fields(HwConfig())
    assert not set(TILED_FIELDS) & set(fields)
    # a P-lane configuration serialises exactly as before the tiled fields existed
    before = {f.name: getattr(HwConfig(), f.name) for f in dataclasses.fields(HwConfig) if f.name not in TILED_FIELDS}
    assert json.dumps(fields) == json.dumps(before)
    assert config_fields(HwConfig(pe=4, simd=3))["pe"] == 4 and "slots" not in config_fields(HwConfig(pe=4, simd=3))


@pytest.mark.parametrize("cfg", [HwConfig(), HwConfig(pe=8, simd=10, learning=False, samples=4, slots=2),
                                 HwConfig(sizes=(16, 12, 4), weight_format="ternary", weight_bits=2, pe=3, simd=16)])
def test_json_round_trip(tmp_path, cfg):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config_fields(cfg)))
    assert load_config(path) == cfg
    assert config_from_fields(json.loads(path.read_text()), "here") == cfg


def test_a_config_file_breaking_a_tiled_rule_names_the_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text('{"pe": 8, "simd": 10, "slots": 3}')
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: slots must be in 1 .. samples"):
        load_config(path)
