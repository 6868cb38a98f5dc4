"""The loudness meter against the standard: EBU Tech 3341 and 3342's test signals, built here
from their definitions, BS.1770-4's 48 kHz filter table, and pyloudnorm on real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.errors import ParameterError
from audiolens.tasks.loudness import (
    LoudnessMeter,
    LoudnessResult,
    album_loudness,
    channel_weights,
    k_weighting,
)


def tone(levels_s: list[tuple[float, float]], *, sr: int = 48000, hz: float = 1000.0):
    """A sine whose peak level steps through (dBFS, seconds) pairs, phase continuous."""
    parts, t0 = [], 0
    for db, seconds in levels_s:
        n = round(seconds * sr)
        t = (t0 + np.arange(n)) / sr
        parts.append(10 ** (db / 20) * np.sin(2 * np.pi * hz * t))
        t0 += n
    return np.concatenate(parts)


def meter_of(x: np.ndarray, *, sr: int = 48000, layout=None, block: int | None = None):
    x = np.atleast_2d(x)
    meter = LoudnessMeter(sr=sr, channels=x.shape[0], layout=layout)
    step = block or x.shape[1]
    for i in range(0, x.shape[1], step):
        meter.add(x[:, i : i + step])
    return meter.measure()


def test_k_weighting_at_48k_is_the_standards_table():
    # ITU-R BS.1770-4, Tables 1 and 2
    shelf = [1.53512485958697, -2.69169618940638, 1.19839281085285, 1, -1.69065929318241,
             0.73248077421585]  # fmt: skip
    highpass = [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(k_weighting(48000), [shelf, highpass], atol=1e-8)


@pytest.mark.parametrize("sr", [32000, 44100, 48000, 88200, 96000, 192000])
def test_k_weighting_has_the_same_response_at_every_rate(sr):
    # (the bilinear transform pre-warped at the shelf's 1682 Hz bends the shelf at low rates:
    # +0.09 dB at 100 Hz at 16 kHz, +0.2 dB at 8 kHz, as in libebur128 and pyloudnorm)
    from scipy.signal import sosfreqz

    freqs = np.array([20.0, 38.0, 100.0, 500.0, 1000.0, 1682.0, 3000.0])
    _, h = sosfreqz(k_weighting(sr), worN=freqs, fs=sr)
    _, ref = sosfreqz(k_weighting(48000), worN=freqs, fs=48000)
    np.testing.assert_allclose(20 * np.log10(np.abs(h)), 20 * np.log10(np.abs(ref)), atol=0.05)


# EBU Tech 3341 (minimum requirements test signals), cases 1-6: integrated loudness -23.0 (+-0.1)
TECH_3341 = {
    "1": ([(-23.0, 20.0)], -23.0),
    "2": ([(-33.0, 20.0)], -33.0),
    "3": ([(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], -23.0),
    "4": ([(-72.0, 10.0), (-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0), (-72.0, 10.0)], -23.0),
    "5": ([(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], -23.0),
}


@pytest.mark.parametrize("case", sorted(TECH_3341))
@pytest.mark.parametrize("sr", [48000, 44100])
def test_tech_3341_stereo_cases(case, sr):
    levels, expected = TECH_3341[case]
    x = tone(levels, sr=sr)
    m = meter_of(np.stack([x, x]), sr=sr, block=sr * 7 + 13)
    assert m.integrated == pytest.approx(expected, abs=0.1)


def test_tech_3341_case_6_five_channels():
    # 5.0: L, R at -28 dBFS, C at -24, Ls, Rs at -30 (weighted 1.41): -23.0 LUFS
    layout = ("FL", "FR", "FC", "SL", "SR")
    x = np.stack([tone([(db, 20.0)]) for db in (-28.0, -28.0, -24.0, -30.0, -30.0)])
    assert meter_of(x, layout=layout).integrated == pytest.approx(-23.0, abs=0.1)
    # with an LFE added (5.1), the LFE does not count
    lfe = tone([(0.0, 20.0)], hz=50.0)
    x6 = np.stack([x[0], x[1], x[2], lfe, x[3], x[4]])
    m = meter_of(x6, layout=("FL", "FR", "FC", "LFE", "SL", "SR"))
    assert m.integrated == pytest.approx(-23.0, abs=0.1)


# EBU Tech 3342 (loudness range), cases 1-4: stereo 1 kHz tones in steps
TECH_3342 = {
    "1": ([(-20.0, 20.0), (-30.0, 20.0)], 10.0),
    "2": ([(-20.0, 20.0), (-15.0, 20.0)], 5.0),
    "3": ([(-40.0, 20.0), (-20.0, 20.0)], 20.0),
    "4": ([(-50.0, 20.0), (-35.0, 20.0), (-20.0, 20.0), (-35.0, 20.0), (-50.0, 20.0)], 15.0),
}


@pytest.mark.parametrize("case", sorted(TECH_3342))
def test_tech_3342_loudness_range(case):
    levels, expected = TECH_3342[case]
    x = tone(levels)
    assert meter_of(np.stack([x, x]), block=96000).lra == pytest.approx(expected, abs=0.1)


def test_weights_by_layout_and_by_channel_count():
    assert channel_weights(2).tolist() == [1.0, 1.0]
    assert channel_weights(6).tolist() == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]  # 5.1
    assert channel_weights(8).tolist() == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41, 1.41, 1.41]  # 7.1
    assert channel_weights(3, ("FL", "FR", "LFE")).tolist() == [1.0, 1.0, 0.0]  # 2.1
    with pytest.raises(ParameterError, match="channels=0"):
        channel_weights(0)


@pytest.mark.parametrize("sr", [44100, 48000, 96000])
def test_true_peak_finds_the_peak_between_samples(sr):
    # a sine at fs/4 with a 45 degree phase: every sample is at 0.707, the wave reaches 1.0
    # (faded in and out: an abrupt start would overshoot between samples, truly)
    n = np.arange(sr * 2)
    fade = np.clip(np.minimum(n, n[::-1]) / (sr // 2), 0, 1) ** 2
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4) * 0.5 * fade
    m = meter_of(np.stack([x, x]), sr=sr, block=10007)
    assert m.sample_peak_db == pytest.approx(-6.02 - 3.01, abs=0.01)
    assert m.true_peak_db == pytest.approx(-6.02, abs=0.1)


def test_true_peak_of_a_single_sample_click_is_its_sample_peak():
    x = np.zeros(48000)
    x[24000] = 0.5
    m = meter_of(x)
    assert m.true_peak_db == pytest.approx(m.sample_peak_db, abs=1e-9)


def test_blocks_fed_in_any_sizes_give_the_same_measure():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 44100 * 8)) * np.linspace(0.01, 0.3, 44100 * 8)
    whole = meter_of(x, sr=44100)
    for block in (1, 4409, 44100):
        part = meter_of(x[:, : 44100 * (1 if block == 1 else 8)], sr=44100, block=block)
        if block == 1:
            ref = meter_of(x[:, :44100], sr=44100)
            assert part.integrated == pytest.approx(ref.integrated, abs=1e-5)
            continue
        # (float32 filtering: the filter's state carried across blocks rounds a hair apart)
        assert part.integrated == pytest.approx(whole.integrated, abs=1e-5)
        assert part.lra == pytest.approx(whole.lra, abs=1e-5)
        assert part.true_peak == pytest.approx(whole.true_peak, abs=1e-7)


def test_silence_and_short_signals():
    m = meter_of(np.zeros((2, 48000)))
    assert m.integrated is None and m.sample_peak_db is None and m.lra == 0.0
    short = meter_of(tone([(-20.0, 0.3)]))  # no whole 400 ms block
    assert short.integrated is None and short.sample_peak_db == pytest.approx(-20.0, abs=0.01)
    with pytest.raises(ParameterError, match="NaN"):
        LoudnessMeter(sr=48000, channels=1).add(np.full(10, np.nan))
    with pytest.raises(ParameterError, match="channel"):
        LoudnessMeter(sr=48000, channels=2).add(np.zeros((3, 10)))


def test_album_loudness_gates_all_blocks_together():
    # two tracks 10 dB apart: the album is not the mean of the two loudness values, it is the
    # gated loudness of all their blocks; the quiet one falls under the relative gate
    loud = LoudnessResult.from_measurement(meter_of(tone([(-20.0, 30.0)])))
    quiet = LoudnessResult.from_measurement(meter_of(tone([(-32.0, 30.0)])))
    both = tone([(-20.0, 30.0), (-32.0, 30.0)])
    album = album_loudness([loud, quiet.to_dict()])
    expected = meter_of(both).integrated
    assert album.integrated_lufs == pytest.approx(expected, abs=0.05)
    assert album.gain_db == pytest.approx(-18.0 - expected, abs=0.05)
    assert album.peak == pytest.approx(max(loud.track_peak, quiet.track_peak))
    assert album.tracks == 2
    assert loud.track_gain_db == pytest.approx(-18.0 - loud.integrated_lufs, abs=0.01)
    with pytest.raises(ParameterError):
        album_loudness([])
