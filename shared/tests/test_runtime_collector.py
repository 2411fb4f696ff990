"""A service process freezes what start-up built and collects young objects rarely
(`runtime.collector`); the collector is the test process's own, restored after."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from ifuno_shared.runtime import cli
from ifuno_shared.runtime.collector import YOUNG_THRESHOLD, tune_garbage_collection

pytestmark = pytest.mark.unit


def test_tuning_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collection()
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_run_command_tunes_the_collector_once_the_service_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    class Settings:
        log_level = "info"

    class Definition:
        settings = Settings()

    class Runner:
        def __init__(self, definition: Any) -> None:
            calls.append("built")

        def serve_forever(self) -> str:
            return "serving"

    monkeypatch.setattr(cli, "ServiceRunner", Runner)
    monkeypatch.setattr(cli, "tune_garbage_collection", lambda: calls.append("tuned"))
    monkeypatch.setattr(cli.uvloop, "run", lambda serving: calls.append(serving))
    cli.make_cli(lambda: Definition(), "probe")(["run"])  # type: ignore[arg-type, return-value]
    assert calls == ["built", "tuned", "serving"]
