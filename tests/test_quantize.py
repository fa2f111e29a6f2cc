import numpy as np
import pytest

from tunesmith.codecs import CODECS, QuantizeCodec, load_codec
from tunesmith.codecs.quantize import (A_LAW_A, a_law_decode, a_law_encode, linear_decode, linear_encode,
                                       mu_law_decode, mu_law_encode)
from tunesmith.errors import UserError

Q_TYPES = ["linear", "mu-law", "a-law"]
FUNCTIONS = {"linear": (linear_encode, linear_decode), "mu-law": (mu_law_encode, mu_law_decode),
             "a-law": (a_law_encode, a_law_decode)}


@pytest.mark.parametrize("q_type", Q_TYPES)
@pytest.mark.parametrize("levels", [2, 3, 16, 255, 256, 1024, 65536])
def test_every_level_survives_a_round_trip_through_its_centre(q_type, levels):
    codec = QuantizeCodec(q_type=q_type, q_levels=levels)
    q = np.arange(levels)
    centres = codec.decode(q)  # float32, as a sampler's output would be written
    assert centres.dtype == np.float32 and centres.shape == (levels,)
    assert np.array_equal(codec.encode_array(centres), q)
    encode, decode = FUNCTIONS[q_type]
    assert np.array_equal(encode(decode(q, levels), levels), q)  # and in float64
    assert centres[0] == -1.0 and centres[-1] == 1.0
    assert np.all(np.diff(centres) > 0)
    assert np.allclose(centres, -centres[::-1], atol=1e-7)  # symmetric centres


@pytest.mark.parametrize("q_type", Q_TYPES)
def test_encoding_is_monotonic_symmetric_and_clips(q_type):
    codec = QuantizeCodec(q_type=q_type, q_levels=256)
    x = np.linspace(-1, 1, 20001)
    q = codec.encode_array(x)
    assert q.min() == 0 and q.max() == 255 and np.all(np.diff(q) >= 0)
    assert len(np.unique(q)) == 256  # a fine sweep reaches every level
    rng = np.random.default_rng(0)
    r = rng.uniform(-1, 1, 10000) * rng.choice([1, 1e-2, 1e-4], 10000)
    assert np.array_equal(codec.encode_array(-r), 255 - codec.encode_array(r))
    out = codec.encode_array([-7.0, -1.0000001, 1.5, 1e9, -np.inf, np.inf])
    assert out.tolist() == [0, 0, 255, 255, 0, 255]
    assert codec.encode_array(np.nan) == codec.encode_array(0.0)


@pytest.mark.parametrize("q_type", Q_TYPES)
@pytest.mark.parametrize("levels", [16, 255, 256])
def test_silence_is_the_middle_level_and_decodes_near_zero(q_type, levels):
    codec = QuantizeCodec(q_type=q_type, q_levels=levels)
    assert codec.start_tokens() == [levels // 2] == codec.encode(np.zeros(1))
    back = codec.decode(codec.start_tokens())[0]
    if levels % 2:
        assert back == 0.0
    else:
        assert 0 < back <= 1.0 / (levels - 1)  # half a step above zero at most
    if q_type != "linear" and levels == 256:
        assert back < 3e-4


@pytest.mark.parametrize("levels", [2, 16, 256, 65536])
def test_linear_error_is_at_most_half_a_step(levels):
    x = np.random.default_rng(1).uniform(-1, 1, 50000)
    err = np.abs(linear_decode(linear_encode(x, levels), levels) - x)
    assert err.max() <= 1.0 / (levels - 1) + 1e-12


@pytest.mark.parametrize("levels", [16, 256, 65536])
def test_mu_law_error_is_relative_to_amplitude(levels):
    """Half a step of the companded grid (h = 1/mu) moves x by at most (1/mu + |x|)((1+mu)^h - 1)."""
    mu = levels - 1.0
    x = np.random.default_rng(2).uniform(-1, 1, 50000) * np.repeat([1, 1e-2, 1e-4], [20000, 20000, 10000])
    err = np.abs(mu_law_decode(mu_law_encode(x, levels), levels) - x)
    bound = (1 / mu + np.abs(x)) * ((1 + mu) ** (1 / mu) - 1)
    assert np.all(err <= bound * (1 + 1e-9) + 1e-15)
    if levels == 256:
        small = np.abs(x) < 0.01
        assert err[small].max() < 3.1e-4  # about 8x finer than linear's 2e-3 near silence
        assert err.max() < 0.022  # and coarser near full scale


@pytest.mark.parametrize("levels", [16, 256, 65536])
def test_a_law_error_is_relative_to_amplitude(levels):
    """Linear below 1/A (steps of h (1 + ln A) / A), logarithmic above (relative steps)."""
    h, norm = 1.0 / (levels - 1), 1 + np.log(A_LAW_A)
    x = np.random.default_rng(3).uniform(-1, 1, 50000) * np.repeat([1, 1e-2, 1e-4], [20000, 20000, 10000])
    err = np.abs(a_law_decode(a_law_encode(x, levels), levels) - x)
    bound = h * norm / A_LAW_A + np.abs(x) * np.expm1(h * norm)
    assert np.all(err <= bound * (1 + 1e-9))
    if levels == 256:
        assert err[np.abs(x) < 0.01].max() < 2.5e-4


def test_codec_api_and_registry():
    codec = QuantizeCodec.fit(["ignored", object()], q_type="a-law", q_levels=16, sample_rate=8000)
    assert CODECS["quantize"] is QuantizeCodec and codec.unit == "sample"
    assert codec.vocab_size == 16 and codec.seconds(3, 120.0) == codec.seconds(0, 60.0) == 1 / 8000
    assert QuantizeCodec.fit([]) == QuantizeCodec("mu-law", 256, 16000)
    tokens = codec.encode(np.array([0.0, 0.5, -0.5, 1.0], dtype=np.float32))
    assert isinstance(tokens, list) and all(type(t) is int for t in tokens)
    pcm = np.array([0, 16384, -16384, 32767], dtype=np.int16)
    assert codec.encode(pcm) == tokens  # integer PCM is scaled to [-1, 1)
    assert codec.decode([]).shape == (0,) and codec.decode([]).dtype == np.float32


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="linear, mu-law, a-law"):
        QuantizeCodec(q_type="ulaw")
    for levels in [1, 0, 65537, 2.5, True, "256"]:
        with pytest.raises(UserError, match="q_levels"):
            QuantizeCodec(q_levels=levels)
    with pytest.raises(UserError, match="sample_rate"):
        QuantizeCodec(sample_rate=0)
    with pytest.raises(UserError, match="no option q_bits"):
        QuantizeCodec.fit([], q_bits=8)
    with pytest.raises(UserError, match="mono"):
        QuantizeCodec().encode(np.zeros((10, 2)))


@pytest.mark.parametrize("q_type", Q_TYPES)
def test_save_and_load_give_the_same_codec(tmp_path, q_type):
    codec = QuantizeCodec.fit([], q_type=q_type, q_levels=1024, sample_rate=22050)
    codec.save(tmp_path / "codec.json")
    again = load_codec(tmp_path / "codec.json")
    assert isinstance(again, QuantizeCodec) and again == codec
    wave = np.sin(np.linspace(0, 200, 5000)) * np.linspace(0, 1, 5000)
    assert again.encode(wave) == codec.encode(wave)
    assert QuantizeCodec.from_dict(codec.to_dict()) == codec


@pytest.mark.parametrize("q_type", Q_TYPES)
def test_any_token_sequence_decodes_to_samples_in_range(q_type):
    codec = QuantizeCodec(q_type=q_type, q_levels=256)
    tokens = np.random.default_rng(4).integers(-1000, 1000, 5000)
    out = codec.decode(tokens.tolist())
    assert out.dtype == np.float32 and out.shape == (5000,)
    assert np.all(np.isfinite(out)) and out.min() >= -1.0 and out.max() <= 1.0
    assert np.array_equal(out[tokens < 0], np.full((tokens < 0).sum(), -1.0, np.float32))
    assert np.array_equal(out[tokens > 255], np.full((tokens > 255).sum(), 1.0, np.float32))
    assert codec.decode_array(tokens.reshape(50, 100)).shape == (50, 100)
