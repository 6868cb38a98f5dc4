"""The analyses audiolens runs, one module per task, looked up by name."""

from __future__ import annotations

from .base import AudioRequest, Result, Task, TaskInput

__all__ = ["TASKS", "AudioRequest", "Result", "Task", "TaskInput", "get_task"]

#: task name -> "module:attribute" of the task's class; imported only when used
TASKS: dict[str, str] = {
    "quality": "audiolens.tasks.quality:QualityTask",
    "notes": "audiolens.tasks.notes:NotesTask",
    "beats": "audiolens.tasks.beats:BeatsTask",
    "structure": "audiolens.tasks.structure:StructureTask",
    "speech": "audiolens.tasks.speech:SpeechTask",
    "speakers": "audiolens.tasks.speakers:SpeakersTask",
    "loudness": "audiolens.tasks.loudness:LoudnessTask",
    "key": "audiolens.tasks.key:KeyTask",
}


def get_task(name: str) -> Task:
    """Return a new instance of the task called ``name``.

    Raises
    ------
    ParameterError
        for an unknown task name (the message lists the known ones).
    """
    from importlib import import_module

    from ..errors import ParameterError

    if name not in TASKS:
        known = ", ".join(sorted(TASKS))
        raise ParameterError(f"task {name!r} is not known; the tasks are: {known}")
    module, attr = TASKS[name].split(":")
    return getattr(import_module(module), attr)()
