"""``beats`` (in progress): beat tracking on the log-filtered spectrogram.

Only the decoding model is here so far (:mod:`.dbn`); the task, its activation, downbeats and
meter come next (see the project's issue 4).
"""

from __future__ import annotations

__all__: list[str] = []
