"""The Xing/Info/LAME tag reader, on files made by lame and ffmpeg and on hand-built bytes."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from audiolens_testkit import (
    LAME,
    ffmpeg,
    requires_ffmpeg,
    requires_lame,
    run_tool,
    signal,
    write_wav,
)

from audiolens._mpeg import LameTag, read_lame_tag
from audiolens.audio import load, probe

SR = 44100


@pytest.fixture(scope="module")
def pcm(tmp_path_factory):
    """A 2 s stereo 16-bit WAV that lame can read."""
    if LAME is None:
        pytest.skip("needs the lame command-line tool")
    folder = tmp_path_factory.mktemp("mpeg")
    src = write_wav(folder / "src.f32.wav", signal("tones", sr=SR, seconds=2.0), SR)
    out = folder / "src.wav"
    ffmpeg("-i", str(src), "-c:a", "pcm_s16le", str(out))
    return out


def _lame(pcm, name, *opts):
    out = pcm.parent / name
    run_tool(LAME, "--quiet", *opts, str(pcm), str(out))
    return out


def _tag(path):
    with open(path, "rb") as fh:
        return read_lame_tag(fh)


pytestmark = [requires_lame, requires_ffmpeg]


@pytest.mark.parametrize("kbps", [128, 192, 320])
def test_cbr_tag(pcm, kbps):
    path = _lame(pcm, f"cbr{kbps}.mp3", "-b", str(kbps))
    tag = _tag(path)
    assert tag.tag == "Info" and tag.encoder.startswith("LAME3.")
    assert tag.vbr_method == "cbr" and not tag.is_vbr and tag.vbr_quality is None
    assert tag.bitrate_kbps == kbps and tag.preset == kbps
    assert 15000 <= tag.lowpass_hz <= 20500
    assert tag.bytes == path.stat().st_size  # no ID3 tag: the tag counts the whole file
    assert tag.delay == 576
    # the decoder drops the encoder's delay and padding: what is left is the source, exactly
    decoded = load(path).samples.shape[1]
    assert tag.frames * 1152 - tag.delay - tag.padding == decoded == 2 * SR


def test_lowpass_rises_with_bitrate(pcm):
    lows = [_tag(_lame(pcm, f"lp{k}.mp3", "-b", str(k))).lowpass_hz for k in (96, 128, 320)]
    assert lows == sorted(lows) and lows[0] < lows[-1]


@pytest.mark.parametrize("quality", [0, 2, 5])
def test_vbr_tag(pcm, quality):
    path = _lame(pcm, f"v{quality}.mp3", "-V", str(quality))
    tag = _tag(path)
    assert tag.tag == "Xing" and tag.encoder.startswith("LAME3.")
    assert tag.vbr_method == "vbr-mtrh" and tag.is_vbr
    assert tag.vbr_quality == quality and tag.preset == 500 - 10 * quality
    info = probe(path)
    assert info.vbr is True and info.lame == tag


def test_abr_tag(pcm):
    tag = _tag(_lame(pcm, "abr.mp3", "--abr", "160"))
    assert tag.tag == "Xing" and tag.vbr_method == "abr" and tag.is_vbr
    assert tag.bitrate_kbps == 160 and tag.vbr_quality is None


@pytest.mark.parametrize(
    ("opts", "rate", "channels", "samples_per_frame"),
    [
        (("-m", "m", "-b", "128"), 44100, 1, 1152),  # MPEG-1 mono: 17 bytes of side info
        (("-m", "m", "--resample", "22.05", "-b", "64"), 22050, 1, 576),  # MPEG-2 mono: 9
        (("--resample", "22.05", "-b", "64"), 22050, 2, 576),  # MPEG-2 stereo: 17
        (("--resample", "8", "-b", "32"), 8000, 2, 576),  # MPEG-2.5
    ],
)
def test_tag_in_other_mpeg_versions_and_modes(pcm, opts, rate, channels, samples_per_frame):
    path = _lame(pcm, f"m{rate}_{channels}.mp3", *opts)
    tag = _tag(path)
    assert tag is not None and tag.vbr_method == "cbr" and tag.encoder.startswith("LAME")
    a = load(path)
    assert a.samples.shape == (channels, 2 * rate) and a.info.vbr is False
    assert tag.frames * samples_per_frame - tag.delay - tag.padding == 2 * rate


def test_ffmpeg_written_tags(pcm):
    cbr, vbr = pcm.parent / "ff_cbr.mp3", pcm.parent / "ff_vbr.mp3"
    ffmpeg("-i", str(pcm), "-c:a", "libmp3lame", "-b:a", "128k", str(cbr))
    ffmpeg("-i", str(pcm), "-c:a", "libmp3lame", "-q:a", "2", str(vbr))
    a, b = _tag(cbr), _tag(vbr)
    assert a.tag == "Info" and not a.is_vbr and a.bitrate_kbps == 128
    assert b.tag == "Xing" and b.is_vbr
    assert a.encoder[:4].isalpha() and a.frames > 0 and a.bytes > 0


def test_no_tag(pcm):
    path = _lame(pcm, "notag.mp3", "-t", "-b", "128")
    assert _tag(path) is None
    info = probe(path)
    assert info.codec == "mp3" and info.lame is None and info.vbr is None
    assert info.bit_rate == 128000


def _id3v2(body: bytes, *, footer: bool = False) -> bytes:
    size = len(body)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    head = b"ID3\x04\x00" + bytes([0x10 if footer else 0]) + syncsafe
    return head + body + (b"3DI\x04\x00\x10" + syncsafe if footer else b"")


# a body with a false frame sync: only skipping the tag by its size gets past it
_BODY = b"TIT2\x00\x00\x00\x05\x00\x00\x03x\xff\xfb\x90\x64" + b"\x00" * 3000


def test_lame_id3v2_tag_before_the_frames(pcm):
    path = _lame(pcm, "id3.mp3", "--add-id3v2", "--tt", "Title", "--pad-id3v2-size", "3000")
    data = path.read_bytes()
    assert data[:3] == b"ID3"
    tag = _tag(path)
    assert tag is not None and tag.tag == "Info" and tag.encoder.startswith("LAME")
    assert probe(path).lame == tag


@pytest.mark.parametrize(
    ("prefix", "gapless"),
    [
        (_id3v2(_BODY), True),
        (_id3v2(_BODY, footer=True), True),
        (_id3v2(_BODY) + _id3v2(b"\x00" * 100), True),  # two tags back to back
        (_id3v2(_BODY) + b"\xff\xfb\x90\x64" + b"\x00" * 2000, False),  # junk, false sync
        (b"\x00" * 700, False),  # junk without a tag
    ],
    ids=["id3v2", "id3v2-footer", "two-id3v2", "junk-after-id3v2", "junk"],
)
def test_tag_found_after_prefixes(pcm, prefix, gapless, caplog):
    src = _lame(pcm, "plain.mp3", "-V", "4")
    want = _tag(src)
    path = pcm.parent / "prefixed.mp3"
    path.write_bytes(prefix + src.read_bytes())
    assert _tag(path) == want
    a = load(path)
    if gapless:  # FFmpeg used the tag to drop the encoder's delay and padding
        assert a.samples.shape[1] == 2 * SR
    else:  # FFmpeg reads the tag only in a first frame right after the ID3v2 tags
        assert a.samples.shape[1] > 2 * SR
    assert a.extra == {} and not caplog.records  # no false "truncated" warning


def _frame(ident: bytes, flags: int, fields: bytes, *, ext: bytes = b"") -> bytes:
    """An MPEG-1 layer III 128 kb/s 44.1 kHz stereo frame carrying a Xing/Info header."""
    header = b"\xff\xfb\x90\x00"
    body = b"\x00" * 32 + ident + struct.pack(">I", flags) + fields + ext
    return (header + body).ljust(417, b"\x00")


def test_hand_built_xing_without_lame_extension():
    data = _frame(b"Xing", 0x3, struct.pack(">II", 1234, 567890)) + _frame(b"XXXX", 0, b"")
    tag = read_lame_tag(io.BytesIO(data))
    assert tag == LameTag("Xing", "", "unknown", None, 0, 128, 1234, 567890, 0)
    assert tag.is_vbr  # "Xing" without a method says VBR
    info = read_lame_tag(io.BytesIO(data.replace(b"Xing", b"Info")))
    assert info.tag == "Info" and not info.is_vbr


def test_hand_built_lame_extension_fields():
    ext = bytearray(36)
    ext[:9] = b"LAME3.99r"
    ext[9] = 0x14  # revision 1, method 4 (vbr-mtrh)
    ext[10] = 195  # lowpass 19500 Hz
    ext[20] = 32  # minimum bitrate
    ext[21:24] = bytes([0x24, 0x00, 0x9C])  # delay 576, padding 156
    ext[26:28] = struct.pack(">H", 490)  # preset V1
    fields = struct.pack(">II", 100, 200000) + b"\x00" * 100 + struct.pack(">I", 88)
    tag = read_lame_tag(io.BytesIO(_frame(b"Xing", 0xF, fields, ext=bytes(ext))))
    assert tag.encoder == "LAME3.99r" and tag.vbr_method == "vbr-mtrh"
    assert tag.lowpass_hz == 19500 and tag.bitrate_kbps == 32 and tag.preset == 490
    assert (tag.frames, tag.bytes, tag.delay, tag.padding) == (100, 200000, 576, 156)
    assert tag.vbr_quality == 1  # quality 88 = 100 - 10 * V - q with V1
    assert tag.to_dict()["encoder"] == "LAME3.99r"


def test_first_frame_without_tag_gives_none():
    plain = b"\xff\xfb\x90\x00".ljust(417, b"\x55")
    assert read_lame_tag(io.BytesIO(plain * 3)) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID3",
        b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f",  # a tag that claims more than the file holds
        b"ID3\x04\x00\x00\xff\xff\xff\xff" + b"\x00" * 20,  # invalid size bytes
        b"\xff" * 5000,
        b"\xff\xfb\x90\x00\x00\x00",  # a header and nothing else
        _frame(b"Xing", 0xF, b"")[:60],  # a tag cut short
        np.random.default_rng(3).integers(0, 256, 100_000, dtype=np.uint8).tobytes(),
    ],
    ids=["empty", "id3-only", "id3-too-big", "id3-bad-size", "ff", "header", "cut", "random"],
)
def test_garbage_never_raises(data):
    tag = read_lame_tag(io.BytesIO(data))
    assert tag is None or isinstance(tag, LameTag)
