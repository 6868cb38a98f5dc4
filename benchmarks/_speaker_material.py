"""Speech of known speakers from Debian packages, for building speaker evaluation sets.

The telephone prompts of Asterisk are read by one professional voice per package, hundreds of
prompts each (20-30 minutes a voice), real recordings nobody here made:

    apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 \
        asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 \
        asterisk-prompt-fr-armelle asterisk-prompt-es-co asterisk-prompt-it-menardi-wav

(asterisk-core-sounds-es is Allison again, the voice of the English set, so it is left out.)
Four voices are G.722 at 16 kHz, three are 8 kHz (GSM or PCM): every prompt is brought to
the same telephone band (8 kHz, then back to 16 kHz), so the band says nothing of the speaker.
Each voice's prompts are split in two halves by a hash of their file name: "tune" (what
settings may be chosen on) and "test" (what the benchmark reports).

:func:`monologue` reads one voice's prompts one after another (1-10 minutes);
:func:`conversation` lets 2-5 voices take turns of 1-3 prompts with pauses and short overlaps.
Both go through one synthetic room with a noise floor, as a recording would.

A second, wideband family (:data:`FISH_VOICES`): the voice-acted dialogue of the game Fish
Fillets NG, its two heroes (the small fish, files ``*-m-*``, and the big fish, ``*-v-*``) in
Czech and in Dutch, one studio per language, 22.05 kHz Vorbis:

    apt-get install fillets-ng-data-cs fillets-ng-data-nl

Four voices, two per language, 600-700 lines each, read at 16 kHz with their full band (no
telephone band): same-language dialogues between two people recorded alike, the situation the
Asterisk set (every voice its own language but two) does not cover. They are kept out of
:func:`available`, so the Asterisk sets stay as they were; pass ``voices=`` to
:func:`conversation`.
"""

from __future__ import annotations

import zlib
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

SR = 16000
SOUNDS = Path("/usr/share/asterisk/sounds")
#: voice -> folder under SOUNDS (one speaker each)
VOICES: dict[str, str] = {
    "allison_en": "en_US_f_Allison",
    "june_fr": "fr_CA_f_June",
    "carlo_it": "it_IT_m_Carlo",
    "ivr_ru": "ru_RU_f_IvrvoiceRU",
    "armelle_fr": "fr",
    "co_es": "es",
    "menardi_it": "it_IT_f_Menardi",
}
_SUFFIXES = {".g722", ".gsm", ".wav"}
FISH = Path("/usr/share/games/fillets-ng/sound")
#: voice -> (language folder, character letter in the file names) of Fish Fillets NG
FISH_VOICES: dict[str, tuple[str, str]] = {
    "fish_cs_small": ("cs", "m"),
    "fish_cs_big": ("cs", "v"),
    "fish_nl_small": ("nl", "m"),
    "fish_nl_big": ("nl", "v"),
}


def available() -> list[str]:
    """The Asterisk voices whose package is installed."""
    return [v for v, d in VOICES.items() if (SOUNDS / d).is_dir()]


def fish_available() -> list[str]:
    """The Fish Fillets voices whose package is installed."""
    return [v for v, (lang, _) in FISH_VOICES.items() if any(FISH.glob(f"*/{lang}"))]


@cache
def prompts(voice: str, split: str) -> tuple[Path, ...]:
    """The prompt files of a voice in one half ("tune" or "test"), sorted."""
    if voice in FISH_VOICES:
        lang, who = FISH_VOICES[voice]
        folder, files = FISH, sorted(FISH.glob(f"*/{lang}/*-{who}-*.ogg"))
    else:
        folder = SOUNDS / VOICES[voice]
        files = [p for p in sorted(folder.rglob("*")) if p.suffix in _SUFFIXES]
    want = 0 if split == "tune" else 1
    return tuple(
        p
        for p in files
        if p.is_file()
        and p.stat().st_size > 1024
        and zlib.crc32(str(p.relative_to(folder)).encode()) % 2 == want
    )


@lru_cache(maxsize=8192)
def load_prompt(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """A prompt at 16 kHz (an Asterisk prompt through the common 8 kHz band, a Fish Fillets
    line with its full band), and the span of its speech [s] (the silero regions' first start
    to last end); an empty span when it holds none or does not decode (one Dutch line)."""
    from scipy.signal import resample_poly

    from audiolens.audio import load
    from audiolens.errors import AudiolensError
    from audiolens.models.vad import speech_regions

    wide = FISH in path.parents
    try:
        x = np.asarray(load(path, sr=SR if wide else 8000, mono=True).samples, dtype=np.float32)
    except AudiolensError:
        return np.zeros(0, dtype=np.float32), (0.0, 0.0)
    x = x.reshape(-1)
    y = x if wide else resample_poly(x, 2, 1).astype(np.float32)
    regions = speech_regions(y) if y.size >= SR // 4 else []
    if not regions:
        return y, (0.0, 0.0)
    return y, (regions[0][0], regions[-1][1])


def _room(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path and an exponentially decaying tail."""
    rt60 = rng.uniform(0.2, 0.5)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * SR)] = 0.0
    h = 0.3 * tail / np.sqrt(np.sum(tail**2))
    h[0] = 1.0
    return h.astype(np.float32)


def _render(
    placed: list[tuple[int, np.ndarray]], rng: np.random.Generator, snr_db: float = 25.0
) -> np.ndarray:
    from scipy.signal import fftconvolve

    y = np.zeros(max(s + x.size for s, x in placed) + SR // 2, dtype=np.float32)
    for s, x in placed:
        y[s : s + x.size] += x
    y = fftconvolve(y, _room(rng))[: y.size].astype(np.float32)
    rms = float(np.sqrt(np.mean(y**2)))
    return (y + rng.normal(0, rms * 10 ** (-snr_db / 20), y.size)).astype(np.float32)


def _speech(voice: str, split: str, rng: np.random.Generator):
    """The voice's prompts that hold speech, in a random order, each once."""
    files = list(prompts(voice, split))
    for i in rng.permutation(len(files)):
        y, (a, b) = load_prompt(files[i])
        if b - a >= 0.3:
            yield y[int(a * SR) : int(b * SR)]


def monologue(voice: str, seconds: float, *, seed: int, split: str = "test"):
    """One voice reading prompt after prompt for about ``seconds`` (less when its prompts run
    out; each is read once): (signal, reference turns [(start, end, voice)]); pauses of
    0.3-1.2 s, the level drifting by +-3 dB."""
    rng = np.random.default_rng(seed)
    placed, ref, t = [], [], 0.5
    source = _speech(voice, split, rng)
    for seg in source:
        if t >= seconds:
            break
        level = 0.05 * 10 ** (rng.uniform(-3, 3) / 20)
        seg = seg * np.float32(level / (np.sqrt(np.mean(seg**2)) + 1e-9))
        start = int(t * SR)
        placed.append((start, seg))
        ref.append((start / SR, (start + seg.size) / SR, voice))
        t = (start + seg.size) / SR + rng.uniform(0.3, 1.2)
    return _render(placed, rng), ref


def conversation(
    n_speakers: int,
    *,
    seed: int,
    seconds: float = 120.0,
    split: str = "test",
    voices: list[str] | None = None,
):
    """2-5 voices taking turns for about ``seconds``: (signal, reference turns).

    A turn is 1-3 prompts of one voice (0.15-0.5 s apart); the gap before a turn is drawn from
    -0.3..0.8 s (negative: it overlaps the end of the previous turn). Each voice has its own
    level (+-4 dB) and a share of the turns drawn at random; once ``seconds`` are reached,
    voices with less than half the mean seconds of speech take turns until none has (so that
    every voice is a speaker, not a short aside).
    The voices are drawn from ``voices`` (the Asterisk ones when None)."""
    rng = np.random.default_rng(seed)
    names = available() if voices is None else list(voices)
    chosen = [names[i] for i in rng.choice(len(names), n_speakers, replace=False)]
    share = rng.uniform(0.5, 1.5, n_speakers)
    share /= share.sum()
    gain = {v: 0.05 * 10 ** (rng.uniform(-4, 4) / 20) for v in chosen}
    sources = {v: _speech(v, split, rng) for v in chosen}
    placed, ref, t, last = [], [], 0.5, -1
    spoken = np.zeros(n_speakers)

    def behind() -> np.ndarray:  # voices under half the mean of the seconds spoken so far
        return spoken < 0.5 * spoken.mean()

    while t < seconds or behind().any():
        p = share.copy()
        if last >= 0:
            p[last] = 0.0
        if t > seconds:  # every voice holds at least half the mean: the laggards speak
            p = behind().astype(np.float64)
        who = int(rng.choice(n_speakers, p=p / p.sum()))
        v = chosen[who]
        for _k in range(int(rng.integers(1, 4))):
            seg = next(sources[v], None)
            if seg is None:
                break
            seg = seg * np.float32(gain[v] / (np.sqrt(np.mean(seg**2)) + 1e-9))
            start = int(t * SR)
            placed.append((start, seg))
            ref.append((start / SR, (start + seg.size) / SR, v))
            spoken[who] += seg.size / SR
            t = (start + seg.size) / SR + rng.uniform(0.15, 0.5)
        t = ref[-1][1] + rng.uniform(-0.3, 0.8)
        last = who
    return _render(placed, rng), ref
