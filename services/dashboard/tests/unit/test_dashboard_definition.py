"""The dashboard's two consumer groups (events, dead letters) on the same session timeout."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints import background
from ifuno_dashboard.entrypoints.service import build_definition

pytestmark = pytest.mark.unit


@pytest.fixture
def dead_letter_subscriptions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options each dead-letter subscriber is declared with (no broker involved)."""
    declared: list[dict[str, Any]] = []
    monkeypatch.setattr(
        background,
        "subscribe_batches",
        lambda broker, topics, **options: declared.append(options),
    )
    return declared


def declare_subscribers(**consumer_options: object) -> None:
    settings = DashboardSettings(database_url="postgresql+asyncpg://u@h/d", kafka_bootstrap="b:1")
    for declare in build_definition(settings, **consumer_options).subscribers:
        declare(SimpleNamespace(broker=None))  # type: ignore[arg-type]


def test_the_dead_letter_group_takes_the_session_timeout_given_to_the_service(
    dead_letter_subscriptions: list[dict[str, Any]],
) -> None:
    declare_subscribers(session_timeout_ms=3000, max_records=20)
    [options] = dead_letter_subscriptions
    assert options["session_timeout_ms"] == 3000
    assert options["group_id"] == background.DEAD_LETTER_GROUP
    assert "max_records" not in options, "the events' batch size is theirs alone"


def test_without_options_the_dead_letter_group_keeps_the_kit_default(
    dead_letter_subscriptions: list[dict[str, Any]],
) -> None:
    declare_subscribers()
    [options] = dead_letter_subscriptions
    assert "session_timeout_ms" not in options
