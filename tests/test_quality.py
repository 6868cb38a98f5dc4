"""The quality task: container claims, verdict rules, and real encodes end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import eval_root

import audiolens
from audiolens._mpeg import LameTag
from audiolens.audio import AudioInfo
from audiolens.tasks.quality import (
    BITRATE_CLASSES,
    FLICKER_MIN,
    GRID_MIN,
    QualityResult,
    QualityTask,
    codec_wall,
    container_class,
    decide,
    expected_lowpass,
    plan_windows,
    raw_verdict,
    read_input,
    upscale_edge,
)
from audiolens.tasks.quality.features import (
    FEATURE_NAMES,
    MIN_CLEAN_FRAMES,
    N_FFT,
    SpectralSummary,
    clipped_frames,
    flicker,
    summarize,
)
from audiolens.tasks.quality.model import CONTENT_CLASSES, load_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EVAL = eval_root()
needs_lame = pytest.mark.skipif(shutil.which("lame") is None, reason="needs the lame CLI")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _info(codec="mp3", lossless=False, bit_rate=320_000, lame=None, vbr=None) -> AudioInfo:
    return AudioInfo(
        path="x",
        container=codec,
        codec=codec,
        sample_rate=44100,
        channels=2,
        duration=200.0,
        bit_rate=bit_rate,
        bit_depth=16 if lossless else None,
        lossless=lossless,
        vbr=vbr,
        lame=lame,
        size=8_000_000,
    )


def _tag(method: str, q: int | None = None, kbps: int = 128) -> LameTag:
    return LameTag(
        "Xing" if method.startswith("vbr") else "Info",
        "LAME3.100",
        method,
        q,
        17000,
        kbps,
        1000,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("tag", "bit_rate", "expected"),
    [
        (_tag("cbr", kbps=128), 128_000, "128"),
        (_tag("cbr", kbps=192), 192_000, "192"),
        (_tag("cbr", kbps=256), 256_000, "256"),
        (_tag("cbr", kbps=320), 320_000, "320"),
        (_tag("vbr-mtrh", 0), 32_000, "V0"),
        (_tag("vbr-mtrh", 2), 32_000, "V2"),
        (_tag("vbr-mtrh", 5), 32_000, "128"),
        # FFmpeg's remux of a V0 (``-c copy``): a "Xing" header, VBR method unknown, 256 kb/s
        (replace(_tag("vbr-mtrh", 0, kbps=256), vbr_method="unknown", vbr_quality=None), 0, "V0"),
        (replace(_tag("cbr", kbps=256), vbr_method="unknown"), 256_000, "256"),
        (None, 320_000, "320"),
        (None, 160_000, "128"),
    ],
)
def test_container_class_from_lame_tag_and_bitrate(tag, bit_rate, expected):
    assert container_class(_info(lame=tag, bit_rate=bit_rate)) == expected


def test_container_class_of_other_codecs():
    assert container_class(_info("flac", lossless=True)) == "lossless"
    assert container_class(_info("aac", bit_rate=128_000)) is None


def _summary(cutoff=16000.0, frames=10) -> SpectralSummary:
    f = np.zeros(len(FEATURE_NAMES))
    return SpectralSummary(f, cutoff, 40.0, np.zeros(2049), np.zeros(2049), frames)


def _proba(**p: float) -> np.ndarray:
    v = np.array([p.get(c, 0.0) for c in CONTENT_CLASSES])
    return v / v.sum()


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_flac_with_mp3_content_is_a_transcode(model):
    r = decide(
        _info("flac", lossless=True), _summary(), _proba(**{"128": 0.98, "lossless": 0.02}), model
    )
    assert (r.verdict, r.bitrate_class) == ("transcode", "128")
    assert r.origin == {"codec": "mp3", "bitrate_kbps": 128}
    assert 0.5 < r.confidence <= 1.0


def test_flac_with_lossless_content_is_lossless(model):
    r = decide(
        _info("flac", lossless=True),
        _summary(22050.0),
        _proba(lossless=0.97, **{"320": 0.03}),
        model,
    )
    assert (r.verdict, r.bitrate_class, r.origin) == ("lossless", "lossless", None)


def test_mp3_320_with_128_content_is_a_transcode(model):
    info = _info(lame=_tag("cbr", kbps=320))
    r = decide(info, _summary(), _proba(**{"128": 0.8, "320": 0.2}), model)
    assert (r.verdict, r.bitrate_class) == ("transcode", "128")
    assert r.claimed["class"] == "320"


def test_genuine_mp3_keeps_its_claimed_class(model):
    info = _info(lame=_tag("vbr-mtrh", 0), bit_rate=32_000, vbr=True)
    r = decide(info, _summary(19500.0), _proba(V0=0.7, **{"256": 0.2, "320": 0.1}), model)
    assert (r.verdict, r.bitrate_class) == ("lossy", "V0")
    assert r.origin["codec"] == "mp3"


def test_higher_content_than_claimed_is_not_a_transcode(model):
    r = decide(
        _info(lame=_tag("cbr", kbps=128), bit_rate=128_000),
        _summary(),
        _proba(lossless=0.9, **{"128": 0.1}),
        model,
    )
    assert r.verdict == "lossy" and r.bitrate_class == "128"


def test_aac_file_is_lossy_with_its_own_origin(model):
    r = decide(_info("aac", bit_rate=128_000), _summary(), _proba(aac=0.9, lossless=0.1), model)
    assert r.verdict == "lossy"
    assert r.origin == {"codec": "aac", "bitrate_kbps": 128}
    assert r.bitrate_class in BITRATE_CLASSES


def test_no_content_above_12khz_is_unknown(model):
    s = _summary()
    s.features[FEATURE_NAMES.index("hf_abs_db")] = -80.0  # at the 16-bit noise floor
    r = decide(_info("flac", lossless=True), s, _proba(**{"128": 0.98, "lossless": 0.02}), model)
    assert r.verdict == "unknown" and r.confidence == 0.0
    assert r.content["evidence"] is False


def test_a_lossless_file_with_an_mp3_grid_is_a_transcode_from_mp3_even_when_dark(model):
    s = _summary(15000.0)
    s.features[FEATURE_NAMES.index("hf_abs_db")] = -80.0  # nothing where walls show
    flac = _info("flac", lossless=True)
    p = _proba(lossless=0.9, **{"V2": 0.1})
    assert decide(flac, s, p, model).verdict == "unknown"
    r = decide(flac, replace(s, mp3_grid=GRID_MIN), p, model)
    assert r.verdict == "transcode" and r.origin["codec"] == "mp3"
    assert r.bitrate_class == "V2" and r.confidence >= 0.9


def test_a_dark_320_upscale_is_judged_through_its_grid(model):
    s = _summary(16000.0)
    s.features[FEATURE_NAMES.index("hf_abs_db")] = -80.0
    info = _info(lame=_tag("cbr", kbps=320))
    p = _proba(**{"128": 0.6, "320": 0.4})
    # no content above 12 kHz and no grid: nothing to judge the content's class by
    assert decide(info, s, p, model).verdict == "lossy"
    # the grid shows how coarsely it was quantized: the model's 128 counts
    r = decide(info, replace(s, mp3_grid=0.6), p, model)
    assert (r.verdict, r.bitrate_class) == ("transcode", "128")
    # a grid never makes an AAC file's content judged by the MP3 classes
    aac = decide(_info("aac", bit_rate=320_000), replace(s, mp3_grid=0.6), p, model)
    assert aac.verdict == "lossy"


def test_silence_is_unknown(model):
    r = decide(_info("flac", lossless=True), _summary(frames=0), _proba(lossless=1.0), model)
    assert r.verdict == "unknown" and r.confidence == 0.0


def test_plan_windows_reads_short_files_whole_and_spreads_long_ones():
    assert plan_windows(12.0) is None
    w = plan_windows(200.0)
    assert w is not None and len(w) == 8
    starts = [s for s, _ in w]
    assert starts == sorted(starts) and starts[0] >= 0 and starts[-1] + w[-1][1] <= 200.0
    assert sum(d for _, d in w) < 0.15 * 200.0


def test_summary_finds_a_brick_wall_cutoff():
    rng = np.random.default_rng(0)
    sr = 44100
    x = rng.standard_normal(sr * 4)
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    spec[freqs > 16000] = 0.0  # an ideal low-pass, like an encoder's
    y = np.fft.irfft(spec, n=x.size) * 0.1
    s = summarize([y], sr=sr, device=audiolens.resolve_device("cpu"))
    assert abs(s.cutoff_hz - 16000) < 150
    assert s.step_db > 60
    s_full = summarize([x * 0.1], sr=sr, device=audiolens.resolve_device("cpu"))
    assert s_full.step_db < 10


def test_features_same_on_torch_backend():
    pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    y = rng.standard_normal(44100 * 3) * 0.1
    a = summarize([y], sr=44100, device=audiolens.resolve_device("cpu"))
    b = summarize([y], sr=44100, device=audiolens.resolve_device("torch"))
    np.testing.assert_allclose(a.features, b.features, rtol=1e-9, atol=1e-9)


def test_clipped_frames_marks_frames_with_a_full_scale_sample_in_any_channel():
    hop = N_FFT // 2
    x = np.zeros((2, hop * 10))
    x[1, hop * 4 + 7] = 32767 / 32768  # a 16-bit full-scale sample in the right channel only
    x[0, hop * 8 + 1] = -0.9  # loud, not clipped
    got = clipped_frames([x, np.zeros(N_FFT - 1)])  # the second piece is too short for a frame
    # frames start every hop and span two hops: frames 3 and 4 hold sample 4 * hop + 7
    assert got.tolist() == [i in (3, 4) for i in range(9)]
    mono = x.mean(axis=0)  # the mono mix of the same frame is at half scale: per channel it is
    assert not clipped_frames([mono]).any()


def test_clipped_frames_are_left_out_only_when_enough_others_remain():
    rng = np.random.default_rng(3)
    n_frames = MIN_CLEAN_FRAMES + 8
    x = np.clip(rng.standard_normal((2, (n_frames + 1) * N_FFT // 2)) * 0.05, -1, 1)
    x[0, : 3 * N_FFT] = 1.0  # the first frames clip
    cpu = audiolens.resolve_device("cpu")
    kept = summarize([x], sr=44100, device=cpu, skip_clipped=True)
    assert kept.clipped == int(clipped_frames([x]).sum()) > 0
    assert kept.frames == n_frames - kept.clipped
    assert summarize([x], sr=44100, device=cpu).clipped == 0  # not asked for
    short = x[:, : (MIN_CLEAN_FRAMES // 2) * N_FFT // 2]
    assert summarize([short], sr=44100, device=cpu, skip_clipped=True).clipped == 0


@needs_ffmpeg
def test_clipping_in_a_flac_made_from_opus_hides_no_codec_wall(tmp_path):
    # a real recording mastered 6 dB over full scale (clipped, as loud masters are), through
    # Opus 96 kb/s into a 16-bit FLAC: the decode overshoots full scale again, the FLAC clips
    # it, and each clipped run spreads a burst above Opus's 20 kHz wall
    import soundfile as sf

    x, sr = sf.read(GUITAR, always_2d=True)
    master = np.clip(np.repeat(x, 2, axis=1) / np.abs(x).max() * 2.0, -1.0, 32767 / 32768)
    sf.write(tmp_path / "master.wav", master, sr, subtype="PCM_16")
    ff = ["ffmpeg", "-v", "error", "-y", "-i"]
    opus, flac = tmp_path / "c.opus", tmp_path / "c.flac"
    to_opus = ["-c:a", "libopus", "-b:a", "96k", opus]
    subprocess.run([*ff, tmp_path / "master.wav", *to_opus], check=True)
    subprocess.run([*ff, opus, "-ar", str(sr), "-sample_fmt", "s16", flac], check=True)
    task = QualityTask()
    item = read_input(flac, task)
    assert item.pieces[0].samples.shape[0] == 2  # a lossless file is read with its channels
    summary = task.features(item, audiolens.resolve_device("cpu"))
    assert summary.clipped > 0 and codec_wall(summary)
    pieces = [a.samples for a in item.pieces]
    with_bursts = summarize(pieces, sr=sr, device=audiolens.resolve_device("cpu"))
    assert not codec_wall(with_bursts)  # what the wall test saw before frames were left out
    assert audiolens.quality(flac, device="cpu").verdict == "transcode"
    # the clipped master itself, stored losslessly, is no transcode
    sf.write(tmp_path / "master.flac", master, sr, subtype="PCM_16")
    assert audiolens.quality(tmp_path / "master.flac", device="cpu").verdict == "lossless"


def _granules(x: np.ndarray, keep_hf, sr: int = 44100, n: int = 576) -> np.ndarray:
    """``x`` re-synthesised granule by granule (576 samples, as MP3's), with everything above
    16 kHz dropped in the granules where ``keep_hf(i)`` is false, then stored in 16 bits."""
    out = np.empty(x.size // n * n)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    for i in range(x.size // n):
        spec = np.fft.rfft(x[i * n : (i + 1) * n])
        if not keep_hf(i):
            spec[freqs > 16000] = 0.0
        out[i * n : (i + 1) * n] = np.fft.irfft(spec, n=n)
    return np.round(out * 32767) / 32767


def test_flicker_sees_bands_an_encoder_switches_off_granule_by_granule():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(44100 * 6) * 0.05
    cpu = audiolens.resolve_device("cpu")
    coded = _granules(x, lambda i: rng.random() < 0.7)  # 30% of granules lose their top
    assert flicker([coded], sr=44100, device=cpu) >= 10 * FLICKER_MIN
    # the same noise kept whole, and stored in 16 bits: nothing switches off
    whole = np.round(x * 32767) / 32767
    assert flicker([whole], sr=44100, device=cpu) == 0.0


def test_flicker_ignores_sounds_that_start_abruptly_and_decay():
    # bright hits that start within a sample and decay over 60 ms, over a dark bed that stops
    # at 14 kHz: the top bands go from nothing to loud at every hit, never back within a frame
    rng = np.random.default_rng(4)
    sr, n = 44100, 44100 * 6
    bed = np.fft.rfft(rng.standard_normal(n))
    bed[np.fft.rfftfreq(n, 1 / sr) > 14000] = 0.0
    y = np.fft.irfft(bed, n=n) * 0.05
    t = np.arange(int(0.3 * sr)) / sr
    hit = rng.standard_normal(t.size) * np.exp(-t / 0.06) * 0.2
    for start in range(0, n - t.size, int(0.25 * sr)):
        y[start : start + t.size] += hit
    y = np.round(y * 32767) / 32767
    assert flicker([y], sr=sr, device=audiolens.resolve_device("cpu")) < FLICKER_MIN


def test_flicker_same_on_torch_backend():
    pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    coded = _granules(rng.standard_normal(44100 * 3) * 0.05, lambda i: i % 3 != 0)
    a = flicker([coded], sr=44100, device=audiolens.resolve_device("cpu"))
    b = flicker([coded], sr=44100, device=audiolens.resolve_device("torch"))
    assert a > 0 and a == b


def test_flicker_needs_enough_frames_and_bands_under_nyquist():
    rng = np.random.default_rng(6)
    cpu = audiolens.resolve_device("cpu")
    short = _granules(rng.standard_normal(512 * 50) * 0.05, lambda i: i % 2 == 0)
    assert flicker([short], sr=44100, device=cpu) == 0.0  # fewer than 100 frames counted
    assert flicker([short], sr=32000, device=cpu) == 0.0  # no band above 16 kHz below 15.5 kHz


def test_model_loads_without_torch_or_sklearn():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'sklearn'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import audiolens\n"
        f"r = audiolens.quality({str(EXAMPLES / 'song_lossless.flac')!r}, device='auto')\n"
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules\n"
        "print(r.verdict)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lossless"


@pytest.mark.parametrize(
    ("name", "verdict", "klass"),
    [
        ("song_lossless.flac", "lossless", "lossless"),
        ("song_fake_lossless_from_mp3_128.flac", "transcode", "128"),
        ("song_mp3_320_from_128.mp3", "transcode", "128"),
        ("song_mp3_v0.mp3", "lossy", "V0"),
    ],
)
def test_bundled_examples(name, verdict, klass):
    r = audiolens.quality(EXAMPLES / name, device="cpu")
    assert isinstance(r, QualityResult)
    assert (r.verdict, r.bitrate_class) == (verdict, klass)
    if verdict == "transcode":
        assert r.origin == {"codec": "mp3", "bitrate_kbps": 128}
        assert 16000 < r.cutoff_hz < 17500


@needs_lame
@pytest.mark.parametrize(
    ("args", "klass"),
    [
        (["-b", "128"], "128"),
        (["-V", "2"], "V2"),
        (["-b", "192"], "192"),
        (["-V", "0"], "V0"),
        (["-b", "256"], "256"),
        (["-b", "320"], "320"),
    ],
)
def test_real_lame_encodes_of_a_real_recording(tmp_path, args, klass):
    src = EVAL / "beats" / "guitarset_00_BN1-129-Eb_comp_mic.wav"
    out = tmp_path / "x.mp3"
    subprocess.run(["lame", "--quiet", *args, str(src), str(out)], check=True)
    r = audiolens.quality(out, device="cpu")
    assert (r.verdict, r.bitrate_class) == ("lossy", klass)
    assert r.origin["codec"] == "mp3"


def _wav(path: Path, y: np.ndarray, sr: int, subtype: str) -> Path:
    import soundfile as sf

    sf.write(path, y.T, sr, subtype=subtype)
    return path


@pytest.mark.parametrize(
    ("name", "sr", "channels", "seconds", "subtype", "silent"),
    [
        ("silence", 44100, 2, 3.0, "PCM_16", True),
        ("short", 44100, 2, 0.2, "PCM_16", False),
        ("tiny", 44100, 1, 0.05, "PCM_16", False),
        ("8k", 8000, 1, 2.0, "PCM_16", False),
        ("192k", 192000, 2, 1.0, "PCM_24", False),
        ("6ch", 48000, 6, 1.0, "PCM_16", False),
        ("u8", 22050, 1, 1.0, "PCM_U8", False),
        ("float", 44100, 2, 1.0, "FLOAT", False),
    ],
)
def test_odd_but_valid_files_get_an_answer(tmp_path, name, sr, channels, seconds, subtype, silent):
    rng = np.random.default_rng(3)
    n = int(sr * seconds)
    y = np.zeros((channels, n)) if silent else 0.3 * rng.standard_normal((channels, n))
    path = _wav(tmp_path / f"{name}.wav", np.clip(y, -1, 1), sr, subtype)
    r = audiolens.quality(path, device="cpu")
    assert 0.0 <= r.confidence <= 1.0
    assert 0 < r.cutoff_hz <= sr / 2
    if silent or seconds < 0.1 or sr < 32000:
        # nothing to judge, or no 12-16 kHz band where codecs leave their marks
        assert r.verdict == "unknown" and r.confidence == 0.0
    else:
        assert r.verdict == "lossless"  # a WAV of noise: nothing says otherwise


TRANSCODE = EVAL / "transcode"


def test_real_lossless_and_aac_pair_from_shared_eval():
    flac = audiolens.quality(TRANSCODE / "madmom_stereo_sample.flac", device="cpu")
    assert flac.verdict == "lossless" and flac.origin is None
    aac = audiolens.quality(TRANSCODE / "madmom_stereo_sample.m4a", device="cpu")
    assert aac.verdict == "lossy"
    assert aac.origin["codec"] == "aac" and 120 <= aac.origin["bitrate_kbps"] <= 136
    assert 15500 < aac.cutoff_hz < 18000  # FFmpeg's AAC low-pass at 128 kb/s


def test_real_aac_decode_in_a_wav_is_a_transcode():
    r = audiolens.quality(TRANSCODE / "madmom_stereo_sample_decoded_from_aac.wav", device="cpu")
    assert 16000 < r.cutoff_hz < 17500
    assert r.verdict == "transcode"


# --------------------------------------------------------------------------- issue 13


@pytest.mark.parametrize(
    ("tag", "codec", "bit_rate", "expected"),
    [
        (_tag("cbr", kbps=320), "mp3", 320_000, 17000.0),  # the tag's own low-pass field wins
        (None, "mp3", 320_000, 20500.0),  # LAME's table: 320 kb/s -> 20.5 kHz
        (None, "mp3", 128_000, 17000.0),
        (None, "mp3", 192_000, 18600.0),
        (None, "mp3", 64_000, None),  # below the table's useful range
        (None, "opus", 128_000, 20000.0),
        (None, "vorbis", 224_000, None),  # libvorbis' low-pass follows the music
        (None, "aac", 256_000, 19500.0),
    ],
)
def test_expected_lowpass_of_the_container(tag, codec, bit_rate, expected):
    info = _info(codec, lame=tag, bit_rate=bit_rate)
    assert expected_lowpass(info) == expected


def test_expected_lowpass_of_lossless_is_none():
    assert expected_lowpass(_info("flac", lossless=True)) is None


def _ltas_summary(edge_hz: float, content_db: float, floor_db: float, roll_hz: float):
    """A summary whose spectrum is ``content_db`` up to ``edge_hz``, then falls to ``floor_db``
    over ``roll_hz`` (a codec's wall: a few hundred Hz; an instrument's roll-off: kHz)."""
    freqs = np.arange(2049) * (44100 / 4096)
    ltas = np.interp(
        freqs, [0, edge_hz - roll_hz, edge_hz, 22050], [content_db] * 2 + [floor_db] * 2
    )
    ltas = np.where(freqs > 20500, -140.0, ltas)  # above LAME 320's own low-pass: nothing
    return SpectralSummary(np.zeros(len(FEATURE_NAMES)), 20500.0, 60.0, ltas, freqs, 100)


@pytest.mark.parametrize(
    ("edge", "roll", "upscaled"),
    [
        (17000.0, 300.0, True),  # a LAME 128 wall inside a 320 file: 3.5 kHz below its low-pass
        (18900.0, 300.0, True),  # a 192 kb/s wall: measured ~19 kHz, 1.9 kHz nominal gap
        (20300.0, 300.0, False),  # content up to the 320 wall: genuine
        (19900.0, 300.0, False),  # a 256 kb/s wall is only 0.8 kHz below: not claimed
        (17000.0, 6000.0, False),  # a gentle roll-off, not an encoder's filter
        (8000.0, 300.0, False),  # no encoder at these bitrates cuts at 8 kHz
    ],
)
def test_upscale_edge_is_a_wall_well_below_the_containers_lowpass(edge, roll, upscaled):
    info = _info(bit_rate=320_000)
    s = _ltas_summary(edge, -30.0, -75.0, roll)
    found = upscale_edge(info, s)
    assert (found is not None) == upscaled
    if upscaled:
        assert abs(found - edge) < 600


def test_upscale_edge_makes_a_320_a_transcode_with_an_mp3_origin(model):
    info = _info(bit_rate=320_000)
    s = _ltas_summary(17000.0, -30.0, -75.0, 300.0)
    s.features[FEATURE_NAMES.index("hf_abs_db")] = -30.0
    r = decide(info, s, _proba(**{"320": 0.9, "lossless": 0.1}), model, edge=upscale_edge(info, s))
    assert (r.verdict, r.bitrate_class) == ("transcode", "128")
    assert r.origin["codec"] == "mp3"


def test_confidence_is_calibrated_by_the_models_table(model):
    table = np.array([[0.5, 1.0], [0.6, 0.9]])
    m = replace(model, calibration={"lossless": table})
    assert m.calibrate("lossless", 0.75) == pytest.approx(0.75)
    assert m.calibrate("lossless", 0.2) == pytest.approx(0.6)  # clipped to the table
    assert m.calibrate("nosuchkind", 0.42) == pytest.approx(0.42)


def test_a_split_off_curve_falls_back_to_the_one_it_came_from(model):
    m = replace(model, calibration={"lossless": np.array([[0.5, 1.0], [0.6, 0.9]])})
    assert m.calibrate("lossless_short", 0.75) == pytest.approx(0.75)
    short = np.array([[0.5, 1.0], [0.3, 0.4]])
    m = replace(m, calibration={**m.calibration, "lossless_short": short})
    assert m.calibrate("lossless_short", 0.75) == pytest.approx(0.35)


def test_lossless_content_that_stops_below_the_high_bitrate_walls_claims_less(model):
    """Content to 22 kHz rules out every lossy low-pass; content to 15 kHz cannot rule out
    LAME V0-320, AAC 256 or Opus, whose walls sit above it: same content model answer, its
    own calibration curve, and the shipped one does not let such a guess pass for a sure one."""
    info = _info("flac", lossless=True)
    proba = _proba(lossless=0.97, **{"320": 0.03})
    full = raw_verdict(info, _summary(22050.0), proba, model, edge=None)
    short = raw_verdict(info, _summary(15000.0), proba, model, edge=None)
    assert (full.kind, short.kind) == ("lossless", "lossless_short")
    assert full.raw == short.raw
    a = decide(info, _summary(22050.0), proba, model)
    b = decide(info, _summary(15000.0), proba, model)
    assert a.verdict == b.verdict == "lossless"
    assert b.confidence < min(a.confidence, 0.7)


def test_shipped_model_carries_calibration(model):
    assert {"lossless", "transcode", "lossy"} <= set(model.calibration)
    for table in model.calibration.values():
        assert table.shape[0] == 2 and np.all(np.diff(table[0]) >= 0)
        assert np.all(np.diff(table[1]) >= 0) and np.all((table[1] >= 0) & (table[1] <= 1))


GUITAR = EVAL / "beats" / "guitarset_00_BN1-129-Eb_comp_mic.wav"


def _encode_chain(tmp_path: Path, steps: list[tuple[str, list[str]]]) -> Path:
    """Run a chain of encodes: each step (tool, args) reads the previous file.

    The mono recording is made stereo first, as it would sit in a music library: encoders
    choose a far higher low-pass for one channel (LAME 128 kb/s mono keeps ~20 kHz).
    """
    src = tmp_path / "stereo.wav"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(GUITAR), "-ac", "2", str(src)]
    subprocess.run(cmd, check=True)
    for i, (tool, args) in enumerate(steps):
        ext = args[-1]
        out = tmp_path / f"step{i}.{ext}"
        if tool == "lame":
            if src.suffix != ".wav":
                wav = tmp_path / f"step{i}_in.wav"
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-y", "-i", str(src), str(wav)], check=True
                )
                src = wav
            subprocess.run(["lame", "--quiet", *args[:-1], str(src), str(out)], check=True)
        else:
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(src), *args[:-1], str(out)]
            subprocess.run(cmd, check=True)
        src = out
    return src


@needs_lame
@needs_ffmpeg
@pytest.mark.parametrize("first", [["-b", "128"], ["-V", "2"], ["-b", "192"]])
def test_real_recording_upscaled_to_320_is_a_transcode(tmp_path, first):
    path = _encode_chain(tmp_path, [("lame", [*first, "mp3"]), ("lame", ["-b", "320", "mp3"])])
    r = audiolens.quality(path, device="cpu")
    assert r.verdict == "transcode" and r.origin["codec"] == "mp3"
    assert r.confidence >= 0.7


@needs_lame
@needs_ffmpeg
@pytest.mark.parametrize(
    "steps",
    [
        [("ffmpeg", ["-c:a", "aac", "-b:a", "256k", "m4a"])],
        [("ffmpeg", ["-c:a", "libvorbis", "-q:a", "6", "ogg"])],
        [("lame", ["-V", "0", "mp3"])],
    ],
    ids=["aac256", "vorbis_q6", "lame_v0"],
)
def test_real_recording_through_a_codec_into_flac_is_never_confidently_lossless(tmp_path, steps):
    path = _encode_chain(
        tmp_path, [*steps, ("ffmpeg", ["-c:a", "flac", "-sample_fmt", "s16", "flac"])]
    )
    r = audiolens.quality(path, device="cpu")
    assert not (r.verdict == "lossless" and r.confidence >= 0.7), (r.verdict, r.confidence)


@needs_lame
@needs_ffmpeg
@pytest.mark.parametrize(
    "steps",
    [
        [("lame", ["-V", "0", "mp3"])],
        [("ffmpeg", ["-c:a", "libvorbis", "-q:a", "7", "ogg"])],
    ],
    ids=["lame_v0", "vorbis_q7"],
)
def test_real_recording_through_an_encoder_without_lowpass_into_flac_is_a_transcode(
    tmp_path, steps
):
    # neither encoder leaves a wall (LAME -V0 has no low-pass at 44.1 kHz, Vorbis -q 7 keeps
    # 21.5 kHz): only the bands they switch off frame by frame give them away
    path = _encode_chain(
        tmp_path, [*steps, ("ffmpeg", ["-c:a", "flac", "-sample_fmt", "s16", "flac"])]
    )
    r = audiolens.quality(path, device="cpu")
    assert r.verdict == "transcode", (r.verdict, r.confidence)
    original = audiolens.quality(GUITAR, device="cpu")
    assert original.verdict == "lossless"


# --------------------------------------------------------------------------- issue 20


def _cuda_ok() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


#: the torch devices the batched path runs on here: the CPU always, CUDA where there is one
TORCH_DEVICES = [
    "torch",
    pytest.param("cuda", marks=pytest.mark.skipif(not _cuda_ok(), reason="no CUDA")),
]

#: real files of mixed lengths (4-60 s: whole, or 8 stretches), sample rates (16, 24,
#: 44.1 kHz), channels (lossless stereo arrives with both), lossless and lossy
_MIXED = [
    EXAMPLES / "song_fake_lossless_from_mp3_128.flac",
    EXAMPLES / "song_mp3_v0.mp3",
    TRANSCODE / "madmom_stereo_sample.m4a",
    TRANSCODE / "madmom_stereo_sample_decoded_from_aac.wav",
    EVAL / "beats" / "ballroom_Media-105901.wav",
    EVAL / "speech" / "fw_stereo_diarization.wav",
    EVAL / "speech" / "fw_multilingual.mp3",
]


@pytest.fixture(scope="module")
def mixed_batch(tmp_path_factory):
    """The decoded inputs of one batch: the real files above, a real stereo recording driven
    into clipping (its loudest 0.05% of samples over full scale), 50 ms of a real recording
    (too short for one 4096-point frame) and 2 s of 48 kHz stereo silence."""
    import soundfile as sf

    from audiolens.tasks.quality import QualityTask, read_input

    folder = tmp_path_factory.mktemp("mixed")
    y, sr = sf.read(TRANSCODE / "madmom_stereo_sample.flac")
    loud = np.clip(y / np.quantile(np.abs(y), 0.9995), -1.0, 1.0)
    sf.write(folder / "clipped.wav", loud, sr, subtype="PCM_16")
    y, sr = sf.read(EVAL / "beats" / "madmom_sample.wav")
    sf.write(folder / "short.wav", y[: sr // 20], sr, subtype="PCM_16")
    sf.write(folder / "silent.wav", np.zeros((96000, 2)), 48000, subtype="PCM_16")
    task = QualityTask()
    paths = [*_MIXED, folder / "clipped.wav", folder / "short.wav", folder / "silent.wav"]
    return [read_input(p, task) for p in paths]


def _same_summaries(got, ref) -> None:
    """Batched device summaries equal the numpy ones: features and long-term spectrum within
    1e-9, and the same frame counts, flicker, lattice share, MP3 grid share and cutoff."""
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g.features, r.features, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(g.ltas_db, r.ltas_db, rtol=1e-9, atol=1e-9)
        assert (g.frames, g.clipped, g.flicker, g.lattice, g.mp3_grid, g.cutoff_hz) == (
            r.frames,
            r.clipped,
            r.flicker,
            r.lattice,
            r.mp3_grid,
            r.cutoff_hz,
        )


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_batched_device_features_equal_the_per_file_numpy_ones(mixed_batch, device):
    pytest.importorskip("torch")
    from audiolens.tasks.quality import QualityTask
    from audiolens.tasks.quality.features import summarize_batch

    task = QualityTask()
    files = [task.stretches(item) for item in mixed_batch]
    batched = summarize_batch(files, device=audiolens.resolve_device(device))
    cpu = audiolens.resolve_device("cpu")
    for f, got in zip(files, batched, strict=True):
        ref = summarize(
            f.pieces,
            sr=f.sr,
            device=cpu,
            codec_marks=f.codec_marks,
            starts=f.starts,
            skip_clipped=f.skip_clipped,
            mp3_grid=f.mp3_grid,
        )
        _same_summaries([got], [ref])
    # the batch holds what it should: stretched and whole files, 16-44.1 kHz, stereo
    # lossless pieces, a file with no frame and a silent one (frames all dropped)
    assert {f.sr for f in files} == {16000, 24000, 44100, 48000}
    assert any(len(f.pieces) == 8 for f in files) and any(len(f.pieces) == 1 for f in files)
    assert any(p.ndim == 2 and p.shape[0] == 2 for f in files for p in f.pieces)
    assert batched[-3].clipped > 0 and batched[-3].frames >= 32
    assert batched[-2].frames == 0 and batched[-1].frames == 0
    assert all(s.frames > 0 for s in batched[:-2])
    # the FLAC decoded from LAME 128 kb/s shows its MP3 grid; the AAC decode does not
    assert batched[0].mp3_grid >= GRID_MIN and batched[3].mp3_grid < GRID_MIN
    assert any(s.flicker > 0 for s in batched) and any(s.lattice > 0 for s in batched)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_batched_device_run_gives_the_per_file_numpy_verdicts(mixed_batch, device):
    pytest.importorskip("torch")
    from audiolens.tasks.quality import QualityTask

    task = QualityTask()
    batched = task.run(mixed_batch, device=audiolens.resolve_device(device))
    cpu = audiolens.resolve_device("cpu")
    per_file = [task.run([item], device=cpu)[0] for item in mixed_batch]
    assert [r.to_dict() for r in batched] == [r.to_dict() for r in per_file]
    verdicts = [r.verdict for r in per_file]
    assert {"lossy", "transcode", "unknown"} <= set(verdicts)
    assert verdicts[-2:] == ["unknown", "unknown"]


def _pieces_of(batch) -> list[np.ndarray]:
    from audiolens.tasks.quality.features import _mono

    return [_mono(a.samples) for item in batch for a in item.pieces]


def test_device_frames_split_by_memory_and_halve_on_out_of_memory(mixed_batch, monkeypatch):
    pytest.importorskip("torch")
    from audiolens.devices import Device
    from audiolens.tasks.quality import power

    pieces = _pieces_of(mixed_batch)
    torch_cpu = audiolens.resolve_device("torch")
    ref = power.piece_powers(pieces, n_fft=4096, hop=2048, device=audiolens.resolve_device("cpu"))
    assert ref[-2] is None  # the 50 ms file has no 4096-point frame
    assert all(r is not None for r in ref[:-2])

    calls: list[int] = []
    transform = power._transform

    def spy(chunk, *args, **kwargs):
        calls.append(len(chunk))
        if len(chunk) > 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return transform(chunk, *args, **kwargs)

    def same(got):
        assert len(got) == len(ref)
        for g, r in zip(got, ref, strict=True):
            assert (g is None) == (r is None)
            if r is not None:
                np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12 * r.max())

    monkeypatch.setattr(power, "_transform", spy)
    same(power.piece_powers(pieces, n_fft=4096, hop=2048, device=torch_cpu))
    long_enough = len(pieces) - 1
    # one call for all, halved until it fits: every piece transformed once, in calls of <= 3
    ok = [c for c in calls if c <= 3]
    assert calls[0] == long_enough and len(ok) < len(calls) and sum(ok) == long_enough

    # a memory budget that holds one piece: one piece per call, nothing refused
    calls.clear()
    monkeypatch.setattr(power, "HOST_BUDGET", 1)
    same(power.piece_powers(pieces, n_fft=4096, hop=2048, device=torch_cpu))
    assert calls == [1] * long_enough
    # MPS has no float64: the numpy path, as before
    assert not power.on_device(Device("mps", "torch", "float32"))


def test_after_running_out_of_memory_later_device_calls_start_at_the_size_that_fit(monkeypatch):
    pytest.importorskip("torch")
    import soundfile as sf

    from audiolens.tasks.quality import power

    y, sr = sf.read(EVAL / "beats" / "ballroom_Media-105901.wav")
    pieces = [np.asarray(y[i * sr : (i + 1) * sr], dtype=np.float64) for i in range(24)]
    frames = power.frame_count(sr, n_fft=4096, hop=2048)
    monkeypatch.setattr(power, "HOST_BUDGET", 8 * (frames * 4096 * 32 + sr * 8))  # 8 a call
    calls: list[tuple[int, bool]] = []
    transform = power._transform

    def spy(chunk, *args, **kwargs):
        calls.append((len(chunk), len(chunk) <= 2))
        if len(chunk) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return transform(chunk, *args, **kwargs)

    monkeypatch.setattr(power, "_transform", spy)
    got = power.piece_powers(pieces, n_fft=4096, hop=2048, device=audiolens.resolve_device("torch"))
    assert all(g is not None and g.shape[0] == frames for g in got)
    # the first call of 8 fails, then its halves of 4; every later call takes 2 and fits
    # (without remembering, each call of 8 would fail three times)
    assert calls[:3] == [(8, False), (4, False), (2, True)]
    assert [c for c, ok in calls if not ok] == [8, 4, 4]
    assert sum(c for c, ok in calls if ok) == 24


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_device_path_measures_the_frames_where_they_are(mixed_batch, monkeypatch, device):
    """On a torch device no frame matrix comes back to the host, and neither the numpy
    statistics (for a file with frames) nor the numpy AAC lattice run: the device computes
    them (the CPU stands in for CUDA), to the numpy answers."""
    pytest.importorskip("torch")
    from audiolens.tasks.quality import QualityTask, features, power

    files = [QualityTask().stretches(item) for item in mixed_batch]
    ref = features.summarize_batch(files, device=audiolens.resolve_device("cpu"))
    numpy_stats = features._power_stats

    def no_download(*args, **kwargs):
        raise AssertionError("the frames were brought back to the host")

    def only_frameless(power, **kwargs):
        assert power.shape[0] == 0, "the host measured a file's frames"
        return numpy_stats(power, **kwargs)

    monkeypatch.setattr(power, "_transform", no_download)
    monkeypatch.setattr(features, "_power_stats", only_frameless)
    monkeypatch.setattr(features, "lattice_share", no_download)  # its MDCTs run there too
    got = features.summarize_batch(files, device=audiolens.resolve_device(device))
    _same_summaries(got, ref)
    assert any(s.clipped for s in got) and any(s.flicker for s in got)
    assert any(s.lattice > 0.5 for s in got)


def test_device_statistics_halve_on_out_of_memory_whole_files_per_call(mixed_batch, monkeypatch):
    pytest.importorskip("torch")
    from audiolens.tasks.quality import QualityTask, device_stats, features

    files = [QualityTask().stretches(item) for item in mixed_batch]
    ref = features.summarize_batch(files, device=audiolens.resolve_device("cpu"))
    calls: list[int] = []
    transform = device_stats.device_power

    def key(p):
        return (p.shape[-1], float(np.sum(p[:64])))

    whole = {tuple(key(features._mono(p)) for p in f.pieces) for f in files}

    def whole_files(pieces) -> bool:
        at = 0
        while at < len(pieces):
            n = [len(w) for w in whole if w == tuple(map(key, pieces[at : at + len(w)]))]
            if not n:
                return False
            at += n[0]
        return True

    def spy(pieces, *args, **kwargs):
        assert whole_files(pieces), "a call split a file's stretches"
        calls.append(len(pieces))
        if len(pieces) > 9:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return transform(pieces, *args, **kwargs)

    monkeypatch.setattr(device_stats, "device_power", spy)
    got = features.summarize_batch(files, device=audiolens.resolve_device("torch"))
    _same_summaries(got, ref)
    # calls of more than 9 stretches failed and were halved, by files; every framed file's
    # stretches ran once in each pass (the 4096-point frames, the flicker's 512-point frames)
    assert calls[0] > 9
    framed = [f for f in files if any(p.shape[-1] >= 4096 for p in f.pieces)]
    long_pass = sum(len(f.pieces) for f in framed)
    marked = sum(len(f.pieces) for f in framed if f.codec_marks and features._flicker_bands(f.sr))
    assert sum(c for c in calls if c <= 9) == long_pass + marked


def test_prepare_where_decoded_leaves_run_the_frames_only(tmp_path, monkeypatch):
    """The runner's worker calls QualityTask.prepare after decoding: the clipped frames (of
    every channel) travel with the input (pickled, as from a worker process), and run does
    not compute them again; an error in prepare is left to run."""
    import os
    import pickle

    from audiolens.runner.jobs import FileJob, resolve_tasks
    from audiolens.runner.work import Worker
    from audiolens.tasks import quality as task_module
    from audiolens.tasks.quality import features

    path = TRANSCODE / "madmom_stereo_sample_decoded_from_aac.wav"
    st = os.stat(path)
    job = FileJob(os.fspath(path), st.st_size, st.st_mtime_ns, ("quality",))
    specs, instances = resolve_tasks(["quality"])
    worker = Worker(specs, audiolens.resolve_device("cpu"), instances)
    plain = worker.run_batch("quality", [worker.decode(job)])  # prepared too: the reference
    decoded = pickle.loads(pickle.dumps(worker.decode(job)))
    measured = [v for k, v in decoded.inputs["quality"].features.items() if "host_measures" in k]
    assert len(measured) == 1 and measured[0].clipped is not None

    def not_here(*args, **kwargs):
        raise AssertionError("run computed what prepare had")

    with monkeypatch.context() as m:
        m.setattr(features, "clipped_frames", not_here)
        prepared = worker.run_batch("quality", [decoded])
    assert prepared[0].result == plain[0].result and plain[0].result["verdict"] == "transcode"
    # its content sounds lossless: the AAC lattice (computed by run) made it a transcode
    assert plain[0].result["content"]["class"] == "lossless"
    assert plain[0].result["origin"]["codec"] == "aac"

    def broken(*args, **kwargs):
        raise ValueError("prepare failed")

    monkeypatch.setattr(task_module, "host_measures", broken)
    unprepared = worker.decode(job)  # no error: run does the work instead
    assert not any("host_measures" in k for k in unprepared.inputs["quality"].features)
    monkeypatch.undo()
    assert worker.run_batch("quality", [unprepared])[0].result == plain[0].result


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000, 96000, 192000])
def test_band_levels_in_one_indexing_per_width_equal_the_band_by_band_means(sr):
    import itertools

    from audiolens.tasks.quality import features

    ltas_db = np.random.default_rng(sr).standard_normal(2049) * 30.0 - 80.0
    freqs = features._freqs(sr)
    one_by_one = [
        features._band_mean(ltas_db, freqs, lo, hi)
        for lo, hi in itertools.pairwise(features.BAND_EDGES)
    ]
    # bit for bit (the numpy path's answers do not change), NaN above the Nyquist frequency
    np.testing.assert_array_equal(features._band_means(ltas_db, sr), one_by_one)
    assert np.isnan(one_by_one[-1]) == (sr < 48000)
