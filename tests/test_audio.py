"""Decoding: every format against its source, metadata, resampling, mono, offsets and windows.

Every file is made in a temporary folder from a known signal (see ``conftest.make_audio``):
lossless formats must decode bit-exactly to what soundfile/scipy read from the same file;
lossy ones must be aligned to the sample with the source and close to it.
"""

from __future__ import annotations

import numpy as np
import pytest
from audiolens_testkit import (
    FORMATS,
    lag_of,
    make_audio,
    peak_hz,
    requires_ffmpeg,
    signal,
    snr_db,
    write_wav,
)

import audiolens
from audiolens.audio import Audio, AudioInfo, load, load_windows, probe
from audiolens.audio import source as audio_mod
from audiolens.errors import ParameterError

pytestmark = requires_ffmpeg

SECONDS = 3.0
SR = 44100
N = int(SECONDS * SR)

#: fmt -> (codec, bit depth)
LOSSLESS = {
    "wav_u8": ("pcm_u8", 8),
    "wav_s16": ("pcm_s16le", 16),
    "wav_s24": ("pcm_s24le", 24),
    "wav_s32": ("pcm_s32le", 32),
    "wav_f32": ("pcm_f32le", 32),
    "wav_f64": ("pcm_f64le", 64),
    "aiff_s16": ("pcm_s16be", 16),
    "aiff_s24": ("pcm_s24be", 24),
    "flac16": ("flac", 16),
    "flac24": ("flac", 24),
    "alac16": ("alac", 16),
    "alac24": ("alac", 24),
}

#: fmt -> (codec, container, samples allowed off the source length, lag to the source or None
#: when the codec does not keep the waveform, least SNR in dB)
LOSSY = {
    "mp3_cbr": ("mp3", "mp3", 0, 0, 25.0),
    "mp3_vbr": ("mp3", "mp3", 0, 0, 25.0),
    "aac": ("aac", "mov,mp4,m4a,3gp,3g2,mj2", 0, 0, 18.0),
    "vorbis": ("vorbis", "ogg", 0, 0, 25.0),
    "opus": ("opus", "ogg", 0, 0, 25.0),
    # FFmpeg's own wmav2 encoder keeps the spectrum but not the waveform (ffmpeg decodes the
    # same samples as we do); Matroska has no end trimming for Vorbis
    "wma": ("wmav2", "asf", 2048, None, None),
    "mkv_video": ("vorbis", "matroska,webm", 1024, 0, 25.0),
    "mp4_video": ("aac", "mov,mp4,m4a,3gp,3g2,mj2", 0, 0, 18.0),
}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """fmt -> Made: 3 s stereo tones at 44.1 kHz in every format, made once per session."""
    folder = tmp_path_factory.mktemp("corpus")
    made = {}

    def get(fmt):
        if fmt not in made:
            made[fmt] = make_audio(folder, fmt, seconds=SECONDS, sr=SR)
        return made[fmt]

    return get


def _reference(path, fmt):
    """What another reader gets from a lossless file, as float32 scaled like audiolens."""
    if fmt.startswith("wav"):
        from scipy.io import wavfile

        _, x = wavfile.read(path)
        x = x.T
        if x.dtype == np.uint8:
            return ((x.astype(np.float64) - 128) / 128).astype(np.float32)
        if x.dtype.kind == "f":
            return x.astype(np.float32)
        return (x.astype(np.float64) / -float(np.iinfo(x.dtype).min)).astype(np.float32)
    sf = pytest.importorskip("soundfile")
    x, _ = sf.read(path, dtype="int32", always_2d=True)  # left-justified 32-bit ints
    return (x.T.astype(np.float64) / 2.0**31).astype(np.float32)


@pytest.mark.parametrize("fmt", sorted(LOSSLESS))
def test_lossless_formats_decode_bit_exactly(corpus, fmt):
    made = corpus(fmt)
    a = load(made.path)
    assert isinstance(a, Audio)
    assert a.samples.dtype == np.float32 and a.samples.flags.c_contiguous
    assert a.samples.shape == (2, N) and a.sample_rate == SR
    if fmt.startswith("alac"):  # soundfile cannot read ALAC: compare with the same PCM in WAV
        ref = _reference(corpus(fmt.replace("alac", "wav_s")).path, "wav")
    else:
        ref = _reference(made.path, fmt)
    assert np.array_equal(a.samples, ref)
    bits = LOSSLESS[fmt][1]
    if fmt != "wav_f64":  # the decode is within one quantization step of the source
        step = 2.0 ** -(bits - 1) if not fmt.endswith("f32") else 1e-7
        assert np.abs(a.samples - made.source).max() <= step
    assert a.extra == {}


@pytest.mark.parametrize("fmt", sorted(LOSSLESS))
def test_lossless_metadata(corpus, fmt):
    info = probe(corpus(fmt).path)
    codec, bits = LOSSLESS[fmt]
    assert info.codec == codec and info.bit_depth == bits and info.lossless
    assert (info.sample_rate, info.channels) == (SR, 2)
    assert info.duration == pytest.approx(SECONDS, abs=1e-3)
    assert info.bit_rate > 0 and info.vbr is None and info.lame is None
    assert info.size == corpus(fmt).path.stat().st_size
    assert info.to_dict()["codec"] == codec


@pytest.mark.parametrize("fmt", sorted(LOSSY))
def test_lossy_formats_decode_aligned_and_close(corpus, fmt):
    codec, container, slack, lag, min_snr = LOSSY[fmt]
    made = corpus(fmt)
    native = load(made.path)
    assert native.samples.dtype == np.float32 and native.samples.shape[0] == 2
    assert native.info.codec == codec and native.info.container == container
    assert not native.info.lossless and native.info.bit_depth is None
    if fmt == "opus":
        assert native.sample_rate == 48000 and native.samples.shape[1] == int(SECONDS * 48000)
    a = load(made.path, sr=SR) if native.sample_rate != SR else native
    assert a.sample_rate == SR
    assert abs(a.samples.shape[1] - N) <= slack
    x, s = a.samples, made.source
    for c in range(2):  # channel c is a tone at 440 * (c + 1) Hz
        assert peak_hz(x[c], SR) == pytest.approx(440.0 * (c + 1), abs=2.0)
    rms = np.sqrt(np.mean(x[:, :N] ** 2)) / np.sqrt(np.mean(s[:, : x.shape[1]] ** 2))
    assert 0.9 < rms < 1.1
    if lag is not None:
        assert lag_of(x[0], s[0]) == lag and lag_of(x[1], s[1]) == lag
        n = min(x.shape[1], N)
        assert snr_db(x[:, :n], s[:, :n]) > min_snr


@pytest.mark.parametrize(
    ("fmt", "expected_kbps"),
    [
        ("mp3_cbr", (192, 192)),
        ("mp3_vbr", (80, 260)),
        ("aac", (100, 160)),
        ("vorbis", (90, 200)),
        ("opus", (60, 200)),
        ("wma", (128, 128)),
        ("mp4_video", (100, 160)),
    ],
)
def test_lossy_bit_rate(corpus, fmt, expected_kbps):
    info = probe(corpus(fmt).path)
    lo, hi = expected_kbps
    assert lo * 1000 <= info.bit_rate <= hi * 1000


def test_mp3_claims_cbr_and_vbr(corpus):
    cbr, vbr = probe(corpus("mp3_cbr").path), probe(corpus("mp3_vbr").path)
    assert cbr.codec == vbr.codec == "mp3"  # never the decoder's name "mp3float"
    assert cbr.vbr is False and vbr.vbr is True
    assert cbr.lame.encoder.startswith("LAME") and cbr.lame.vbr_method == "cbr"
    assert cbr.lame.bitrate_kbps == 192 and 15000 <= cbr.lame.lowpass_hz <= 20500
    assert vbr.lame.vbr_method.startswith("vbr") and vbr.lame.vbr_quality == 2
    assert cbr.duration == pytest.approx(SECONDS, abs=1e-3)
    assert cbr.to_dict()["lame"]["encoder"] == cbr.lame.encoder


def test_video_container_gives_its_audio(corpus):
    a = load(corpus("mp4_video").path)
    assert a.info.channels == 2 and a.info.codec == "aac"
    assert a.samples.shape == (2, N)


# -- resampling and mono ---------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 48000])
def test_resampling_keeps_length_and_frequency(tmp_path, rate):
    x = signal("tones", sr=SR, seconds=2.0, channels=2, freqs=(1000.0, 3000.0))
    path = write_wav(tmp_path / "t.wav", x, SR)
    a = load(path, sr=rate)
    assert a.sample_rate == rate and a.samples.dtype == np.float32
    assert abs(a.samples.shape[1] - round(x.shape[1] * rate / SR)) <= 1
    assert a.duration == pytest.approx(2.0, abs=2 / rate)
    assert peak_hz(a.samples[0], rate) == pytest.approx(1000.0, abs=1.0)
    if rate > 6000:
        assert peak_hz(a.samples[1], rate) == pytest.approx(3000.0, abs=1.0)
    assert a.info.sample_rate == SR  # the file's own rate
    ratio = np.sqrt(np.mean(a.samples[0] ** 2) / np.mean(x[0] ** 2))
    assert ratio == pytest.approx(1.0, abs=0.02)


def test_sr_equal_to_the_files_rate_changes_nothing(corpus):
    path = corpus("flac16").path
    assert np.array_equal(load(path, sr=SR).samples, load(path).samples)


def test_mono_averages_the_channels(corpus):
    path = corpus("wav_s16").path
    full = load(path).samples
    m = load(path, mono=True)
    assert m.samples.shape == (1, N) and m.channels == 1
    assert np.array_equal(m.samples[0], full.mean(axis=0, dtype=np.float32))
    both = load(path, mono=True, sr=16000)
    assert both.samples.shape[0] == 1 and both.sample_rate == 16000


@pytest.mark.parametrize("channels", [3, 6, 8])
def test_mono_of_many_channels_is_their_mean(tmp_path, channels):
    made = make_audio(tmp_path, "flac16", channels=channels, seconds=0.5)
    full = load(made.path).samples
    assert full.shape[0] == channels
    m = load(made.path, mono=True).samples
    assert np.array_equal(m[0], full.mean(axis=0, dtype=np.float32))


def test_mono_file_stays_mono(tmp_path):
    made = make_audio(tmp_path, "flac16", channels=1, seconds=0.5)
    a = load(made.path, mono=True)
    assert a.samples.shape == (1, 22050)
    assert np.array_equal(a.samples, load(made.path).samples)


# -- offsets and windows ---------------------------------------------------------------------

EXACT_WINDOWS = [
    "wav_s16",
    "wav_u8",
    "wav_f32",
    "aiff_s24",
    "flac16",
    "flac24",
    "alac16",
    "mp3_cbr",
    "mp3_vbr",
    "vorbis",
    "wma",
    "mkv_video",
]
#: AAC's and Opus' decoders carry state a seek resets: aligned, but not bit-exact
CLOSE_WINDOWS = {"aac": 0.02, "opus": 0.01, "mp4_video": 0.02}

OFFSETS = [0.0, 0.01, 0.5, 1.2345, 2.0, 2.99]
DURATIONS = [0.05, 0.5, None]


def _check_same(got, want, fmt):
    assert got.shape == want.shape, fmt
    if fmt in CLOSE_WINDOWS:
        assert np.abs(got - want).max() < CLOSE_WINDOWS[fmt], fmt
    else:
        assert np.array_equal(got, want), fmt


@pytest.mark.parametrize("fmt", EXACT_WINDOWS + sorted(CLOSE_WINDOWS))
def test_offset_and_duration_slice_the_full_decode(corpus, fmt):
    path = corpus(fmt).path
    full = load(path)
    sr = full.sample_rate
    for offset in OFFSETS:
        for duration in DURATIONS:
            a = load(path, offset=offset, duration=duration)
            lo = round(offset * sr)
            hi = None if duration is None else lo + round(duration * sr)
            _check_same(a.samples, full.samples[:, lo:hi], fmt)
            assert a.offset == offset and a.sample_rate == sr


@pytest.mark.parametrize("fmt", EXACT_WINDOWS + sorted(CLOSE_WINDOWS))
def test_load_windows_match_the_full_decode(corpus, fmt):
    path = corpus(fmt).path
    full = load(path)
    sr = full.sample_rate
    windows = [(2.5, 0.4), (0.0, 0.3), (1.2345, 0.25), (1.3, 0.5), (0.2, 0.1), (2.9, 1.0)]
    pieces = load_windows(path, windows)
    assert len(pieces) == len(windows)
    for (start, dur), piece in zip(windows, pieces):
        lo = round(start * sr)
        _check_same(piece.samples, full.samples[:, lo : lo + round(dur * sr)], fmt)
        assert piece.offset == start and piece.info.codec == full.info.codec


@pytest.mark.parametrize("fmt", ["mp3_vbr", "flac16", "aac", "vorbis", "wav_s16", "alac16"])
def test_windows_far_into_the_file_seek_instead_of_decoding_everything(corpus, fmt, monkeypatch):
    seeks = []
    real = audio_mod._Source.seek_to
    monkeypatch.setattr(
        audio_mod._Source, "seek_to", lambda self, s: (seeks.append(s), real(self, s))[1]
    )
    load(corpus(fmt).path, offset=2.0, duration=0.5)
    assert seeks and seeks[0] == round((2.0 - 0.2) * SR)


@pytest.mark.parametrize("fmt", ["wma", "mkv_video"])
def test_coarse_timestamps_decode_from_the_start(corpus, fmt, monkeypatch):
    def no_seek(self, sample):
        raise AssertionError("must not seek in a container with millisecond timestamps")

    monkeypatch.setattr(audio_mod._Source, "seek_to", no_seek)
    a = load(corpus(fmt).path, offset=2.0, duration=0.5)
    assert a.samples.shape[1] == round(0.5 * SR)


def test_windows_with_resampling_and_mono(corpus):
    path = corpus("flac16").path
    pieces = load_windows(path, [(1.5, 1.0), (0.0, 0.5)], sr=16000, mono=True)
    assert [p.samples.shape for p in pieces] == [(1, 16000), (1, 8000)]
    whole = load(path, offset=1.5, duration=1.0, sr=16000, mono=True)
    assert np.array_equal(pieces[0].samples, whole.samples)


def test_window_past_the_end_is_short_or_empty(corpus):
    path = corpus("flac16").path
    pieces = load_windows(path, [(2.5, 1.0), (5.0, 1.0), (0.0, 0.1)])
    assert [p.samples.shape[1] for p in pieces] == [round(0.5 * SR), 0, round(0.1 * SR)]
    assert pieces[1].samples.shape == (2, 0) and pieces[1].samples.dtype == np.float32
    assert load(path, offset=10.0).samples.shape == (2, 0)


def test_load_windows_passes_the_given_info_through(corpus):
    path = corpus("wav_s16").path
    info = probe(path)
    pieces = load_windows(path, [(0.0, 0.1)], info=info)
    assert pieces[0].info is info
    assert load_windows(path, []) == []


# -- channels and rates ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["wav_s16", "flac24", "wav_f32", "aac", "opus"])
@pytest.mark.parametrize("channels", [6, 8])
def test_many_channels_keep_their_order(tmp_path, fmt, channels):
    made = make_audio(tmp_path, fmt, channels=channels, seconds=1.0)
    a = load(made.path)
    assert a.samples.shape[0] == channels and a.info.channels == channels
    sr = a.sample_rate
    keep = [c for c in range(channels) if not (fmt == "aac" and c == 3)]  # AAC's LFE is low-passed
    got = [peak_hz(a.samples[c], sr) for c in keep]
    want = [440.0 * (c + 1) for c in keep]
    assert got == pytest.approx(want, abs=3.0)
    assert load(made.path, mono=True).samples.shape[0] == 1


def test_more_than_eight_planes(tmp_path):
    made = make_audio(tmp_path, "vorbis", channels=12, seconds=0.5)  # planar float, 12 planes
    a = load(made.path)
    assert a.samples.shape[0] == 12 and 0 <= a.samples.shape[1] - 22050 <= 1024  # one Ogg page
    got = [peak_hz(a.samples[c], SR) for c in range(12)]
    assert got == pytest.approx([440.0 * (c + 1) for c in range(12)], abs=3.0)


@pytest.mark.parametrize(
    ("fmt", "rate"),
    [("wav_s16", 8000), ("flac16", 8000), ("mp3_cbr", 8000), ("flac24", 192000),
     ("wav_s24", 192000), ("wav_f32", 192000)],
)  # fmt: skip
def test_low_and_high_sample_rates(tmp_path, fmt, rate):
    extra = ("-b", "32") if fmt == "mp3_cbr" else ()
    made = make_audio(tmp_path, fmt, sr=rate, seconds=1.0, extra=extra)
    a = load(made.path)
    assert a.sample_rate == rate and a.info.sample_rate == rate
    assert a.samples.shape == (2, rate)
    assert peak_hz(a.samples[0], rate) == pytest.approx(440.0, abs=2.0)
    if fmt != "mp3_cbr":
        assert np.abs(a.samples - made.source).max() < 1e-4
    else:
        assert a.info.lame is not None and a.info.lame.bitrate_kbps == 32
    half = load(made.path, sr=rate // 2)
    assert half.samples.shape == (2, rate // 2)


# -- what load() accepts ---------------------------------------------------------------------


def test_path_types(corpus):
    path = corpus("wav_s16").path
    ref = load(path).samples
    for p in (str(path), path, bytes(path)):
        a = load(p)
        assert np.array_equal(a.samples, ref)
        assert a.info.path == str(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sr": 0},
        {"sr": -8000},
        {"sr": 16000.0},
        {"sr": True},
        {"offset": -1.0},
        {"offset": float("nan")},
        {"duration": 0},
        {"duration": -2.0},
        {"duration": float("inf")},
    ],
)
def test_bad_parameters_raise_parameter_error(corpus, kwargs):
    with pytest.raises(ParameterError, match=next(iter(kwargs))):
        load(corpus("wav_s16").path, **kwargs)


@pytest.mark.parametrize("window", [(-1.0, 1.0), (0.0, 0.0), (0.0, -1.0), (1.0,)])
def test_bad_windows_raise_parameter_error(corpus, window):
    with pytest.raises(ParameterError, match="window"):
        load_windows(corpus("wav_s16").path, [window])


def test_public_names():
    assert audiolens.load is load and audiolens.probe is probe
    assert audiolens.load_windows is load_windows
    assert audiolens.Audio is Audio and audiolens.AudioInfo is AudioInfo


def test_formats_table_is_complete():
    assert set(LOSSLESS) | set(LOSSY) == set(FORMATS)
