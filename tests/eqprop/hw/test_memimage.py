"""Memory images: bit packing round-trips, $readmemh files round-trip, and corrupt files name file and line."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqprop.hw import golden
from eqprop.hw.formats import memory_layout
from eqprop.hw.hwconfig import HwConfig
from eqprop.hw.memimage import (
    MemImageError,
    pack_region,
    pack_words,
    read_hex,
    read_params,
    unpack_region,
    unpack_words,
    write_hex,
    write_params,
)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 20), st.integers(1, 9), st.booleans(), st.data())
def test_pack_unpack_round_trip(bits, lanes, signed, data):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    codes = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30))
    words = pack_words(np.array(codes), bits, lanes, signed)
    assert len(words) == -(-len(codes) // lanes) and all(0 <= w < 2 ** (bits * lanes) for w in words)
    assert unpack_words(words, bits, lanes, signed, len(codes)).tolist() == codes


def test_lane_zero_is_least_significant_and_twos_complement():
    assert pack_words(np.array([-1, 2, -128, 127, 5]), 8, 4, True) == [0x7F8002FF, 0x05]
    assert pack_words(np.array([1, 0, 3]), 2, 2, False) == [0b0001, 0b11]


def test_pack_rejects_codes_that_do_not_fit():
    with pytest.raises(ValueError, match="codes must fit signed 4-bit lanes"):
        pack_words(np.array([8]), 4, 2, True)


def test_region_layout_matches_address():
    cfg = HwConfig(sizes=(20, 6, 3), mac_lanes=8)
    region = memory_layout(cfg)["weight.0"]
    a = np.arange(120).reshape(6, 20) - 60
    words = pack_region(region, a)
    assert len(words) == region.depth
    addr, lane = region.address(4, 19)
    assert unpack_words([words[addr]], 8, 8, True, 8)[lane] == a[4, 19]
    assert np.array_equal(unpack_region(region, words), a)


def test_params_round_trip_through_hex_files(tmp_path):
    cfg = HwConfig(sizes=(20, 6, 3), weight_format="ternary", weight_bits=2, mac_lanes=4)
    params = golden.init_params(cfg, seed=2, gain=8.0)
    params.biases[1][:] = [cfg.bias_max, -cfg.bias_max, 0]
    paths = write_params(cfg, params, tmp_path)
    assert sorted(paths) == ["bias.0", "bias.1", "shadow.0", "shadow.1", "weight.0", "weight.1"]
    back = read_params(cfg, tmp_path)
    for a, b in zip(params.shadow + params.weights + params.biases, back.shadow + back.weights + back.biases,
                    strict=True):
        assert np.array_equal(a, b)
    assert not list(tmp_path.glob(".tmp-*"))


def test_read_hex_accepts_comments_blank_lines_and_addresses(tmp_path):
    path = tmp_path / "m.hex"
    path.write_text("// header\n\n@2 0c // third\n0d\n@0\n0a 0b\n")
    assert read_hex(path, 8, 4) == [0x0A, 0x0B, 0x0C, 0x0D]


def test_write_hex_round_trips_with_the_header(tmp_path):
    path = tmp_path / "w.hex"
    write_hex(path, [0, 0x1FF, 5], 9, "two lines\nof header")
    text = path.read_text().splitlines()
    assert text[:2] == ["// two lines", "// of header"] and text[3] == "1ff"
    assert read_hex(path, 9, 3) == [0, 0x1FF, 5]
    with pytest.raises(ValueError, match="word 1 must fit 9 bits, not 512"):
        write_hex(path, [0, 512], 9)


@pytest.mark.parametrize(("text", "message"), [
    ("00\n01\n", r"m.hex:2: truncated: 2 of 4 words missing \(first at address 0x2\)"),
    ("00\n0g\n", r"m.hex:2: bad word '0g'; expected hex digits"),
    ("00\n01\n02\n1ff\n", r"m.hex:4: word '1ff' is wider than 8 bits"),
    ("00\n@0 01\n", r"m.hex:2: address 0x0 is written twice"),
    ("@4 00\n", r"m.hex:1: address 0x4 is outside the memory of 4 words"),
    ("@x1\n", r"m.hex:1: bad address '@x1'; expected @ and hex digits"),
])
def test_corrupt_images_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "m.hex"
    path.write_text(text)
    with pytest.raises(MemImageError, match=message):
        read_hex(path, 8, 4)


def test_missing_and_binary_images(tmp_path):
    with pytest.raises(MemImageError, match="nope.hex: no such memory image"):
        read_hex(tmp_path / "nope.hex", 8, 4)
    (tmp_path / "b.hex").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MemImageError, match="b.hex: not a text file"):
        read_hex(tmp_path / "b.hex", 8, 4)


def test_forward_weights_must_match_their_shadows(tmp_path):
    cfg = HwConfig(sizes=(8, 4, 2))
    params = golden.init_params(cfg, seed=0, gain=4.0)
    params.weights[0][1, 3] += 1
    write_params(cfg, params, tmp_path)
    with pytest.raises(MemImageError, match=r"weight.0.hex: weight \(1, 3\) is"):
        read_params(cfg, tmp_path)


@pytest.mark.parametrize("weight_format", ["int", "ternary"])
def test_inference_only_params_are_weights_and_biases(tmp_path, weight_format):
    """An inference-only configuration writes no shadow images (its core has no shadow memory) and reads its
    weights and biases back exactly."""
    cfg = HwConfig(sizes=(20, 6, 3), mac_lanes=4, learning=False,
                   **({"weight_format": "ternary", "weight_bits": 2} if weight_format == "ternary" else {}))
    params = golden.init_params(cfg, seed=3, gain=8.0)
    assert sorted(write_params(cfg, params, tmp_path)) == ["bias.0", "bias.1", "weight.0", "weight.1"]
    back = read_params(cfg, tmp_path)
    for a, b in zip(params.weights + params.biases, back.weights + back.biases, strict=True):
        assert np.array_equal(a, b)
