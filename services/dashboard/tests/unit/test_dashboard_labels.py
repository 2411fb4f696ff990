"""Every code staff can meet on the dashboard's pages has its French label."""

from __future__ import annotations

import pytest
from ifuno_dashboard.domain.labels import EVENTS, TEMPLATES
from ifuno_notification.domain.messages import TEMPLATES as NOTIFICATION_TEMPLATES
from ifuno_shared.events import EVENT_MODELS
from ifuno_shared.events.topics import CONSUMER_GROUPS

pytestmark = pytest.mark.unit


def test_every_event_type_the_dashboard_reads_has_a_french_label() -> None:
    """The topics the dashboard reads (portal and contact events never reach it: the
    candidature service speaks for them, and contacts are personal data)."""
    read = set(CONSUMER_GROUPS["dashboard"])
    shown = {name for name, model in EVENT_MODELS.items() if model.topic in read}
    assert shown, "the dashboard reads some events"
    assert sorted(shown - set(EVENTS)) == []


def test_every_notification_template_has_a_french_label() -> None:
    assert sorted(set(NOTIFICATION_TEMPLATES) - set(TEMPLATES)) == []
