"""Whisper over many files at once: speech pieces packed into 30-second windows, windows from
several files decoded together by one loaded model.

Whisper's encoder always reads 30 seconds, so a 3-second clip costs as much as a 30-second one.
faster-whisper's batched pipeline already packs the voice-activity regions of ONE file into
30-second windows (the silence between them left out) and decodes a batch of windows at once.
This engine does the same across files:

- a file's speech regions (:mod:`faster_whisper.vad`'s silero VAD, the pipeline's settings)
  become pieces; pieces fill windows of at most 30 s, and a window may hold pieces of several
  files of the same language, separated by a short silence (``pack``), so a folder of short
  clips needs a fraction of the encoder passes;
- a file's language, when it is not given, is detected from its first window (its first
  30 s of speech, padded to 30 s as every window is: Whisper's encoder reads 30 s, and on a
  shorter input its language probabilities drift far from faster-whisper's), from the same
  encoder pass that its transcript is decoded from: detection costs one decoder step
  (faster-whisper encodes the first 30 s, then encodes them again for the transcript). That
  window holds this file alone; its later windows know the language (with ``pack``, they may
  be shared with files of the same language);
- a batch of windows is encoded, decoded with beam search (each window with its language's
  prompt), and its
  words aligned (cross-attention, as faster-whisper does); every word goes back to its file
  and its time there through the window's piece map;
- on out-of-memory the batch is halved and retried.

The arithmetic per window is faster-whisper's batched pipeline's (same prompt, beam search,
suppressed tokens, word alignment), so a file transcribed alone gives what that pipeline gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .types import SpeechOptions

__all__ = ["SR", "FileText", "Piece", "WhisperBatcher", "speech_pieces"]

logger = logging.getLogger("audiolens")

SR = 16000
WINDOW = 30 * SR
#: silence between two files' pieces in a shared window (samples)
GAP = int(0.4 * SR)
#: Whisper's "no speech" rule: a window with this no-speech probability and a mean log
#: probability below the next value is dropped (music, noise)
NO_SPEECH = 0.6
LOGPROB = -1.0
PREPEND = "\"'“¿([{-"
APPEND = "\"'.。,，!！?？:：”)]}、"


@dataclass
class Piece:
    """A voice-activity region of one file: its samples at 16 kHz and where it starts."""

    key: int
    start: float
    audio: np.ndarray

    @property
    def duration(self) -> float:
        return self.audio.size / SR


@dataclass
class _Window:
    pieces: list[Piece] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # each piece's first sample in the window
    parts: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    language: str | None = None  # None: detected from this window (one file's first)

    def fits(self, piece: Piece, gap: int) -> bool:
        return self.size + gap + piece.audio.size <= WINDOW

    def add(self, piece: Piece, gap: int) -> None:
        if gap and self.size:
            self.parts.append(np.zeros(gap, np.float32))
            self.size += gap
        self.offsets.append(self.size)
        self.pieces.append(piece)
        self.parts.append(piece.audio)
        self.size += piece.audio.size

    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)

    def place(self, t: float) -> tuple[int, float]:
        """The piece a window time falls in (the nearest one in a gap) and the file time."""
        s = t * SR
        i = int(np.searchsorted(self.offsets, s, side="right")) - 1
        i = max(i, 0)
        end = self.offsets[i] + self.pieces[i].audio.size
        if s > end and i + 1 < len(self.pieces) and self.offsets[i + 1] - s < s - end:
            i += 1
        p = self.pieces[i]
        local = min(max(s - self.offsets[i], 0.0), p.audio.size)
        return i, p.start + local / SR


@dataclass
class FileText:
    """What the engine found for one file."""

    language: str | None = None
    language_probability: float = 0.0
    speech: float = 0.0
    # one entry per decoded piece: (file time of the piece's start, words or text, scores)
    parts: list[dict[str, Any]] = field(default_factory=list)


def speech_pieces(
    blocks: Iterable[np.ndarray], *, key: int, min_silence_ms: int = 160
) -> Iterator[Piece]:
    """A file's speech regions, from its mono 16 kHz audio given in blocks of any size.

    Uses faster-whisper's silero VAD with its batched pipeline's settings (regions at most
    30 s, split at silences of ``min_silence_ms``). A region still open at a block's end (and
    the last half second of a block) is carried into the next block, so streaming neither
    splits nor loses a region (its edges may move by a VAD window or two, where silero's state
    restarts); only the carried audio and the current block are held.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(max_speech_duration_s=30 - 0.5, min_silence_duration_ms=min_silence_ms)
    carry = np.zeros(0, np.float32)
    carry_start = 0  # file sample of carry[0]
    blocks = iter(blocks)
    block = next(blocks, None)
    while block is not None:
        nxt = next(blocks, None)
        audio = np.concatenate([carry, np.asarray(block, np.float32)]) if carry.size else block
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        regions = get_speech_timestamps(audio, opts) if audio.size else []
        last = nxt is None
        keep_from, done_to = None, 0
        for r in regions:
            open_end = not last and r["end"] >= audio.size - int(0.5 * SR)
            if open_end and r["end"] - r["start"] < 28 * SR:
                keep_from = r["start"]
                break
            yield Piece(key, (carry_start + r["start"]) / SR, audio[r["start"] : r["end"]].copy())
            done_to = r["end"]
        if keep_from is None:  # keep the last half second: speech may begin at the very end
            keep_from = audio.size if last else max(done_to, audio.size - int(0.5 * SR))
        carry_start += keep_from
        carry = audio[keep_from:].copy()
        block = nxt


class WhisperBatcher:
    """Feeds pieces of many files through one Whisper model in batches of windows.

    Use :meth:`add` for each file's pieces in turn (a file's pieces in time order), then
    :meth:`finish`; results are in :attr:`files`, by key. ``on_batch`` is called with the
    seconds of speech each batch decoded (for progress).
    """

    def __init__(
        self,
        loaded: Any,
        options: SpeechOptions,
        *,
        batch_size: int,
        on_batch: Callable[[float], None] | None = None,
    ) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.options = options
        self.batch_size = max(1, batch_size)
        self.on_batch = on_batch
        self.files: dict[int, FileText] = {}
        self._queue: list[_Window] = []
        self._open: _Window | None = None
        self._open_key: int | None = None
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._suppress: list[int] | None = None
        lang = options.language
        if lang is not None and loaded.multilingual and lang not in loaded.languages:
            from ...errors import ParameterError

            raise ParameterError(
                f"language={lang!r} is not a language Whisper knows; use one of "
                f"{', '.join(sorted(loaded.languages))}"
            )
        self._fixed = "en" if not loaded.multilingual else lang
        self._pack = options.pack
        self._retry: list[Piece] = []  # pieces a shared window lost, decoded again alone

    # -- feeding ------------------------------------------------------------------------------

    def add(self, key: int, pieces: Iterable[Piece]) -> None:
        """Queue a file's speech pieces (call once per file; the file may have none)."""
        info = self.files.setdefault(key, FileText())
        if self._fixed is not None:
            info.language, info.language_probability = self._fixed, 1.0
        for piece in pieces:  # lazily: a long file streams
            info.speech += piece.duration
            if info.language is None and self._needs_new_window(piece):
                self._close()  # the file's first window is full: decode it for the language
                self._flush(force=True)
            self._place(piece, info.language)
        if not self._pack:
            self._close()

    def _needs_new_window(self, piece: Piece) -> bool:
        w = self._open
        return w is not None and self._open_key == piece.key and not w.fits(piece, 0)

    def _place(self, piece: Piece, language: str | None) -> None:
        w = self._open
        same_file = self._open_key == piece.key
        gap = 0 if same_file else GAP
        shared = self._pack and w is not None and language is not None and w.language == language
        if w is None or not (same_file or shared) or not w.fits(piece, gap):
            self._close()
            w = self._open = _Window(language=language)
            gap = 0
        w.add(piece, gap)
        self._open_key = piece.key

    def finish(self) -> dict[int, FileText]:
        """Decode what is still queued; returns :attr:`files`."""
        self._close()
        self._flush(force=True)
        retry, self._retry = self._retry, []
        if retry:
            logger.info("decoding %d piece(s) again on their own", len(retry))
            pack, self._pack = self._pack, False
            for piece in retry:
                self._place(piece, self.files[piece.key].language or "en")
                self._close()
            self._flush(force=True)
            self._pack = pack
        return self.files

    def _close(self) -> None:
        if self._open is not None and self._open.pieces:
            self._queue.append(self._open)
        self._open, self._open_key = None, None
        self._flush(force=False)

    def _flush(self, *, force: bool) -> None:
        while len(self._queue) >= self.batch_size or (force and self._queue):
            batch, self._queue = self._queue[: self.batch_size], self._queue[self.batch_size :]
            self._run_with_backoff(batch)

    # -- decoding -----------------------------------------------------------------------------

    def _run_with_backoff(self, batch: list[_Window]) -> None:
        from ...devices import halve_on_oom

        halve_on_oom(batch, self._run, on_halve=self._shrink)

    def _shrink(self, size: int) -> None:
        self.batch_size = max(1, size)

    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        key = (language, self.options.task)
        if key not in self._tokenizers:
            self._tokenizers[key] = Tokenizer(
                self.model.hf_tokenizer,
                self.model.model.is_multilingual,
                task=self.options.task,
                language=language,
            )
        return self._tokenizers[key]

    def _features(self, batch: Sequence[_Window]) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        fe = self.model.feature_extractor
        return np.stack([pad_or_trim(fe(w.audio())[..., :-1]) for w in batch])

    def _run(self, batch: list[_Window]) -> None:
        model = self.model
        features = self._features(batch)
        encoded = model.encode(features)
        if any(w.language is None for w in batch):
            self._detect(batch, encoded)
        languages = [w.language or "en" for w in batch]
        prompts = [
            model.get_prompt(self._tokenizer(lang), [], without_timestamps=True)
            for lang in languages
        ]
        if self._suppress is None:
            from faster_whisper.transcribe import get_suppressed_tokens

            self._suppress = get_suppressed_tokens(self._tokenizer(languages[0]), [-1])
        results = model.model.generate(
            encoded,
            prompts,
            beam_size=self.options.beam_size,
            patience=1.0,
            length_penalty=1.0,
            max_length=model.max_length,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_scores=True,
            return_no_speech_prob=True,
            sampling_temperature=0.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
        )
        outputs = []
        for w, r in zip(batch, results, strict=True):
            tokens = r.sequences_ids[0]
            logprob = r.scores[0] * len(tokens) / (len(tokens) + 1)
            duration = w.size / SR
            outputs.append(
                {
                    "tokens": tokens,
                    "avg_logprob": float(logprob),
                    "no_speech_prob": float(r.no_speech_prob),
                    "start": 0.0,
                    "end": duration,
                    "seek": 0,
                    "size": int(np.ceil(duration) * model.frames_per_second),
                }
            )
        # words are needed to share a window's text out among its files
        words_wanted = self.options.word_timestamps or any(_shared(w) for w in batch)
        if words_wanted:
            self._align(batch, outputs, languages, features, encoded)
        for w, out, lang in zip(batch, outputs, languages, strict=True):
            self._distribute(w, out, self._tokenizer(lang))
        if self.on_batch is not None:
            self.on_batch(sum(w.size for w in batch) / SR)

    def _detect(self, batch: list[_Window], encoded: Any) -> None:
        """The language of each file whose first window is in the batch, from its encoding."""
        found = self.model.model.detect_language(encoded)
        for w, ranked in zip(batch, found, strict=True):
            if w.language is None:
                token, probability = ranked[0]
                w.language = token[2:-2]
                info = self.files[w.pieces[0].key]
                info.language, info.language_probability = w.language, float(probability)

    def _align(
        self,
        batch: list[_Window],
        outputs: list[dict[str, Any]],
        languages: list[str],
        features: np.ndarray,
        encoded: Any,
    ) -> None:
        groups: dict[str, list[int]] = {}
        for i, lang in enumerate(languages):
            groups.setdefault(lang, []).append(i)
        for lang, idx in groups.items():
            enc = encoded if len(idx) == len(batch) else _rows(encoded, idx, self.model, features)
            segs = [[outputs[i]] for i in idx]
            if not any(outputs[i]["tokens"] for i in idx):
                continue
            self.model.add_word_timestamps(
                segs,
                self._tokenizer(lang),
                enc,
                [outputs[i]["size"] for i in idx],
                PREPEND,
                APPEND,
                0.0,
            )

    def _distribute(self, w: _Window, out: dict[str, Any], tokenizer: Any) -> None:
        """Give each file its words (or text) from one decoded window."""
        if out["no_speech_prob"] > NO_SPEECH and out["avg_logprob"] < LOGPROB:
            return
        words = out.get("words")
        if words is None:  # one file's window, no word times asked for
            p0 = w.pieces[0]
            text = tokenizer.decode([t for t in out["tokens"] if t < tokenizer.eot])
            _, end = w.place(w.size / SR)
            self.files[p0.key].parts.append(
                {"start": p0.start, "end": end, "text": text.strip(), "words": None, **_scores(out)}
            )
            return
        per_piece: dict[int, list[dict[str, Any]]] = {}
        for word in words:
            i, _ = w.place((word["start"] + word["end"]) / 2)
            _, start = w.place(word["start"])
            _, end = w.place(word["end"])
            p = w.pieces[i]
            lo, hi = p.start, p.start + p.duration
            start, end = min(max(start, lo), hi), min(max(end, lo), hi)
            start, end = round(start, 3), round(max(end, start), 3)
            per_piece.setdefault(i, []).append({**word, "start": start, "end": end})
        if _shared(w):  # a shared window may skip a file's speech
            self._retry += [
                p for i, p in enumerate(w.pieces) if i not in per_piece and p.duration >= 0.3
            ]
        per_file: dict[int, list[dict[str, Any]]] = {}
        for i, ws in sorted(per_piece.items()):
            per_file.setdefault(w.pieces[i].key, []).extend(ws)
        for key, ws in per_file.items():
            text = "".join(x["word"] for x in ws).strip()
            if not text:
                continue
            keep = ws if self.options.word_timestamps else None
            self.files[key].parts.append(
                {"start": ws[0]["start"], "end": ws[-1]["end"], "text": text, "words": keep}
                | _scores(out)
            )


def _shared(w: _Window) -> bool:
    return len({p.key for p in w.pieces}) > 1


def _rows(encoded: Any, idx: list[int], model: Any, features: np.ndarray) -> Any:
    """Some batch items of an encoder output: sliced on the CPU, encoded again elsewhere."""
    import ctranslate2

    if encoded.device == "cpu":
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[idx]))
    return model.encode(features[idx])


def _scores(out: dict[str, Any]) -> dict[str, float]:
    return {"avg_logprob": out["avg_logprob"], "no_speech_prob": out["no_speech_prob"]}
