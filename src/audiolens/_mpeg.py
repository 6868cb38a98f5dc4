"""Reading the Xing/Info/LAME tag of an MP3 file.

LAME writes an ``Xing`` (VBR) or ``Info`` (CBR) frame first in every file it encodes, followed
by a LAME extension that records the encoder version, the VBR method, the low-pass frequency and
the preset. These are claims made by the encoder; the ``quality`` task checks them against the
audio itself.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from typing import BinaryIO

__all__ = ["LameTag", "read_lame_tag"]

_BITRATES = {  # (mpeg1?, layer3) kbps by index
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_VBR_METHODS = {
    0: "unknown",
    1: "cbr",
    2: "abr",
    3: "vbr-rh",
    4: "vbr-mtrh",
    5: "vbr-mt",
    6: "vbr",
    8: "cbr-2pass",
    9: "abr-2pass",
}


@dataclass(frozen=True)
class LameTag:
    """What the Xing/Info/LAME header of an MP3 says about its encoding.

    Attributes
    ----------
    tag : "Xing" or "Info" (LAME writes "Info" for CBR files)
    encoder : the encoder string, e.g. ``"LAME3.100"``; empty when there is no LAME extension
    vbr_method : "cbr", "abr", "vbr-mtrh", ... or "unknown"
    vbr_quality : the ``-V`` level (0-9) when it can be read from the Xing quality field
    lowpass_hz : the encoder's low-pass frequency in Hz (0 when not recorded)
    bitrate_kbps : the first frame's bitrate (CBR) or the ABR/minimum bitrate of the LAME tag
    frames, bytes : the stream length recorded in the tag (0 when absent)
    preset : LAME's preset code (0 when absent)
    delay, padding : encoder delay and end padding in samples, from the LAME extension (0
        when absent); a decoder drops them, so the decoded length is
        ``frames * samples_per_frame - delay - padding`` (``frames`` does not count the tag's
        own frame)
    """

    tag: str
    encoder: str
    vbr_method: str
    vbr_quality: int | None
    lowpass_hz: int
    bitrate_kbps: int
    frames: int
    bytes: int
    preset: int
    delay: int = 0
    padding: int = 0

    @property
    def is_vbr(self) -> bool:
        """True for VBR and ABR encodes, False for CBR."""
        if self.vbr_method in ("cbr", "cbr-2pass"):
            return False
        if self.vbr_method == "unknown":
            return self.tag == "Xing"
        return True

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return asdict(self)


def _skip_id3v2(fh: BinaryIO) -> int:
    """Offset of the first byte after the ID3v2 tag(s) at the start of the file."""
    start = 0
    for _ in range(4):  # a file may carry more than one tag back to back
        fh.seek(start)
        head = fh.read(10)
        if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
            break
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        footer = 10 if head[5] & 0x10 else 0
        start += 10 + size + footer
    return start


def read_lame_tag(fh: BinaryIO) -> LameTag | None:
    """Read the Xing/Info/LAME tag from the start of an open MP3 file.

    Parameters
    ----------
    fh : a binary file object positioned anywhere; it is read from the start

    Returns
    -------
    tag : the parsed tag, or None when the first MPEG audio frame carries no Xing/Info header
        (or no MPEG audio frame is found in the first 64 KiB after the ID3v2 tag)
    """
    start = _skip_id3v2(fh)
    fh.seek(start)
    buf = fh.read(_SCAN)
    pos = buf.find(b"\xff")
    while 0 <= pos < len(buf) - 4:
        if (buf[pos + 1] & 0xE0) == 0xE0 and _valid_header(buf, pos):
            tag = _parse_frame(buf, pos)
            if tag is not None:
                return tag
            if _next_frame_follows(buf, pos):
                return None  # the first real frame carries no tag
        pos = buf.find(b"\xff", pos + 1)
    return None


_SCAN = 65536


def _valid_header(buf: bytes, pos: int) -> bool:
    """Whether buf[pos:pos+4] is an MPEG audio layer III frame header."""
    b1, b2 = buf[pos + 1], buf[pos + 2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    return version != 1 and layer == 1 and (b2 >> 4) not in (0, 15) and ((b2 >> 2) & 3) != 3


def _frame_length(buf: bytes, pos: int) -> int:
    b1, b2 = buf[pos + 1], buf[pos + 2]
    version = (b1 >> 3) & 3
    mpeg1 = version == 3
    kbps = _BITRATES[mpeg1][b2 >> 4]
    rate = _RATES[version][(b2 >> 2) & 3]
    padding = (b2 >> 1) & 1
    return (144 if mpeg1 else 72) * kbps * 1000 // rate + padding


def _next_frame_follows(buf: bytes, pos: int) -> bool:
    """Whether another frame header of the same kind follows the frame at pos.

    True as well when the buffer ends before the next frame would start (nothing to check).
    """
    nxt = pos + _frame_length(buf, pos)
    if nxt + 4 > len(buf):
        return True
    same = buf[nxt] == 0xFF and (buf[nxt + 1] & 0xFE) == (buf[pos + 1] & 0xFE)
    return same and _valid_header(buf, nxt) and (buf[nxt + 2] & 0x0C) == (buf[pos + 2] & 0x0C)


def _parse_frame(buf: bytes, pos: int) -> LameTag | None:
    b1, b2, b3 = buf[pos + 1], buf[pos + 2], buf[pos + 3]
    version = (b1 >> 3) & 3
    mpeg1 = version == 3
    mono = (b3 >> 6) == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    off = pos + 4 + side
    ident = buf[off : off + 4]
    if ident not in (b"Xing", b"Info") or len(buf) < off + 8:
        return None
    bitrate = _BITRATES[mpeg1][b2 >> 4]
    (flags,) = struct.unpack(">I", buf[off + 4 : off + 8])
    p = off + 8
    frames = nbytes = 0
    quality = None
    if flags & 1:
        (frames,) = struct.unpack(">I", buf[p : p + 4].ljust(4, b"\0"))
        p += 4
    if flags & 2:
        (nbytes,) = struct.unpack(">I", buf[p : p + 4].ljust(4, b"\0"))
        p += 4
    if flags & 4:
        p += 100
    if flags & 8:
        (quality,) = struct.unpack(">I", buf[p : p + 4].ljust(4, b"\0"))
        p += 4
    ext = buf[p : p + 36]
    if len(ext) < 36 or not ext[:4].isalpha():
        return LameTag(ident.decode(), "", "unknown", None, 0, bitrate, frames, nbytes, 0)
    encoder = ext[:9].decode("latin-1").rstrip("\x00 ")
    method = _VBR_METHODS.get(ext[9] & 0x0F, "unknown")
    lowpass = ext[10] * 100
    abr = ext[20]
    delay = (ext[21] << 4) | (ext[22] >> 4)
    padding = ((ext[22] & 0x0F) << 8) | ext[23]
    preset = struct.unpack(">H", ext[26:28])[0] & 0x07FF
    vbr_q = None
    if quality is not None and method.startswith("vbr"):
        vbr_q = max(0, min(9, (100 - quality) // 10))
    kbps = bitrate if method in ("cbr", "cbr-2pass") or abr == 0 else abr
    return LameTag(
        ident.decode(),
        encoder,
        method,
        vbr_q,
        lowpass,
        kbps,
        frames,
        nbytes,
        preset,
        delay,
        padding,
    )
