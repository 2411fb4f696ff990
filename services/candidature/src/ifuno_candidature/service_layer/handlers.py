"""One handler per event the candidature service reacts to. They never commit: the
consumer commits the transaction with the inbox mark (see ifuno_shared.messaging),
and the commit publishes the events of the applications they saved."""

from __future__ import annotations

import logging
from datetime import datetime

from ifuno_shared.calendar import PARIS
from ifuno_shared.errors import Conflict, NotFound
from ifuno_shared.events import CloudEvent, Phase, Round, Topic, portal
from ifuno_shared.events.candidature import ApplicationErased, SubmissionDeadlineMoved
from ifuno_shared.events.selection import ComplementaryRoundClosed, ComplementaryRoundOpened
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted
from ifuno_shared.messaging.subscription import handlers_by_annotation
from ifuno_shared.retention import campaigns_past_retention

from ifuno_candidature.domain.model import ON_TIME_AFTER_CLOSING, Application, RefusalReason
from ifuno_candidature.domain.windows import RoundWindow, round_for
from ifuno_candidature.service_layer.unit_of_work import CandidatureUnitOfWork

log = logging.getLogger(__name__)

ROUND_OPENING = {
    Phase.MAIN_SUBMISSIONS_OPEN: Round.MAIN,
    Phase.COMPLEMENTARY_SUBMISSIONS_OPEN: Round.COMPLEMENTARY,
}
"""The phases whose window (start, end) is a round's submission window."""


class UnknownApplication(NotFound):
    """An application this service never received: an event about it is dead-lettered,
    a staff request about it answered 404."""


async def _load(uow: CandidatureUnitOfWork, application_id: str) -> Application:
    app = await uow.applications.get(application_id)
    if app is None:
        raise UnknownApplication(f"no application {application_id}")
    return app


async def handle_application_submitted(
    event: CloudEvent[portal.ApplicationSubmitted], uow: CandidatureUnitOfWork
) -> None:
    data = event.data
    if await uow.applications.erased(data.application_id):
        log.info("application %s was erased: its submission is not taken in", data.application_id)
        return
    if await uow.applications.get(data.application_id) is not None:
        log.info("application %s was received before: ignored", data.application_id)
        return
    window = round_for(await uow.applications.windows(data.campaign), data.submitted_at)
    app = Application.from_portal(
        data, window.round if window else None, window.closes_at if window else None
    )
    refusal = await _refusal(uow, data, window)
    if refusal is None:
        app.receive(data.documents, data.submitted_at)
        now = await uow.clock.now()
        if now is not None and app.closes_by(now, uow.grace):
            app.close_at_deadline()  # on time, but read after its file's closing instant
    else:
        app.keep_unreviewed(data.documents, data.submitted_at)
        app.refuse(refusal)
    await uow.applications.save(app)


async def _refusal(
    uow: CandidatureUnitOfWork, data: portal.ApplicationSubmitted, window: RoundWindow | None
) -> RefusalReason | None:
    if window is None:
        return RefusalReason.CAMPAIGN_CLOSED
    if window.round is Round.COMPLEMENTARY and not await uow.applications.complementary_open_for(
        data.campaign, data.level
    ):
        return RefusalReason.NO_PLACES_LEFT
    if await uow.applications.live_for_candidate(data.candidate.candidate_id, data.campaign):
        return RefusalReason.DUPLICATE_APPLICATION
    return None


async def handle_document_uploaded(
    event: CloudEvent[portal.DocumentUploaded], uow: CandidatureUnitOfWork
) -> None:
    """The candidate's upload time decides (`uploaded_at`, else the event's time)."""
    data = event.data
    if await uow.applications.erased(data.application_id):
        return
    app = await _load(uow, data.application_id)
    app.add_document(data.document, data.uploaded_at or event.time)
    await uow.applications.save(app)
    if any(getattr(e, "reason", None) == ON_TIME_AFTER_CLOSING for e in app.events):
        log.warning(
            "application %s: a document uploaded on time was read after the file closed "
            "(raise IFUNO_CANDIDATURE_GRACE_MINUTES?)",
            app.application_id,
        )


async def handle_application_withdrawn(
    event: CloudEvent[portal.ApplicationWithdrawn], uow: CandidatureUnitOfWork
) -> None:
    if await uow.applications.erased(event.data.application_id):
        return
    app = await _load(uow, event.data.application_id)
    if app.withdraw(event.data.reason):
        await uow.applications.save(app)


async def handle_phase_started(event: CloudEvent[PhaseStarted], uow: CandidatureUnitOfWork) -> None:
    """The timeline announces each round's window, overrides included; files already
    received in that round take its deadline (closed at once if it is already past)."""
    data = event.data
    await uow.clock.record_phase(data)
    round_ = ROUND_OPENING.get(data.phase)
    if round_ is not None:
        await _apply_windows(
            uow, data.campaign, [RoundWindow(round_, data.starts_at, data.ends_at)]
        )


async def handle_calendar_changed(
    event: CloudEvent[CalendarChanged], uow: CandidatureUnitOfWork
) -> None:
    """The whole calendar, at the timeline's start and after every override: the rounds'
    windows follow it, and so do the deadlines of the files already received."""
    data = event.data
    windows = [
        RoundWindow(ROUND_OPENING[p.phase], p.starts_at, p.ends_at)
        for p in data.phases
        if p.phase in ROUND_OPENING
    ]
    await _apply_windows(uow, data.campaign, windows)


async def _apply_windows(
    uow: CandidatureUnitOfWork, campaign: int, windows: list[RoundWindow]
) -> None:
    """A window that changed is stored and moves the deadline of its round's live files,
    each told (notification re-times its reminder); a deadline moved into the past closes
    the incomplete ones (after the grace period). Files already closed stay closed."""
    current = {w.round: w for w in await uow.applications.windows(campaign)}
    changed = [w for w in windows if current.get(w.round) != w]
    for window in changed:
        await uow.applications.set_window(campaign, window)
        moved = await uow.applications.move_deadline(campaign, window.round, window.closes_at)
        uow.publish_raised()
        for application_id, complete in moved:
            uow.publish(
                SubmissionDeadlineMoved(
                    application_id=application_id,
                    campaign=campaign,
                    round=window.round,
                    submission_deadline=window.closes_at,
                    complete=complete,
                ),
                subject=application_id,
            )
    now = await uow.clock.now()
    if changed and now is not None:
        await _close_late(uow, None, now)


async def handle_clock_advanced(
    event: CloudEvent[ClockAdvanced], uow: CandidatureUnitOfWork
) -> None:
    """Close every file still incomplete once its round's deadline minute, then the
    grace period, have passed."""
    data = event.data
    previous = await uow.clock.advance(data)
    if previous is not None and previous >= data.now:
        return
    await _close_late(uow, previous, data.now)
    await _erase_past_retention(uow, data.now)


RETENTION_BATCH = 500
"""Applications erased per statement when a campaign's keeping time ends."""


async def _erase_past_retention(uow: CandidatureUnitOfWork, now: datetime) -> None:
    """Once a campaign's keeping time has ended, its applications are erased like on
    request (in batches), each contact tombstoned; the other services purge the same
    campaign on the same clock, so no `application_erased` is sent for them."""
    campaigns = await uow.applications.campaigns_holding_data(now.year - 1)
    for campaign in campaigns_past_retention(campaigns, now, uow.retention_until):
        while batch := await uow.applications.not_erased_in(campaign, RETENTION_BATCH):
            await erase(uow, batch, cause="retention", at=now, announce=False)
        log.info("campaign %s: personal data erased at the end of its keeping time", campaign)


async def erase(
    uow: CandidatureUnitOfWork,
    application_ids: list[str],
    *,
    cause: str,
    at: datetime,
    announce: bool = True,
) -> list[str]:
    """Anonymize the applications, drop every outbox row about them, tombstone their
    contact on the compacted topic and (on request) tell the other services. Returns
    the ids erased now (an application erased before is left as it is)."""
    erased = await uow.applications.erase(application_ids, cause, at)
    ids = [application_id for application_id, _ in erased]
    await uow.forget_outbox(ids)
    for application_id, campaign in erased:
        uow.tombstone(Topic.CONTACTS, application_id)
        if announce:
            uow.publish(
                ApplicationErased(application_id=application_id, campaign=campaign),
                subject=application_id,
            )
    return ids


class ErasureForAnotherCandidate(Conflict):
    """An erasure request whose candidate is not the application's: an erasure cannot be
    undone, so nothing is erased and the request goes to the dead letters (the portal
    has mixed two candidates up; operators see it)."""


async def handle_erasure_requested(
    event: CloudEvent[portal.ErasureRequested], uow: CandidatureUnitOfWork
) -> None:
    """The candidate's right to erasure, asked through the portal (also for an
    application not received yet: it will never be taken in). The request must name
    the application's own candidate."""
    data = event.data
    if not await uow.applications.erased(data.application_id):
        app = await uow.applications.get(data.application_id)
        if app is not None and app.candidate.candidate_id != data.candidate_id:
            raise ErasureForAnotherCandidate(
                "the erasure request names another candidate than the application's"
            )
    at = await uow.clock.now() or event.time
    await erase(uow, [data.application_id], cause="request", at=at)


async def request_erasure(uow: CandidatureUnitOfWork, application_id: str) -> bool:
    """A staff command (HTTP, admin): it commits its own unit of work. False when the
    application was erased before (nothing more to do), True when erased now."""
    async with uow:
        at = await uow.clock.now()
        if at is None:
            at = datetime.now(PARIS)
        erased = await erase(uow, [application_id], cause="request", at=at)
        await uow.commit()
    return bool(erased)


async def _close_late(uow: CandidatureUnitOfWork, after: datetime | None, until: datetime) -> None:
    """Files whose closing instant (late_from + grace) lies in (after, until]. They are
    read (locked) together: one statement, not one per file."""
    grace = uow.grace
    late = await uow.applications.incomplete_late_in(
        None if after is None else after - grace, until - grace
    )
    for app in await uow.applications.get_many(late):
        if app.close_at_deadline():
            await uow.applications.save(app)


async def handle_complementary_round_opened(
    event: CloudEvent[ComplementaryRoundOpened], uow: CandidatureUnitOfWork
) -> None:
    """Selection found free places at this level with its waitlist exhausted: its
    complementary applications are taken (it may open, close and open again)."""
    data = event.data
    await uow.applications.open_complementary(data.campaign, data.level, data.free_places)


async def handle_complementary_round_closed(
    event: CloudEvent[ComplementaryRoundClosed], uow: CandidatureUnitOfWork
) -> None:
    """The level's places are all held again: its complementary applications are
    refused `no_places_left` from now on (as read: the two topics are read apart)."""
    await uow.applications.close_complementary(event.data.campaign, event.data.level)


async def override_eligibility(
    uow: CandidatureUnitOfWork, application_id: str, eligible: bool, by: str, note: str | None
) -> Application:
    """A staff command (HTTP): it commits its own unit of work."""
    async with uow:
        app = await _load(uow, application_id)
        app.override_eligibility(eligible, by, note)
        await uow.applications.save(app)
        await uow.commit()
    return app


HANDLERS = handlers_by_annotation(
    handle_application_submitted,
    handle_document_uploaded,
    handle_application_withdrawn,
    handle_phase_started,
    handle_clock_advanced,
    handle_complementary_round_opened,
    handle_complementary_round_closed,
    handle_calendar_changed,
    handle_erasure_requested,
)
