"""Speech frames and speaker embeddings of a signal, in one streamed pass.

The signal comes block by block (any block sizes). Silero VAD runs on each block as it comes
(its state carries over); windows of ``window`` seconds start every ``step`` seconds, and each
window that is mostly speech (by the VAD probabilities) goes to the voice encoder as soon as
its audio is there, in batches. Only the VAD probabilities (31 per second) and the window
embeddings (256 floats per ``step``) are kept, so memory stays bounded on long files.

Where the windows go is the stream's *sink*: by default the numpy encoder, which embeds them
at once; on a torch device an :class:`EncoderQueue`, which the streams of several files can
share, holds the windows' Mel frames until it has a device call's worth (or is flushed), so
one call of the encoder holds windows of one file or of many.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ...devices import blas_threads
from ...errors import ParameterError
from ...models.vad import FRAME, SAMPLE_RATE, SileroVAD, VadOptions
from ...models.voice_encoder import (
    FRAME_HOP,
    N_FFT,
    VoiceEncoder,
    load_voice_encoder,
    mel_frames,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...models.voice_encoder_torch import TorchVoiceEncoder

__all__ = [
    "EmbedSettings",
    "EmbedSink",
    "EmbedStream",
    "Embedded",
    "EncoderQueue",
    "NumpySink",
    "embed_stream",
]


@dataclass(frozen=True)
class EmbedSettings:
    """Where embeddings are taken.

    Attributes
    ----------
    encoder : "campplus" (CAM++, :mod:`audiolens.models.campplus`: 192 floats a window) or
        "ge2e" (resemblyzer's GE2E encoder, :mod:`audiolens.models.voice_encoder`: 256)
    window : seconds per window (GE2E was trained on 1.6 s)
    step : seconds between window starts (a multiple of 20 ms)
    min_speech : a window is embedded when at least this fraction of it is speech
    shortest : the shortest window embedded at the end of a file or for a short file [s]
    batch : windows per encoder call (bounds the memory of the LSTM)
    level : (GE2E) raise each window to this RMS level [dBFS] before embedding, as
        resemblyzer's preprocessing does with whole utterances (its training data was at
        -30 dBFS); None leaves the level alone
    context : (CAM++) seconds of audio the network reads at once: the windows whose audio
        lies in one such stretch share one pass of the network (its frames are computed once
        and each window pools its own), and its filter bank frames lose the mean of the
        windows' frames
    """

    encoder: str = "campplus"
    window: float = 1.5
    step: float = 0.5
    min_speech: float = 0.5
    shortest: float = 0.2
    batch: int = 64
    level: float | None = -30.0
    context: float = 10.0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ParameterError(
                f"encoder={self.encoder!r} is not one of {', '.join(map(repr, ENCODERS))}"
            )


#: the speaker encoders and the size of their embeddings
ENCODERS = {"campplus": 192, "ge2e": 256}


@dataclass
class Embedded:
    """What :func:`embed_stream` found.

    Attributes
    ----------
    probabilities : np.ndarray [shape=(n_vad_frames,)] VAD speech probability per 32 ms
    starts, ends : np.ndarray [shape=(n_windows,)] seconds, the embedded windows
    embeddings : np.ndarray [shape=(n_windows, d)] float32, L2-normalised (d: 192 for CAM++,
        256 for GE2E)
    speech_fraction : np.ndarray [shape=(n_windows,)] the share of each window that is speech
    n_samples : the signal's length at 16 kHz
    """

    probabilities: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    embeddings: np.ndarray
    speech_fraction: np.ndarray
    n_samples: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.n_samples / SAMPLE_RATE


class EmbedSink(Protocol):
    """Where a stream's windows go to be embedded."""

    def submit(self, mels: np.ndarray) -> np.ndarray:
        """Take windows [shape=(n, n_frames, 40)]; return the array [shape=(n, 256)] that holds
        their embeddings after :meth:`flush` (at once, for a sink that embeds right away)."""
        ...

    def flush(self) -> None:
        """Embed every window submitted so far."""
        ...


class NumpySink:
    """The default sink: the numpy encoder, embedding each submission at once."""

    def __init__(self, encoder: VoiceEncoder | None = None) -> None:
        self.encoder = encoder or load_voice_encoder()

    def submit(self, mels: np.ndarray) -> np.ndarray:
        """The embeddings of ``mels`` [shape=(n, n_frames, 40)], computed now."""
        return self.encoder.embed_mels(mels)

    def flush(self) -> None:
        """Nothing waits."""


class EncoderQueue:
    """Windows waiting for the torch encoder, of one file or of several files' streams.

    Submitted windows are embedded ``size`` at a time as soon as that many wait, and the rest
    on :meth:`flush`; a call that runs out of device memory is halved and retried
    (:func:`~audiolens.devices.halve_on_oom`), and later calls keep the smaller size.
    Windows of unequal length (a file's last, shorter ones) share calls with the others.

    Parameters
    ----------
    encoder : the encoder on its device
    size : windows per call (:func:`~audiolens.models.voice_encoder_torch.window_batch`)
    on_halve : told the new size when a call is halved (to remember it for later runs)
    """

    def __init__(
        self,
        encoder: TorchVoiceEncoder,
        *,
        size: int,
        on_halve: Callable[[int], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.size = max(1, int(size))
        self.on_halve = on_halve
        self.calls = 0  #: device calls made (for tests and benchmarks)
        self._waiting: list[tuple[np.ndarray, np.ndarray, int]] = []

    def submit(self, mels: np.ndarray) -> np.ndarray:
        """Queue windows [shape=(n, n_frames, 40)]; the returned array [shape=(n, 256)] holds
        their embeddings once they have run (at the latest after :meth:`flush`)."""
        out = np.zeros((mels.shape[0], 256), dtype=np.float32)
        self._waiting.extend((mels[i], out, i) for i in range(mels.shape[0]))
        while len(self._waiting) >= self.size:
            self._run_first(self.size)
        return out

    def flush(self) -> None:
        """Embed every window waiting."""
        while self._waiting:
            self._run_first(self.size)

    def _run_first(self, n: int) -> None:
        from ...devices import halve_on_oom

        batch, self._waiting = self._waiting[:n], self._waiting[n:]
        halve_on_oom(batch, self._call, on_halve=self._halved)

    def _call(self, batch: Sequence[tuple[np.ndarray, np.ndarray, int]]) -> None:
        E = self.encoder.embed_windows([mels for mels, _, _ in batch])
        self.calls += 1
        for row, (_, out, i) in enumerate(batch):
            out[i] = E[row]

    def _halved(self, n: int) -> None:
        self.size = max(1, n)
        if self.on_halve is not None:
            self.on_halve(self.size)


class _Windows:
    """Cuts windows from a growing signal and hands them to the sink to embed."""

    def __init__(
        self,
        settings: EmbedSettings,
        vad_options: VadOptions,
        sink: EmbedSink | None = None,
        trunk: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.s = settings
        self.threshold = vad_options.threshold
        self.win = int(round(settings.window * 100)) * FRAME_HOP
        self.hop = max(1, int(round(settings.step * 100))) * FRAME_HOP
        self.campplus = settings.encoder == "campplus"
        if self.campplus:
            from ...models.campplus import load_campplus

            self.model = load_campplus()
            if trunk is None:
                from ...models.campplus_onnx import load_ort_campplus

                fast = load_ort_campplus()  # None without onnxruntime/onnx: numpy
                trunk = fast.trunk if fast is not None else self.model.trunk
            self.trunk = trunk
            self.sink: EmbedSink | None = None
        else:
            self.sink = sink if sink is not None else NumpySink()
        self.buf = np.zeros(0, dtype=np.float32)
        self.buf_start = 0  # global sample index of buf[0]; a multiple of FRAME_HOP
        self.next_start = 0
        self.starts: list[int] = []
        self.lengths: list[int] = []
        self.fractions: list[float] = []
        self.embeddings: list[np.ndarray] = []
        self.pending: list[tuple[int, int, float]] = []  # (CAM++) windows of an open stretch

    def add(self, y: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, y]) if self.buf.size else y.copy()

    def ready(self, probs: np.ndarray, *, final: bool, total: int) -> None:
        """Embed the windows whose audio and VAD frames are all there."""
        have = self.buf_start + self.buf.size
        vad_have = total if final else probs.size * FRAME
        todo: list[tuple[int, int, float]] = []
        while True:
            s = self.next_start
            length = self.win
            limit = total if final else min(have - N_FFT, vad_have)
            if s + self.win > limit:
                if not final or s >= total:
                    break
                length = (total - s) // FRAME_HOP * FRAME_HOP
                # the tail of a file is embedded if long enough; a short file always is
                too_short = length < self.s.shortest * SAMPLE_RATE
                if length < FRAME_HOP or (too_short and s > 0):
                    break
            frac = self._speech_fraction(probs, s, s + length)
            if frac >= self.s.min_speech:
                todo.append((s, length, frac))
            self.next_start += self.hop
            if length < self.win:
                break
        self._embed(todo, final=final)
        keep_from = min(self.next_start, have)
        if self.pending:  # windows waiting for their stretch to fill keep their audio
            keep_from = min(keep_from, self.pending[0][0])
        keep_from = keep_from // FRAME_HOP * FRAME_HOP
        cut = keep_from - self.buf_start
        if cut > 0:
            self.buf = self.buf[cut:]
            self.buf_start = keep_from

    def _speech_fraction(self, probs: np.ndarray, a: int, b: int) -> float:
        i, j = a // FRAME, max(a // FRAME + 1, -(-b // FRAME))
        p = probs[i:j]
        return float(np.mean(p >= self.threshold)) if p.size else 0.0

    def _embed(self, todo: list[tuple[int, int, float]], *, final: bool) -> None:
        if self.campplus:
            # the filter bank and the pooling are small products: more BLAS threads only spin
            # against the network's (ONNX Runtime, torch) and the segmentation model's
            threads = None if self.trunk == self.model.trunk else 1
            with blas_threads(threads):
                self._embed_campplus(todo, final=final)
            return
        if not todo:
            return
        assert self.sink is not None
        by_length: dict[int, list[tuple[int, float]]] = {}
        for s, length, frac in todo:
            by_length.setdefault(length, []).append((s, frac))
        for length, items in by_length.items():
            n_frames = (length - FRAME_HOP) // FRAME_HOP + 1
            for k in range(0, len(items), self.s.batch):
                chunk = items[k : k + self.s.batch]
                a = chunk[0][0] - self.buf_start
                b = chunk[-1][0] - self.buf_start + length - FRAME_HOP + N_FFT
                M = mel_frames(self.buf[a:b], center=False)
                offsets = [(s - chunk[0][0]) // FRAME_HOP for s, _ in chunk]
                mels = np.stack([M[o : o + n_frames] for o in offsets])
                if self.s.level is not None:
                    mels *= self._gains(chunk, a, length)[:, None, None]
                self.embeddings.append(self.sink.submit(mels))
                self.starts.extend(s for s, _ in chunk)
                self.lengths.extend([length] * len(chunk))
                self.fractions.extend(f for _, f in chunk)

    def _embed_campplus(self, todo: list[tuple[int, int, float]], *, final: bool) -> None:
        """CAM++ over stretches of at most ``context`` seconds: the filter bank of each
        stretch (its mean over the windows' frames removed), the network's frames once, and
        each window's embedding pooled from its own frames. A stretch is embedded once it is
        full (the next window would not fit) or the signal has ended, so the stretches, and
        the embeddings, do not depend on the sizes of the blocks fed."""
        from ...models.campplus import N_FFT as FB_FFT
        from ...models.campplus import fbank

        span = max(int(self.s.context * SAMPLE_RATE), self.win)
        self.pending.extend(todo)
        todo = self.pending
        k = 0
        while k < len(todo):
            first = todo[k][0]
            end = k + 1
            while end < len(todo) and todo[end][0] + todo[end][1] - first <= span:
                end += 1
            if end == len(todo) and not final:
                break  # the stretch may take windows still to come
            chunk = todo[k:end]
            k = end
            a = first - self.buf_start
            b = chunk[-1][0] - self.buf_start + chunk[-1][1]
            audio = self.buf[a:b]
            if audio.size < FB_FFT:  # a file shorter than one frame
                audio = np.pad(audio, (0, FB_FFT - audio.size))
            F = fbank(audio)
            ranges = []
            for s, length, _ in chunk:
                o = (s - first) // FRAME_HOP
                n = max(1, (length - FB_FFT) // FRAME_HOP + 1)
                o = min(o, F.shape[0] - 1)
                ranges.append((o, min(F.shape[0], o + n)))
            used = np.zeros(F.shape[0], dtype=bool)
            for o, e in ranges:
                used[o:e] = True
            F = F - F[used].mean(axis=0) if used.any() else F
            H = self.trunk(F[None])[0]
            spans = [(o // 2, max(o // 2 + 1, min(H.shape[1], (e + 1) // 2))) for o, e in ranges]
            E = self.model.pool(H, spans)
            E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-9)
            self.embeddings.append(E)
            self.starts.extend(s for s, _, _ in chunk)
            self.lengths.extend(length for _, length, _ in chunk)
            self.fractions.extend(f for _, _, f in chunk)
        self.pending = todo[k:]

    def _gains(self, chunk: list[tuple[int, float]], a: int, length: int) -> np.ndarray:
        """Power gains that bring each window up to ``level`` dBFS (never down)."""
        target = 10 ** (self.s.level / 10) if self.s.level is not None else 1.0
        out = np.ones(len(chunk), dtype=np.float32)
        for i, (s, _) in enumerate(chunk):
            seg = self.buf[s - self.buf_start : s - self.buf_start + length]
            power = float(np.mean(np.square(seg, dtype=np.float64))) if seg.size else 0.0
            if power > 1e-10:
                out[i] = max(1.0, target / power)
        return out


class EmbedStream:
    """VAD probabilities and window embeddings of a 16 kHz mono signal fed block by block
    (:meth:`feed` each block in order, then :meth:`finish` once).

    Parameters
    ----------
    settings : window length and step (defaults when None)
    vad_options : the VAD's threshold (a window's speech share counts frames at or above it)
    vad : the VAD to run (a :class:`~audiolens.models.vad_torch.TorchVAD` on a device);
        None: silero's ONNX model on the CPU
    sink : (GE2E) where windows go to be embedded (an :class:`EncoderQueue`, shared by
        several streams); None: the numpy encoder, at once
    trunk : (CAM++) what runs the network's trunk on filter bank frames
        (:meth:`TorchCamPlus.trunk <audiolens.models.campplus_torch.TorchCamPlus.trunk>` on a
        torch device); None: ONNX Runtime on the CPU (numpy without onnxruntime/onnx)
    """

    def __init__(
        self,
        *,
        settings: EmbedSettings | None = None,
        vad_options: VadOptions | None = None,
        vad: SileroVAD | None = None,
        sink: EmbedSink | None = None,
        trunk: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        vad_options = vad_options or VadOptions()
        self.vad = vad if vad is not None else SileroVAD(vad_options.model_path)
        self.windows = _Windows(settings or EmbedSettings(), vad_options, sink, trunk)
        self.probs = np.zeros(0, dtype=np.float32)
        self.total = 0
        self._closed = False

    def feed(self, block: np.ndarray) -> None:
        """Take the next block [shape=(n,)] float32."""
        y = np.asarray(block, dtype=np.float32).reshape(-1)
        if not y.size:
            return
        self.total += y.size
        self.probs = np.concatenate([self.probs, self.vad.feed(y)])
        self.windows.add(y)
        self.windows.ready(self.probs, final=False, total=self.total)

    def close(self) -> None:
        """The signal has ended: the VAD's last frame, and the last windows to the sink
        (where a shared queue may embed them with other streams' windows before
        :meth:`finish`). Called by :meth:`finish` when not called before."""
        if self._closed:
            return
        self._closed = True
        self.probs = np.concatenate([self.probs, self.vad.flush()])
        self.windows.add(np.zeros(N_FFT, dtype=np.float32))  # the last frames' zero padding
        self.windows.ready(self.probs, final=True, total=self.total)

    def finish(self) -> Embedded:
        """What was found in the whole signal."""
        self.close()
        w, total, probs = self.windows, self.total, self.probs
        if w.sink is not None:
            w.sink.flush()
        n = len(w.starts)
        order = np.argsort(np.asarray(w.starts), kind="stable")
        starts = np.asarray(w.starts, dtype=np.float64)[order] / SAMPLE_RATE
        lengths = np.asarray(w.lengths, dtype=np.float64)[order] / SAMPLE_RATE
        emb = (
            np.concatenate(w.embeddings)[order]
            if w.embeddings
            else np.zeros((0, ENCODERS[w.s.encoder]), dtype=np.float32)
        )
        return Embedded(
            probabilities=probs,
            starts=starts,
            ends=np.minimum(starts + lengths, total / SAMPLE_RATE) if n else starts,
            embeddings=emb,
            speech_fraction=np.asarray(w.fractions, dtype=np.float64)[order],
            n_samples=total,
        )


def embed_stream(
    blocks: Iterable[np.ndarray],
    *,
    settings: EmbedSettings | None = None,
    vad_options: VadOptions | None = None,
) -> Embedded:
    """VAD probabilities and window embeddings of a 16 kHz mono signal given in blocks.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(n_i,)] float32, 16 kHz mono, in order
    settings : window length and step (defaults when None)
    vad_options : the VAD's threshold (a window's speech share counts frames at or above it)

    Returns
    -------
    embedded : Embedded
    """
    stream = EmbedStream(settings=settings, vad_options=vad_options)
    for block in blocks:
        stream.feed(block)
    return stream.finish()
