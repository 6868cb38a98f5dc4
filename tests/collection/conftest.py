"""A real analyzed collection for the report and export tests.

The bundled examples (a real FLAC, a fake FLAC from an MP3, an upscaled MP3, a LAME V0), copies
of them under hostile names (HTML in the name, quotes and a newline, bytes that are not UTF-8,
a right-to-left override, a folder whose name puts ``</script>`` into the path), and bad inputs
(an empty file, a text file named .flac, a FLAC cut short), analyzed by the real runner with
quality, beats, structure, loudness, key and notes; and a real speech recording with speech and
speakers when their models are installed. Built once per test session.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from audiolens_testkit import eval_root

from audiolens.errors import AudiolensError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: the hostile names: name -> the example it is a copy of
HOSTILE: dict[str, str] = {
    "<img src=x onerror=alert(1)>.flac": "song_lossless.flac",
    "quote\"it's\nnewline.mp3": "song_mp3_v0.mp3",
    "evil\u202egalf.mp3": "song_mp3_320_from_128.mp3",
}
#: a name whose bytes are not UTF-8 (a Latin-1 é and a lone 0xff)
RAW_NAME = b"caf\xe9 \xff.flac"
#: a folder and file whose path holds ``</script>``
SCRIPT_DIR, SCRIPT_FILE = "a<", "script>.flac"


@dataclass
class Collection:
    """The analyzed collection: its store and what went into it."""

    db: Path
    music: Path
    tasks: list[str]
    speech: Path | None = None
    extra_tasks: list[str] = field(default_factory=list)

    @property
    def hostile(self) -> Path:
        return self.music / "<img src=x onerror=alert(1)>.flac"

    @property
    def raw_name(self) -> str:
        return os.fsdecode(os.path.join(os.fsencode(self.music), RAW_NAME))


def _have_notes_model() -> bool:
    try:
        import onnxruntime  # noqa: F401

        from audiolens.models.basic_pitch import find_model

        find_model()
    except (ImportError, AudiolensError):
        return False
    return True


def _speech_tasks(tmp: Path) -> list:
    """The speech and speakers tasks, with the offline Whisper base, when installed."""
    try:
        from audiolens.models.whisper import offline_base_model
        from audiolens.tasks.speech import SpeechOptions, SpeechTask

        model = offline_base_model(tmp / "whisper-base")
        return [SpeechTask(options=SpeechOptions(model=str(model))), "speakers"]
    except (ImportError, AudiolensError):
        return []


@pytest.fixture(scope="session")
def collection(tmp_path_factory) -> Collection:
    import audiolens

    base = tmp_path_factory.mktemp("collection")
    music = base / "music"
    music.mkdir()
    for example in sorted(EXAMPLES.iterdir()):
        shutil.copy(example, music / example.name)
    for name, source in HOSTILE.items():
        shutil.copy(EXAMPLES / source, music / name)
    shutil.copy(
        EXAMPLES / "song_fake_lossless_from_mp3_128.flac",
        os.path.join(os.fsencode(music), RAW_NAME),
    )
    (music / SCRIPT_DIR).mkdir()
    shutil.copy(EXAMPLES / "song_lossless.flac", music / SCRIPT_DIR / SCRIPT_FILE)
    (music / "empty.wav").write_bytes(b"")
    (music / "text.flac").write_text("not audio, just text\n")
    (music / "truncated.flac").write_bytes((EXAMPLES / "song_lossless.flac").read_bytes()[:30000])

    db = base / "music.sqlite"
    tasks = ["quality", "beats", "structure", "loudness", "key"]
    tasks += ["notes"] if _have_notes_model() else []
    audiolens.analyze(music, tasks=tasks, db=db, workers=1, progress=False)
    out = Collection(db=db, music=music, tasks=tasks)
    speech_tasks = _speech_tasks(base)
    if speech_tasks:
        clip = base / "speech" / "jfk.flac"
        clip.parent.mkdir()
        shutil.copy(eval_root() / "speech" / "jfk.flac", clip)
        try:
            audiolens.analyze(clip, tasks=speech_tasks, db=db, workers=1, progress=False)
            out.speech, out.extra_tasks = clip, ["speech", "speakers"]
        except AudiolensError:  # a speakers model missing: the store has the music alone
            pass
    return out
