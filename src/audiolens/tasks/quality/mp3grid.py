"""The MP3 granule grid: proof of an earlier, coarser MP3 encode in any decoded audio.

An MP3 (MPEG-1/2 Layer III) encoder splits the signal into 32 sub-bands with a 512-tap
polyphase filter bank, turns each sub-band's 18 new samples per granule (576 input samples)
into 18 lines with a 36-point MDCT, and quantizes every line; at 128 kb/s most lines above a
few kHz come out as exactly 0. The decoder inverts those steps, so the same analysis, run on
the decoded samples on the encoder's own granule grid, gives the quantized lines back, up to
the decode's rounding to 16 bits: the zeros come back as zeros. On any other grid, each line
mixes several quantized ones and the zeros are gone.

A later encode at a higher bitrate (an "upscale" to 320 kb/s), or a lossless file made from
the decode, keeps those zeros where its own grid is the first one's, as it is when both were
made by LAME and decoded gaplessly: its quantizer finds nothing to code in them. So the share
of lines that are zero on that grid, over the share on grids a sixth to half a granule away
(the largest of four), measures
how coarsely the audio was ever quantized there: about 0.5 for a first encode at 128 kb/s,
0.2-0.3 at V2 or 192 kb/s, 0.03-0.1 for a genuine 320 kb/s encode, 0 for audio that never went
through MP3. It needs no high-frequency content: a dark recording's lines below 16 kHz carry
it.

Two grids are tried: where LAME's granules fall in a gapless decode (the decoder removes the
encoder's 576-sample delay and its own 529), and where they fall when the first decode kept
both delays (1105 samples more). Files cut after decoding keep no known grid and show
nothing.

The analysis filter bank follows ISO/IEC 11172-3: the window is the standard's analysis
window (Table 3-C.1, ``C[i]``, equal to the synthesis window ``D[i]`` of Table 3-B.3 over 32;
``D`` is read from ``iso11172_window.txt``, in the standard's units of 2^-16), the 36-point
MDCT uses the long-block sine window, and the encoder's alias-reduction butterflies use the
standard's eight ``c_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["GRID_OFFSETS", "grid_share", "hybrid_lines"]

#: ISO/IEC 11172-3 Table 3-B.3, the synthesis window D[i] in units of 2^-16, stored as its
#: symmetric prototype (see the file's header)
_WINDOW_FILE = Path(__file__).with_name("iso11172_window.txt")
#: the alias-reduction coefficients c_i of ISO/IEC 11172-3 (Table 3-B.9)
_ALIAS_C = (-0.6, -0.535, -0.33, -0.185, -0.095, -0.041, -0.0142, -0.0037)

_GRANULE = 576
#: where a LAME encode's granules start, in samples modulo 576 from the decode's first
#: sample: a gapless decode (found on LAME 3.100 encodes decoded by FFmpeg), and one that
#: kept the encoder's 576-sample delay and the decoder's 529 (528 + 1105 = 481 mod 576)
GRID_OFFSETS = (528, 481)
#: the reference grids: 96-288 samples from the first, in steps of 96 (a grid a few samples
#: off still partly aligns; these are far enough not to); they share its polyphase pass
_OFF_GRIDS = (144, 240, 336, 432)
#: the lines tested: 60-399 of 576 (2.3-15.3 kHz at 44.1 kHz), below LAME's sfb21 band,
#: which low bitrates drop whole (zero on every grid), and above the lowest, always coded
_LINES = (60, 400)
#: granules analysed per file at most (spread over its stretches): about 3.3 s at 44.1 kHz
_GRANULES = 256
#: a line is zero when it is under this many deviations of the 16-bit rounding noise
_ZERO_NOISE = 3.0
#: fewest lines over the noise off the grid for a share to mean anything (near-silent
#: stretches leave a few hundred, whose count on and off the grid differs by chance)
_MIN_LINES = 10000


def _window() -> np.ndarray:
    """The standard's D[i], i = 0..511 (units of 2^-16), from its stored prototype
    ``h[0..256]``: ``h[512 - i] = h[i]`` and ``D[i] = h[i] (-1)^(i // 64)``."""
    text = _WINDOW_FILE.read_text().splitlines()
    half = np.array([float(v) for row in text if not row.startswith("#") for v in row.split()])
    if half.shape != (257,):
        raise RuntimeError(f"{_WINDOW_FILE}: expected 257 values, found {half.size}")
    full = np.concatenate([half, half[1:256][::-1]])
    return full * (-1.0) ** (np.arange(512) // 64)


@lru_cache(maxsize=1)
def _bank() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The analysis window C [512], the polyphase matrix [32, 64], the windowed MDCT [18, 36],
    the alias butterflies (cs, ca) [2, 8] and the 16-bit rounding noise's deviation in lines."""
    c = _window() / 65536.0 / 32.0
    k, i = np.arange(32)[:, None], np.arange(64)[None, :]
    matrix = np.cos((2 * k + 1) * (i - 16) * np.pi / 64)
    n, m = np.arange(36)[None, :], np.arange(18)[:, None]
    window = np.sin(np.pi / 36 * (np.arange(36) + 0.5))
    mdct = np.cos(np.pi / 72 * (2 * n + 1 + 18) * (2 * m + 1)) * window[None, :]
    ci = np.asarray(_ALIAS_C)
    butterflies = np.stack([1.0 / np.sqrt(1.0 + ci**2), ci / np.sqrt(1.0 + ci**2)])
    # white noise of variance s^2 gives sub-band samples of variance s^2 |h_k|^2 (h_k: the
    # sub-band's filter, C times its row of the matrix, repeated every 64 taps) and lines of
    # s^2 |h_k|^2 |mdct_m|^2 on average; the butterflies are rotations and keep it
    h = c.reshape(8, 64)[None, :, :] * matrix[:, None, :]
    gain = np.sqrt(np.mean(np.sum(h**2, axis=(1, 2))) * np.mean(np.sum(mdct**2, axis=1)))
    noise = gain * 2.0**-15 / np.sqrt(12.0)
    return c, matrix, mdct, butterflies, float(noise)


def _subbands(x: np.ndarray, first: int) -> np.ndarray:
    """Polyphase analysis: [T, 32] sub-band samples whose block ``t`` ends (its newest
    sample) at ``x[first + 32 t]``; ``first >= 511``.

    The standard's buffer of 512 samples, newest first, is 16 rows of 32 samples, each row
    reversed: row ``p`` of block ``t`` is the reversed row ``t + 15 - p`` of ``x`` cut in
    rows from ``first - 511``. Its partial sums ``Y[m] = sum_j C[m + 64 j] X[m + 64 j]``
    take rows ``2 j`` (m < 32) and ``2 j + 1`` (m >= 32): one product over a strided view
    of the rows, with no 512-sample window copied.
    """
    c, matrix, *_ = _bank()
    base = first - 511
    rows = (x.shape[0] - base) // 32
    q = np.ascontiguousarray(x[base : base + 32 * rows].reshape(rows, 32)[:, ::-1])
    t = rows - 15
    step, col = q.strides
    # buf[t, j, h, u] = q[t + 15 - 2 j - h, u]: block t's row 2 j + h, newest first
    buf = as_strided(q[15:], shape=(t, 8, 2, 32), strides=(step, -2 * step, -step, col))
    y = np.einsum("tjhu,jhu->thu", buf, c.reshape(8, 2, 32)).reshape(t, 64)
    return y @ matrix.T


def _start(shift: int) -> tuple[int, int]:
    """For a grid ``shift`` samples past a multiple of 32: how many blocks of 32 come before
    the first whole filter window, and where that first block ends."""
    skip = max(0, -(-(480 - shift) // 32))
    return skip, shift + 31 + 32 * skip


def _lines(s: np.ndarray, skip: int, phase: int) -> np.ndarray:
    """The 576 lines of every whole granule from sub-band samples ``s`` [T, 32] (block 0
    being block ``skip`` of the signal) whose granules start at block ``phase`` mod 18."""
    *_, mdct, (cs, ca), _ = _bank()
    s = s[(phase - skip) % 18 :]
    t = (s.shape[0] // 18) * 18
    if t < 36:
        return np.zeros((0, _GRANULE))
    s = s[:t].copy()
    s[1::2, 1::2] *= -1.0  # the encoder's frequency inversion of the odd sub-bands
    s = s.reshape(t // 18, 18, 32)
    z = np.concatenate([s[:-1], s[1:]], axis=1)  # 36 samples: the last granule's and this one's
    g = z.shape[0]
    lines = (z.transpose(0, 2, 1).reshape(g * 32, 36) @ mdct.T).reshape(g, 32, 18)
    # the butterflies between each sub-band's last 8 lines and the next one's first 8
    up, down = lines[:, :-1, 17:9:-1], lines[:, 1:, :8]
    up, down = up * cs + down * ca, down * cs - up * ca
    lines[:, :-1, 17:9:-1], lines[:, 1:, :8] = up, down
    return lines.reshape(g, _GRANULE)


def hybrid_lines(x: np.ndarray, offset: int) -> np.ndarray:
    """The encoder's 576 lines of every whole granule of ``x`` on the grid ``offset``.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)], mono float samples
    offset : where granules start, in samples modulo 576 (0..575) from ``x[0]``; a granule's
        lines also see the 18 sub-band samples before it and the filter bank's 511 samples

    Returns
    -------
    lines : np.ndarray [shape=(granules, 576)], sub-band major (sub-band k's 18 lines at
        ``18 k .. 18 k + 17``), after the encoder's alias reduction; empty when ``x`` holds
        no whole granule with its history
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    skip, first = _start(offset % 32)
    if x.shape[0] <= first + 32 * 36:
        return np.zeros((0, _GRANULE))
    return _lines(_subbands(x, first), skip, (offset // 32) % 18)


def _zero_shares(
    segments: Sequence[tuple[np.ndarray, int]], offsets: Sequence[int]
) -> list[tuple[float, int]]:
    """Per grid of ``offsets`` (in the file): the share of the tested lines of ``segments``
    (each with its first sample's place in the file) under the rounding noise (NaN without
    lines), and how many lines are over it. Grids 32 samples apart share one polyphase pass."""
    limit = _ZERO_NOISE * _bank()[-1]
    zero = [0] * len(offsets)
    total = [0] * len(offsets)
    for seg, first in segments:
        rel = [(o - first) % _GRANULE for o in offsets]
        for shift in sorted({r % 32 for r in rel}):
            skip, end = _start(shift)
            if seg.shape[0] <= end + 32 * 36:
                continue
            s = _subbands(seg, end)
            for k, r in enumerate(rel):
                if r % 32 == shift:
                    lines = _lines(s, skip, r // 32)[:, _LINES[0] : _LINES[1]]
                    zero[k] += int(np.count_nonzero(np.abs(lines) < limit))
                    total[k] += lines.size
    return [((z / n if n else float("nan")), n - z) for z, n in zip(zero, total, strict=True)]


def grid_share(pieces: Sequence[np.ndarray], *, starts: Sequence[int]) -> float:
    """How many more of the tested lines are zero on an MP3 encoder's grid than off it.

    ``(z_grid - z_off) / (1 - z_off)``, the larger over ``GRID_OFFSETS``, where ``z_grid`` is
    the share of lines under the 16-bit rounding noise (three deviations) on that grid and
    ``z_off`` the largest such share on four reference grids 96-288 samples from it: a grid
    must beat every reference, so the shares' ups and downs from grid to grid in audio
    never encoded (about 0.01 in two seconds of speech) do not count. Up to 256 granules from
    the middles of the stretches are analysed (87,040 lines).

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(n,)], mono stretches of one file (the channels'
        mean: where the encoder coded mid and side, the mid carries the zeros)
    starts : the first sample of each stretch in the file (the grid is counted from the
        file's first sample)

    Returns
    -------
    share : float, about 0 for audio never MP3-encoded on those grids, 0.2-0.7 for a first
        encode at 128 kb/s; 0.0 when the stretches hold fewer than 10,000 lines over the
        rounding noise off the grid (too short, or near silent)
    """
    per = max(_GRANULES // max(len(pieces), 1), 4)
    segments = []
    for x, s0 in zip(pieces, starts, strict=True):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        n = min((per + 3) * _GRANULE, x.shape[0])
        begin = (x.shape[0] - n) // 2
        segments.append((x[begin : begin + n], int(s0) + begin))
    shares = _zero_shares(segments, (*_OFF_GRIDS, *GRID_OFFSETS))
    refs, on = shares[: len(_OFF_GRIDS)], shares[len(_OFF_GRIDS) :]
    z_off, heard = max(refs)
    if not np.isfinite(z_off) or heard < _MIN_LINES:
        return 0.0
    best = max((z_on - z_off) / max(1.0 - z_off, 1e-9) for z_on, _ in on)
    return float(max(best, 0.0))
