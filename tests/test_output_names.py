"""Output names: the input's plain stem, with a suffix only when two inputs of a run collide."""

from __future__ import annotations

import pickle

from audiolens.tasks.base import output_name
from audiolens.tasks.beats import BeatsTask, beats_name
from audiolens.tasks.names import OutputNames, output_stem, with_names


def _names(paths: list[str], suffix: str = ".mid") -> list[str]:
    names = OutputNames(paths)
    return [names.name(p, suffix=suffix) for p in paths]


def test_a_single_input_gets_its_plain_stem():
    assert output_name("/talks/jfk.wav", suffix=".srt") == "jfk.srt"
    assert _names(["/talks/jfk.wav"], ".srt") == ["jfk.srt"]
    assert _names(["/music/song_lossless.flac"], ".quality.png") == ["song_lossless.quality.png"]
    assert beats_name("/a/song.flac") == "song.beats"
    assert beats_name("/a/song.flac", suffix=".click.wav") == "song.click.wav"
    assert output_stem(b"/a/caf\xe9.mp3") == "caf\ufffd"  # undecodable bytes, still a name
    assert output_stem("/a/.wav") == ".wav" and output_stem("/") == "audio"


def test_distinct_stems_get_no_suffix():
    paths = ["/a/one.wav", "/b/two.wav", "/c/three.flac", "rel/four.mp3"]
    assert _names(paths) == ["one.mid", "two.mid", "three.mid", "four.mid"]
    assert OutputNames(paths).special == {}  # nothing to send to workers but the empty map


def test_the_same_path_twice_is_one_input():
    assert _names(["/a/take.wav", "/a/take.wav", "/a/../a/take.wav"]) == ["take.mid"] * 3


def test_different_extensions_tell_inputs_apart():
    assert _names(["/m/song.flac", "/m/song.mp3", "/m/other.wav"]) == [
        "song.flac.mid",
        "song.mp3.mid",
        "other.mid",
    ]


def test_different_folders_tell_inputs_apart():
    assert _names(["/x/a/take.wav", "/x/b/take.wav"]) == ["take.a.mid", "take.b.mid"]


def test_folder_and_extension_when_neither_alone_does():
    paths = ["/x/a/take.wav", "/x/b/take.wav", "/x/b/take.mp3"]
    assert _names(paths) == ["take.a.wav.mid", "take.b.wav.mid", "take.b.mp3.mid"]


def test_a_hash_of_the_path_as_the_last_resort():
    paths = ["/x/a/take.wav", "/y/a/take.wav"]
    got = _names(paths)
    assert got[0] != got[1] and all(n.startswith("take.") and n.endswith(".mid") for n in got)
    assert all(len(n.split(".")[1]) == 8 for n in got)


def test_stems_that_differ_only_in_case_collide():
    # a case-insensitive file system would write both to one file
    assert _names(["/m/Take.wav", "/m/take.flac"]) == ["Take.wav.mid", "take.flac.mid"]


def test_a_suffix_never_takes_another_input_plain_name():
    # "take.a" is the plain stem of take.a.wav: a/take.wav must not get it too
    paths = ["/x/take.a.wav", "/x/a/take.wav", "/x/b/take.wav"]
    got = _names(paths)
    assert got[0] == "take.a.mid" and len(set(got)) == 3


def test_names_are_stable_and_independent_of_order():
    paths = ["/x/a/take.wav", "/x/b/take.wav", "/x/c/take.wav", "/m/song.flac"]
    first = dict(zip(paths, _names(paths)))
    again = dict(zip(reversed(paths), _names(list(reversed(paths)))))
    assert first == again
    assert pickle.loads(pickle.dumps(OutputNames(paths))).base("/x/b/take.wav") == "take.b"


def test_relative_and_absolute_spellings_are_one_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = OutputNames(["take.wav", str(tmp_path / "take.wav")])
    assert names.name("take.wav", suffix=".srt") == "take.srt"


def test_with_names_copies_a_task_and_leaves_the_callers_alone():
    task = BeatsTask(out_dir="out")
    names = OutputNames(["/a/x.wav", "/b/x.wav"])
    named = with_names(task, names)
    assert named is not task and named.names is names and task.names is None
    assert with_names("quality", names) == "quality"  # a task that writes no files
