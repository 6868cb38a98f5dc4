"""Progress reporting: one hook callable, ``hook(event, **info)``.

The runner calls the hook with these events:

``"start"``
    ``total`` (files found), ``todo`` (files to analyze), ``skipped`` (already done),
    ``device`` (its name), ``tasks`` (names), ``workers``
``"file"``
    after each analyzed file is stored: ``path``, ``status`` (``"ok"``/``"failed"``;
    ``"skipped"`` for a file left to another run of the same store, which is not stored),
    ``error`` (the first failure message or None), ``completed`` (files analyzed so far),
    ``todo``, ``failed`` (failed files so far), ``seconds`` (the file's audio duration, or
    None when it could not be read), ``warnings`` (the file's decode warnings, a list)
``"end"``
    ``summary`` (the :class:`~audiolens.runner.RunSummary`)

:class:`TqdmHook` draws the bar on stderr; pass your own callable to ``analyze(hook=...)`` to
drive a GUI or a log. A hook that raises does not stop the run (it is logged once and dropped).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TextIO

__all__ = ["HookChain", "ProgressHook", "TqdmHook", "audio_hours"]

logger = logging.getLogger("audiolens")


def audio_hours(seconds: float) -> str:
    """``"0.52 h"``, or ``"12.3 min"`` under half an hour."""
    return f"{seconds / 3600:.2f} h" if seconds >= 1800 else f"{seconds / 60:.1f} min"


class ProgressHook(Protocol):
    """Anything callable as ``hook(event, **info)``."""

    def __call__(self, event: str, **info: Any) -> None: ...


class TqdmHook:
    """A tqdm progress bar: files, files/s, ETA, and the tasks and device in its description;
    once files report their duration, the hours of audio done and the real-time factor.

    Parameters
    ----------
    file : where to draw (stderr by default)
    """

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file
        self.bar: Any = None
        self.skipped = 0
        self.audio_s = 0.0
        self.started = 0.0

    def __call__(self, event: str, **info: Any) -> None:
        if event == "start":
            from tqdm import tqdm

            desc = f"{'+'.join(info['tasks'])} [{info['device']}]"
            self.bar = tqdm(
                total=info["todo"],
                desc=desc,
                unit="file",
                file=self.file or sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )
            self.skipped = int(info.get("skipped") or 0)
            self.started = time.perf_counter()
            self._postfix(0)
        elif event == "file" and self.bar is not None:
            self.audio_s += float(info.get("seconds") or 0.0)
            self._postfix(int(info.get("failed") or 0))
            self.bar.update(1)
        elif event == "end":
            self.close()

    def _postfix(self, failed: int) -> None:
        parts = [f"{self.skipped} skipped"] if self.skipped else []
        if failed:
            parts.append(f"{failed} failed")
        wall = time.perf_counter() - self.started
        if self.audio_s > 0 and wall > 0:
            parts.append(f"{audio_hours(self.audio_s)} audio, {self.audio_s / wall:.1f}x real time")
        if parts:
            self.bar.set_postfix_str(", ".join(parts), refresh=False)

    def close(self) -> None:
        """Close the bar (idempotent)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class HookChain:
    """Calls several hooks in order; a hook that raises is logged and dropped."""

    def __init__(self, hooks: Sequence[Callable[..., Any] | None]) -> None:
        self.hooks = [h for h in hooks if h is not None]

    def __call__(self, event: str, **info: Any) -> None:
        for hook in list(self.hooks):
            try:
                hook(event, **info)
            except Exception:
                logger.warning("progress hook %r raised; it is disabled", hook, exc_info=True)
                self.hooks.remove(hook)

    def close(self) -> None:
        """Close any hook that has a ``close`` (the tqdm bar), e.g. after Ctrl-C."""
        for hook in self.hooks:
            close = getattr(hook, "close", None)
            if callable(close):
                close()
