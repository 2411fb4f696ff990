"""Folding the public events into the read model (the kit's inbox absorbs replays)."""

from __future__ import annotations

from ifuno_shared.events import CloudEvent, Topic
from ifuno_shared.events import candidature as c
from ifuno_shared.events import notification as n
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted
from ifuno_shared.messaging.subscription import handlers_by_annotation

from ifuno_dashboard.domain.history import log_details
from ifuno_dashboard.domain.projection import (
    ApplicationEvent,
    ApplicationView,
    apply,
    selection_count,
)
from ifuno_dashboard.service_layer.unit_of_work import DashboardUnitOfWork


async def handle_application_event(
    event: CloudEvent[ApplicationEvent], uow: DashboardUnitOfWork
) -> None:
    """The application's view; a point of its level's places held when they change. The
    places are selection's count where the event carries one, a newer one than read so
    far: a decline and the promotion it causes come on two partitions, and counting the
    views in reading order would show one place too many. Events published before
    selection counted (and levels it never counted for) fall back to the views."""
    await log(event, uow)
    before = await uow.views.get(event.data.application_id)
    after = apply(before, event.data)
    if after != before:
        await uow.views.save(after)
    count = selection_count(event.data)
    if count is not None:
        campaign, level, change, held = count
        known = await uow.views.counted(campaign, level)
        if known is None or change > known[0]:  # one read late is older: nothing moves
            uow.views.count_places(campaign, level, (change, held))
            uow.views.add_point(campaign, level, await uow.clock.now() or event.time, held)
        return
    if after == before or _counts(before) == _counts(after):
        return
    if not after.campaign or not after.level:
        return
    if await uow.views.counted(after.campaign, after.level, lock=False) is None:
        at = await uow.clock.now() or event.time
        held = await uow.views.held(after.campaign, after.level)
        uow.views.add_point(after.campaign, after.level, at, held)


def _counts(view: ApplicationView) -> bool:
    """Whether the view counts against a level's places (events may come in any order
    across topics: an offer can be read before the application's level is known)."""
    return view.holding is not None and view.campaign is not None and view.level is not None


async def handle_notification(
    event: CloudEvent[n.NotificationSent | n.NotificationFailed], uow: DashboardUnitOfWork
) -> None:
    await log(event, uow)
    outcome = "sent" if isinstance(event.data, n.NotificationSent) else "failed"
    uow.views.count_message(event.data.channel, event.data.template, outcome)


ERASING_SERVICES = ("candidature", "selection", "notification", "dashboard")
"""The services that confirm an erasure (the timeline holds no personal data)."""


async def handle_application_erased(
    event: CloudEvent[c.ApplicationErased], uow: DashboardUnitOfWork
) -> None:
    """Candidature's confirmation, and the dashboard's own erasure: its view of the
    application holds no personal data (flags and dates, kept for the counts), but the
    dead letters recorded for the application go, and so, once the dead-letter topic is
    compacted, do their records (a tombstone for the key)."""
    application_id = event.data.application_id
    at = await uow.clock.now() or event.time
    await uow.views.confirm_erasure(application_id, "candidature", at)
    if await uow.views.forget_dead_letters(application_id):
        uow.tombstone(Topic.DEADLETTER, application_id)
    await uow.views.confirm_erasure(application_id, "dashboard", at)


async def handle_erasure_confirmed(
    event: CloudEvent[s.ErasureConfirmed | n.ErasureConfirmed], uow: DashboardUnitOfWork
) -> None:
    service = event.data.topic.value.split(".")[1]
    at = await uow.clock.now() or event.time
    await uow.views.confirm_erasure(event.data.application_id, service, at)


async def handle_history_only(
    event: CloudEvent[
        c.DocumentRejected
        | c.SubmissionDeadlineMoved
        | c.EligibilityOverridden
        | s.InterviewScheduled
        | s.TwoYearPlanRecorded
    ],
    uow: DashboardUnitOfWork,
) -> None:
    """Steps of a file that change no count: its history only."""
    await log(event, uow)


async def log(event: CloudEvent, uow: DashboardUnitOfWork) -> None:
    """The event in its application's history: ids, type, times, non-personal fields;
    `season_at` is the platform clock as the dashboard last read it (simulated or real)."""
    season_at = await uow.clock.now()
    details = log_details(event.data)
    if season_at is not None:
        details["season_at"] = season_at.isoformat()
    uow.views.log_event(
        {
            "event_id": event.id,
            "application_id": event.data.application_id,
            "type": event.type,
            "source": event.source,
            "time": event.time,
            "details": details,
        }
    )


async def handle_phase(event: CloudEvent[PhaseStarted], uow: DashboardUnitOfWork) -> None:
    await uow.clock.record_phase(event.data)


async def handle_clock(event: CloudEvent[ClockAdvanced], uow: DashboardUnitOfWork) -> None:
    await uow.clock.advance(event.data)


async def handle_calendar_changed(
    event: CloudEvent[CalendarChanged], uow: DashboardUnitOfWork
) -> None:
    """The calendar in force, overrides included: the summary's next deadline is its."""
    await uow.views.announce_calendar(
        event.data.campaign, [(p.phase, p.starts_at, p.ends_at) for p in event.data.phases]
    )


HANDLERS = handlers_by_annotation(
    handle_application_event,
    handle_notification,
    handle_history_only,
    handle_phase,
    handle_clock,
    handle_calendar_changed,
    handle_application_erased,
    handle_erasure_confirmed,
)
