"""The ``speech`` task: accuracy on real clips, cross-file batching, outputs and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from audiolens.cli import main
from audiolens.devices import resolve_device
from audiolens.errors import ModelNotFound, ParameterError
from audiolens.tasks.base import read_input
from audiolens.tasks.beats.click import write_audio

pytest.importorskip("faster_whisper")
jiwer = pytest.importorskip("jiwer")

from audiolens.tasks.speech import SpeechOptions, SpeechTask, speech  # noqa: E402
from audiolens.tasks.speech import engine as engine_mod  # noqa: E402
from audiolens.tasks.speech.engine import Piece, speech_pieces  # noqa: E402
from audiolens.tasks.speech.types import SpeechResult, SpeechSegment, Word  # noqa: E402
from audiolens.tasks.speech.writers import to_srt, to_txt, to_vtt  # noqa: E402

CPU = resolve_device("cpu")


def _norm(text: str) -> str:
    text = re.sub(r"[^\w\s']", " ", text.lower())
    return re.sub(r"\s+", " ", text.replace("'", "")).strip()


def _references(speech_dir: Path) -> dict[Path, str]:
    refs = {
        speech_dir / "jfk.flac": (speech_dir / "jfk.txt").read_text(),
        speech_dir / "librispeech_2412-153948-0000.flac": (
            speech_dir / "librispeech_2412-153948-0000.txt"
        ).read_text(),
        speech_dir / "LDC93S1.wav": (speech_dir / "LDC93S1.txt").read_text().split(maxsplit=2)[2],
    }
    tsv = (speech_dir / "speechbrain_harvard" / "transcripts.tsv").read_text().splitlines()
    for line in tsv[1:]:
        utt, words, *_ = line.split("\t")
        refs[speech_dir / "speechbrain_harvard" / f"{utt}.wav"] = words
    return refs


def _run(paths, whisper_base, **kw):
    task = SpeechTask(options=SpeechOptions(model=str(whisper_base), cpu_threads=2, **kw))
    return task.run([read_input(p, task) for p in paths], device=CPU)


@pytest.fixture(scope="module")
def batch_results(speech_dir, whisper_base):
    refs = _references(speech_dir)
    return refs, _run(list(refs), whisper_base)


def test_wer_of_a_batch_on_the_trustworthy_clips(batch_results):
    """S1, S2, S3, S9 decoded together: pooled WER as faster-whisper's (4.5% with base)."""
    refs, results = batch_results
    ref = [_norm(t) for t in refs.values()]
    hyp = [_norm(r.text) or "<empty>" for r in results]
    assert jiwer.wer(ref, hyp) <= 0.07
    assert all(r.language == "en" and r.language_probability > 0.5 for r in results)
    jfk = results[0]
    assert _norm(jfk.text) == _norm(refs[next(iter(refs))])
    americans = [w for s in jfk.segments for w in s.words if "Americans" in w.word]
    assert americans and 1.0 <= americans[0].start <= 2.6  # whisper's own test: about 1.8 s
    for r in results:
        words = [w for s in r.segments for w in s.words]
        assert words and all(0 <= w.start <= w.end <= r.duration + 0.05 for w in words)
        assert all(0 <= w.probability <= 1 for w in words)
        assert [w.start for w in words] == sorted(w.start for w in words)


def test_one_file_alone_gives_what_the_batch_gave(batch_results, whisper_base):
    refs, results = batch_results
    path = list(refs)[2]
    alone = speech(
        path, options=SpeechOptions(model=str(whisper_base), cpu_threads=2), device="cpu"
    )
    assert alone.text == results[2].text


def test_packed_windows_are_as_accurate(batch_results, whisper_base):
    """With ``pack``, short files of one language share 30-s windows; each keeps its own
    words (a piece a shared window loses is decoded again on its own): the pooled WER stays
    within a point of the file-by-file windows', with the language given or detected."""
    refs, results = batch_results
    paths = list(refs)
    ref = [_norm(t) for t in refs.values()]
    alone = jiwer.wer(ref, [_norm(r.text) or "<empty>" for r in results])
    for language in ("en", None):
        packed = _run(paths, whisper_base, language=language, pack=True)
        shared = jiwer.wer(ref, [_norm(r.text) or "<empty>" for r in packed])
        assert shared <= alone + 0.01, language
        assert all(r.text and r.language == "en" for r in packed)


def test_language_is_faster_whispers_on_every_eval_clip(speech_dir, whisper_base):
    """Every speech clip of the evaluation set, decoded together: each file's language and
    its probability are faster-whisper's own (``WhisperModel.detect_language``, the same
    loaded model) within 0.05, the short Harvard sentences included (a window shorter than
    30 s gave ``spk2_snt4`` 0.47 where faster-whisper gives 0.99)."""
    from audiolens import load
    from audiolens.models.whisper import load_whisper

    paths = sorted(p for p in speech_dir.rglob("*") if p.suffix in (".wav", ".flac", ".mp3"))
    assert len(paths) >= 14
    ours = _run(paths, whisper_base)
    model = load_whisper(str(whisper_base), device=CPU, cpu_threads=2).model
    for path, r in zip(paths, ours, strict=True):
        language, probability, _ = model.detect_language(load(path, sr=16000, mono=True).samples[0])
        assert r.language == language, path.name
        assert r.language_probability == pytest.approx(probability, abs=0.05), path.name
    assert {r.language for r in ours} == {"en", "ru"}


def test_silence_music_and_a_short_clip(tmp_path, whisper_base):
    rng = np.random.default_rng(0)
    sr = 16000
    t = np.arange(8 * sr) / sr
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220, 277.2, 329.6)) * (
        0.5 + 0.5 * (t % 0.5 < 0.25)
    )
    files = {
        "silence": np.zeros(5 * sr, np.float32),
        "tones": (0.1 * chords).astype(np.float32),
        "hiss": (0.01 * rng.standard_normal(3 * sr)).astype(np.float32),
        "short": (0.1 * np.sin(2 * np.pi * 200 * np.arange(int(0.3 * sr)) / sr)).astype(np.float32),
    }
    paths = [write_audio(tmp_path / f"{k}.wav", v[None, :], sr=sr) for k, v in files.items()]
    results = _run(paths, whisper_base)
    for name, r in zip(files, results, strict=True):
        assert r.segments == [] and r.text == "", (name, r.text)
        assert r.duration == pytest.approx(files[name].size / sr, abs=0.01)


def test_bad_language_and_model_names(whisper_base, speech_dir):
    with pytest.raises(ParameterError, match=r"language='xx'.*\bde\b.*\ben\b"):
        _run([speech_dir / "LDC93S1.wav"], whisper_base, language="xx")
    with pytest.raises(ParameterError, match=r"model='huge'.*tiny.*large-v3.*turbo"):
        speech(speech_dir / "LDC93S1.wav", options=SpeechOptions(model="huge"), device="cpu")
    with pytest.raises(ParameterError, match="beam_size"):
        SpeechOptions(beam_size=0)


def test_model_not_found_offline_says_where_it_looked(tmp_path, monkeypatch, speech_dir):
    from audiolens.models.whisper import resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("AUDIOLENS_WHISPER_DIR", raising=False)
    with pytest.raises(ModelNotFound) as info:
        resolve_model("tiny", model_dir=tmp_path / "models")
    text = str(info.value)
    assert "models" in text and "Systran/faster-whisper-tiny" in text and "--model-dir" in text
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match=r"model\.bin"):
        resolve_model(tmp_path / "half")


def test_model_dir_lookup(tmp_path, whisper_base):
    from audiolens.models.whisper import resolve_model

    link = tmp_path / "faster-whisper-base"
    link.symlink_to(whisper_base, target_is_directory=True)
    assert resolve_model("base", model_dir=tmp_path) == link


def test_joined_parts_are_checked(tmp_path):
    from audiolens.models.whisper import join_model_parts

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"12")
    b.write_bytes(b"34")
    import hashlib

    good = hashlib.sha256(b"1234").hexdigest()
    out = join_model_parts([a, b], into=tmp_path / "m", sha256=good)
    assert (out / "model.bin").read_bytes() == b"1234"
    with pytest.raises(ModelNotFound, match="sha256"):
        join_model_parts([b, a], into=tmp_path / "n", sha256=good)
    assert not (tmp_path / "n" / "model.bin").exists()


def test_streamed_voice_activity_is_the_same(speech_dir):
    """VAD pieces from 7-s blocks are those of the whole signal (regions carried over)."""
    from audiolens import load

    parts = [
        load(speech_dir / n, sr=16000, mono=True).samples[0]
        for n in ("jfk.flac", "LDC93S1.wav", "librispeech_2412-153948-0000.flac")
    ]
    y = np.concatenate([np.concatenate([p, np.zeros(8000, np.float32)]) for p in parts])
    whole = [(p.start, p.start + p.duration) for p in speech_pieces([y], key=0)]
    blocks = [y[i : i + 7 * 16000] for i in range(0, y.size, 7 * 16000)]
    streamed = [(p.start, p.start + p.duration) for p in speech_pieces(blocks, key=0)]
    assert len(whole) >= 5
    # the same regions; silero's state restarts where a carried region starts, which can
    # move an edge by a window or two (32 ms each), never split or lose a region
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(np.array(streamed), np.array(whole), atol=0.1)


def test_out_of_memory_halves_the_batch(monkeypatch):
    """A batch that runs out of memory is split in two and retried, down to one window."""

    class Loaded:
        model = None
        multilingual = False
        languages = ("en",)

    seen = []

    def fake_run(self, batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA failed with error out of memory")
        seen.append(len(batch))
        for w in batch:
            self.files[w.pieces[0].key].parts.append({"start": 0.0})

    monkeypatch.setattr(engine_mod.WhisperBatcher, "_run", fake_run)
    b = engine_mod.WhisperBatcher(Loaded(), SpeechOptions(pack=False), batch_size=8)
    for k in range(8):
        b.add(k, [Piece(k, 0.0, np.ones(16000, np.float32))])
    files = b.finish()
    assert sum(seen) == 8 and max(seen) <= 2 and b.batch_size <= 2
    assert all(len(files[k].parts) == 1 for k in range(8))


def _result() -> SpeechResult:
    words = [
        Word(0.5, 0.9, " Hello", 0.9, "SPEAKER_1"),
        Word(0.9, 1.3, " there.", 0.8, "SPEAKER_1"),
        Word(3601.0, 3601.5, " Bye", 0.7, "SPEAKER_2"),
    ]
    segs = [
        SpeechSegment(0.5, 1.3, "Hello there.", words[:2], speaker="SPEAKER_1"),
        SpeechSegment(3601.0, 3601.5, "Bye", words[2:], speaker="SPEAKER_2"),
    ]
    return SpeechResult("Hello there. Bye", "en", segs, 1.0, 3602.0, 2.0, "base")


def test_subtitle_and_text_formats():
    r = _result()
    assert to_srt(r) == (
        "1\n00:00:00,500 --> 00:00:01,300\n[SPEAKER_1] Hello there.\n\n"
        "2\n01:00:01,000 --> 01:00:01,500\n[SPEAKER_2] Bye\n"
    )
    vtt = to_vtt(r)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.300\n[SPEAKER_1] Hello there.")
    assert to_txt(r) == "[SPEAKER_1] Hello there.\n[SPEAKER_2] Bye\n"
    record = r.to_dict()
    assert {"text", "language", "segments"} <= set(record)
    assert set(record["segments"][0]) >= {"start", "end", "text", "words", "speaker"}
    assert set(record["segments"][0]["words"][0]) >= {"start", "end", "word", "probability"}


def test_long_segments_become_short_cues():
    words = [Word(i * 0.5, i * 0.5 + 0.4, f" w{i}", 0.9) for i in range(40)]
    r = SpeechResult("x", "en", [SpeechSegment(0.0, 20.0, "x", words)], 1.0, 20.0, 20.0)
    cues = to_srt(r).split("\n\n")
    assert len(cues) >= 3
    for cue in cues:
        a, b = cue.splitlines()[1].split(" --> ")
        secs = [
            int(x[:2]) * 3600 + int(x[3:5]) * 60 + float(x[6:].replace(",", ".")) for x in (a, b)
        ]
        assert secs[1] - secs[0] <= 7.0


def test_cli_writes_transcripts_and_names_a_bad_file(tmp_path, whisper_base, speech_dir, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    out = tmp_path / "out"
    args = [str(speech_dir / "LDC93S1.wav"), str(bad), "--model", str(whisper_base)]
    code = main(["speech", *args, "-o", str(out), "--format", "jsonl", "--threads", "2"])
    assert code == 1
    captured = capsys.readouterr()
    assert "notes.wav" in captured.err and "not an audio file" in captured.err
    record = json.loads(captured.out.splitlines()[0])
    assert record["language"] == "en" and "dark suit" in record["text"]
    assert sorted(p.name for p in out.iterdir()) == [
        "LDC93S1.json",
        "LDC93S1.srt",
        "LDC93S1.txt",
        "LDC93S1.vtt",
    ]
    assert (out / "LDC93S1.srt").read_text().startswith("1\n00:00:00,")
    assert main(["speech", str(speech_dir / "LDC93S1.wav"), "--formats", "doc"]) == 2
    assert main(["speech", str(speech_dir / "LDC93S1.wav"), "--model", "nope"]) == 2
    assert "tiny" in capsys.readouterr().err


def test_words_get_the_speaker_of_their_time():
    from dataclasses import dataclass

    from audiolens.tasks.speech import attribute_speakers

    @dataclass
    class Turn:
        start: float
        end: float
        speaker: str

    words = [
        Word(0.0, 0.4, " Hi", 0.9),
        Word(0.5, 0.9, " Ann.", 0.9),
        Word(1.2, 1.5, " Hello", 0.9),  # mostly in B's turn
        Word(1.6, 1.9, " Bob.", 0.9),
        Word(9.0, 9.2, " far", 0.9),  # no turn within a second: its neighbour's speaker
    ]
    lone = [Word(20.0, 20.5, " alone", 0.9)]  # a segment no turn is near
    segs = [SpeechSegment(0.0, 9.2, "x", words), SpeechSegment(20.0, 20.5, "alone", lone)]
    r = SpeechResult("Hi Ann. Hello Bob. far alone", "en", segs)
    turns = [Turn(0.0, 1.25, "SPEAKER_1"), Turn(1.25, 2.0, "SPEAKER_2")]
    out = attribute_speakers(r, turns)
    assert [w.speaker for s in out.segments for w in s.words] == [
        "SPEAKER_1",
        "SPEAKER_1",
        "SPEAKER_2",
        "SPEAKER_2",
        "SPEAKER_2",
        None,
    ]
    assert [(s.speaker, s.text) for s in out.segments] == [
        ("SPEAKER_1", "Hi Ann."),
        ("SPEAKER_2", "Hello Bob. far"),
        (None, "alone"),
    ]
    assert r.segments[0].speaker is None  # the input is not changed
    assert to_srt(out).splitlines()[2] == "[SPEAKER_1] Hi Ann."


def test_overlapping_turns_keep_the_sentence_with_its_speaker():
    """Where two speakers' turns both cover a word (an overlap, as a segmentation model gives),
    the word stays with the previous word's speaker; a word only the other covers goes to it."""
    from audiolens.tasks.speakers import Turn
    from audiolens.tasks.speech import attribute_speakers

    words = [
        Word(0.0, 0.4, " I", 0.9),
        Word(0.5, 0.9, " think", 0.9),
        Word(1.2, 1.5, " that", 0.9),  # B says "yes" over it: B covers 0.30 s, A 0.28 s
        Word(1.6, 2.0, " works.", 0.9),
        Word(3.1, 3.4, " Right.", 0.9),  # after A's turn: B's
    ]
    r = SpeechResult("I think that works. Right.", "en", [SpeechSegment(0.0, 3.4, "x", words)])
    turns = [Turn(0.0, 1.48, "A"), Turn(1.1, 1.6, "B"), Turn(1.55, 2.1, "A"), Turn(3.0, 3.5, "B")]
    out = attribute_speakers(r, turns)
    assert [w.speaker for s in out.segments for w in s.words] == ["A", "A", "A", "A", "B"]
    assert [(s.speaker, s.text) for s in out.segments] == [
        ("A", "I think that works."),
        ("B", "Right."),
    ]


def test_a_speaker_change_inside_a_sentence_needs_strong_evidence():
    """JFK's sentence cut between three short turns keeps one speaker; a turn boundary near a
    pause moves to the pause; a long run of another speaker, at pauses, stays its own."""
    from audiolens.tasks.speakers import Turn
    from audiolens.tasks.speech import attribute_speakers

    text = "And so my fellow Americans, ask not what your country can do for you,"
    starts = np.arange(14) * 0.3
    words = [Word(a, a + 0.25, f" {w}", 0.9) for a, w in zip(starts, text.split())]
    r = SpeechResult(text, "en", [SpeechSegment(0.0, 4.15, text, words)])
    flips = [Turn(0.0, 1.3, "A"), Turn(1.3, 2.5, "B"), Turn(2.5, 4.2, "C")]
    out = attribute_speakers(r, flips)
    assert len(out.segments) == 1 and out.segments[0].text == text
    assert len({w.speaker for w in out.segments[0].words}) == 1

    # "Hello there. How are you doing today my friend?": the turn changes 0.1 s after the
    # sentence end: the change moves to it
    said = ["Hello", "there.", "How", "are", "you", "doing", "today", "my", "friend?"]
    times = [0.0, 0.4, 1.0, 1.3, 1.6, 1.9, 2.2, 2.5, 2.8]
    words = [Word(a, a + 0.25, f" {w}", 0.9) for a, w in zip(times, said)]
    r = SpeechResult(" ".join(said), "en", [SpeechSegment(0.0, 3.05, "x", words)])
    out = attribute_speakers(r, [Turn(0.0, 1.35, "A"), Turn(1.35, 3.1, "B")])
    assert [(s.speaker, s.text) for s in out.segments] == [
        ("A", "Hello there."),
        ("B", "How are you doing today my friend?"),
    ]

    # a long run inside one whisper segment, with pauses around it, is a real turn
    times = [0.0, 0.3, 0.6, 1.5, 1.8, 2.1, 2.4, 2.7, 3.0, 3.3, 3.6, 4.5]
    said = ["yes", "I", "see", "so", "what", "we", "did", "was", "go", "back", "and", "then", "ok"]
    words = [Word(a, a + 0.25, f" {w}", 0.9) for a, w in zip(times, said)]
    r = SpeechResult(" ".join(said), "en", [SpeechSegment(0.0, 4.75, "x", words)])
    out = attribute_speakers(r, [Turn(0.0, 0.9, "A"), Turn(1.4, 3.9, "B"), Turn(4.4, 4.8, "A")])
    assert [s.speaker for s in out.segments] == ["A", "B", "A"]


class _HourStream:
    """A 1-hour recording as 60-s blocks made on the fly: quiet room noise, and the jfk clip
    at the start of every 10th minute."""

    def __init__(self, clip: np.ndarray, info) -> None:
        self.clip, self.info = clip, info

    def __iter__(self):
        from audiolens.audio import Audio

        rng = np.random.default_rng(0)
        for minute in range(60):
            block = (0.002 * rng.standard_normal(60 * 16000)).astype(np.float32)
            if minute % 10 == 0:
                block[: self.clip.size] += self.clip
            yield Audio(block[None, :], 16000, self.info)


@pytest.mark.slow
def test_an_hour_streams_in_bounded_memory(speech_dir, whisper_base):
    import tracemalloc

    from audiolens import load
    from audiolens.audio import AudioInfo
    from audiolens.tasks.base import TaskInput

    clip = load(speech_dir / "jfk.flac", sr=16000, mono=True).samples[0]
    info = AudioInfo("hour.flac", "flac", "flac", 16000, 1, 3600.0, 0, 16, True)
    task = SpeechTask(options=SpeechOptions(model=str(whisper_base), cpu_threads=2))
    task.run([read_input(speech_dir / "LDC93S1.wav", task)], device=CPU)  # model loaded
    item = TaskInput(info=info, pieces=[], stream=_HourStream(clip, info))  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        result = task.run([item], device=CPU)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    decoded = 3600 * 16000 * 4
    assert peak < 0.25 * decoded, f"peak {peak / 1e6:.0f} MB"  # 36 MB here: blocks, windows
    assert result.duration == pytest.approx(3600.0)
    starts = sorted({round(s.start // 600) for s in result.segments})
    assert starts == list(range(6))  # the clip found in each of the six 10-minute stretches
    assert result.text.lower().count("my fellow americ") == 6


def test_speaker_attributed_transcript(whisper_base, speech_dir, tmp_path):
    """speech + speakers on the two-speaker pyannote sample, told there are two (the automatic
    count hears one voice there, see benchmarks/RESULTS.md): every word has a speaker, both
    voices appear, sentences are not cut between them, and subtitle lines carry the prefix."""
    pytest.importorskip("onnxruntime")
    from audiolens.errors import ModelNotFound as Missing
    from audiolens.tasks.speakers import SpeakersOptions

    opts = SpeechOptions(model=str(whisper_base), cpu_threads=2)
    try:
        r = speech(
            speech_dir / "pyannote_sample.wav",
            options=opts,
            device="cpu",
            speakers=SpeakersOptions(num_speakers=2),
            out_dir=tmp_path,
            formats=("srt", "json"),
        )
    except Missing as exc:  # silero-vad / resemblyzer weights not installed
        pytest.skip(str(exc))
    words = [w for s in r.segments for w in s.words]
    assert words and all(w.speaker is not None for w in words)
    assert len({w.speaker for w in words}) >= 2
    assert all(s.speaker == s.words[0].speaker for s in r.segments)
    assert all({w.speaker for w in s.words} == {s.speaker} for s in r.segments)
    cues = (tmp_path / "pyannote_sample.srt").read_text().split("\n\n")
    assert all(c.splitlines()[2].startswith("[SPEAKER_") for c in cues if c.strip())
    record = json.loads((tmp_path / "pyannote_sample.json").read_text())
    assert record["segments"][0]["speaker"].startswith("SPEAKER_")
    assert record["segments"][0]["words"][0]["speaker"].startswith("SPEAKER_")


def test_a_streamed_file_is_decoded_once_for_transcript_and_speakers(
    whisper_base, speech_dir, monkeypatch
):
    """speech --speakers on a streamed (long) input reads its blocks once, and the words get
    the speakers the ``speakers`` task finds on its own."""
    pytest.importorskip("onnxruntime")
    import audiolens.tasks.speech as speech_mod
    from audiolens.errors import ModelNotFound as Missing
    from audiolens.tasks.speakers import SpeakersOptions
    from audiolens.tasks.speakers import speakers as diarize_file
    from audiolens.tasks.speech import attribute_speakers

    monkeypatch.setattr(speech_mod, "STREAM_ABOVE_S", 5.0)  # stream the 30 s clip
    monkeypatch.setattr(speech_mod, "BLOCK_S", 7.0)
    path = speech_dir / "pyannote_sample.wav"
    opts = SpeechOptions(model=str(whisper_base), cpu_threads=2)
    task = SpeechTask(options=opts, speakers=SpeakersOptions())
    item = read_input(path, task)
    assert item.stream is not None
    calls = []
    original = item.blocks

    def counted():
        calls.append(1)
        yield from original()

    monkeypatch.setattr(item, "blocks", counted)
    try:
        (both,) = task.run([item], device=resolve_device("cpu"))
        alone = diarize_file(path)
    except Missing as exc:  # silero-vad / resemblyzer weights not installed
        pytest.skip(str(exc))
    assert len(calls) == 1
    (plain,) = SpeechTask(options=opts).run([read_input(path, task)], device=resolve_device("cpu"))
    expected = attribute_speakers(plain, alone.turns)
    assert [(w.word, w.speaker) for s in both.segments for w in s.words] == [
        (w.word, w.speaker) for s in expected.segments for w in s.words
    ]


def test_real_music_gives_an_empty_transcript(whisper_base, speech_dir):
    """The bundled example song and the real music clips of the eval set: no words."""
    root = Path(__file__).resolve().parents[2]
    paths = sorted((root / "examples").glob("song_*"))
    paths += sorted((speech_dir.parent / "beats").glob("*.wav"))
    results = _run(paths, whisper_base)
    assert len(results) >= 4
    for path, r in zip(paths, results, strict=True):
        assert r.text == "" and r.segments == [], (path.name, r.text)


def test_cli_progress_bar_on_a_terminal(whisper_base, speech_dir, monkeypatch, capsys):
    """On a terminal the command draws a bar of the seconds of speech decoded."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    path = str(speech_dir / "LDC93S1.wav")
    assert main(["speech", path, "--model", str(whisper_base), "--threads", "2"]) == 0
    assert "speech [cpu]" in err.getvalue()
    assert "LDC93S1.wav: en" in capsys.readouterr().out
