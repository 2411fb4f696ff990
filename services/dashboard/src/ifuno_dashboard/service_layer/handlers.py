"""Folding the public events into the read model (the kit's inbox absorbs replays)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ifuno_shared.events import CloudEvent, EventData
from ifuno_shared.events import candidature as c
from ifuno_shared.events import notification as n
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_shared.persistence import SqlUnitOfWork

from ifuno_dashboard.adapters.repository import DashboardRepository
from ifuno_dashboard.domain.projection import ApplicationView, apply


class DashboardUnitOfWork(SqlUnitOfWork):
    views: DashboardRepository

    async def _open_repositories(self) -> None:
        self.views = DashboardRepository(self.session)

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        """The views of the batch's applications in one statement (`get` takes one per
        application); notifications and clock events read no view."""
        data: list[Any] = [e.data for e in events if isinstance(e.data, APPLICATION_EVENTS)]
        await self.views.prefetch(d.application_id for d in data)

    async def _commit(self) -> None:
        await self.views.flush()
        await super()._commit()


async def handle_application_event(event: CloudEvent, uow: DashboardUnitOfWork) -> None:
    data: Any = event.data
    before = await uow.views.get(data.application_id)
    after = apply(before, data)
    if after == before:
        return
    uow.views.save(after)
    if _counts(before) != _counts(after) and after.campaign and after.level:
        at = await uow.clock.now() or event.time
        held = await uow.views.held(after.campaign, after.level)
        uow.views.add_point(after.campaign, after.level, at, held)


def _counts(view: ApplicationView) -> bool:
    """Whether the view counts against a level's places (events may come in any order
    across topics: an offer can be read before the application's level is known)."""
    return view.holding is not None and view.campaign is not None and view.level is not None


async def handle_notification(event: CloudEvent, uow: DashboardUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, n.NotificationSent | n.NotificationFailed)
    outcome = "sent" if isinstance(data, n.NotificationSent) else "failed"
    uow.views.count_message(data.channel, data.template, outcome)


async def handle_phase(event: CloudEvent, uow: DashboardUnitOfWork) -> None:
    assert isinstance(event.data, PhaseStarted)
    await uow.clock.record_phase(event.data)


async def handle_clock(event: CloudEvent, uow: DashboardUnitOfWork) -> None:
    assert isinstance(event.data, ClockAdvanced)
    await uow.clock.advance(event.data)


APPLICATION_EVENTS: tuple[type[EventData], ...] = (
    c.ApplicationReceived,
    c.ApplicationCompleted,
    c.ApplicationRefused,
    c.ApplicationWithdrawn,
    s.Shortlisted,
    s.InterviewRecorded,
    s.Admitted,
    s.Waitlisted,
    s.WaitlistRankChanged,
    s.Refused,
    s.OfferAccepted,
    s.OfferDeclined,
    s.OfferExpired,
    s.PlaceReleased,
)

HANDLERS = {
    **{model: handle_application_event for model in APPLICATION_EVENTS},
    n.NotificationSent: handle_notification,
    n.NotificationFailed: handle_notification,
    PhaseStarted: handle_phase,
    ClockAdvanced: handle_clock,
}
