"""Selection's handlers (events) and commands (staff API). Event handlers never commit:
the consumer commits with the inbox mark. Commands commit their own unit of work.
The candidates and the level's places decide and record the events; a handler loads
them, calls their steps and saves them, and the unit of work publishes their events."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ifuno_shared.calendar import default_calendar
from ifuno_shared.errors import NotFound
from ifuno_shared.events import CloudEvent, Level, Phase, Round, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_shared.messaging.subscription import handlers_by_annotation

from ifuno_selection.domain.candidate import Candidate, Status, WrongStep
from ifuno_selection.domain.places import NoOpenOffer
from ifuno_selection.domain.rules import SLOT, Ranked, choose_slot, committee, interview_slots
from ifuno_selection.service_layer.unit_of_work import SelectionUnitOfWork

log = logging.getLogger(__name__)

COMMITTEES = {Phase.MAIN_COMMITTEE: Round.MAIN, Phase.COMPLEMENTARY_COMMITTEE: Round.COMPLEMENTARY}
INTERVIEWS = {
    Round.MAIN: Phase.MAIN_INTERVIEWS,
    Round.COMPLEMENTARY: Phase.COMPLEMENTARY_INTERVIEWS,
}


class UnknownApplication(NotFound):
    """An application this service never received (a staff request answers 404)."""


async def _now(uow: SelectionUnitOfWork, fallback: datetime) -> datetime:
    """The platform's clock; an event's own time before the first tick."""
    return await uow.clock.now() or fallback


async def _load(uow: SelectionUnitOfWork, application_id: str, lock: bool = False) -> Candidate:
    who = await uow.candidates.get(application_id, lock=lock)
    if who is None:
        raise UnknownApplication(f"no application {application_id}")
    return who


async def handle_received(
    event: CloudEvent[c.ApplicationReceived], uow: SelectionUnitOfWork
) -> None:
    data = event.data
    uow.candidates.add(
        Candidate.received(
            data.application_id, data.campaign, data.level, data.round, data.eligibility.eligible
        )
    )


async def handle_completed(
    event: CloudEvent[c.ApplicationCompleted], uow: SelectionUnitOfWork
) -> None:
    data = event.data
    who = await _load(uow, data.application_id)
    eligible = None if data.eligibility is None else data.eligibility.eligible
    if who.complete(data.completed_at or event.time, eligible):
        await uow.candidates.save(who)


async def handle_eligibility_overridden(
    event: CloudEvent[c.EligibilityOverridden], uow: SelectionUnitOfWork
) -> None:
    who = await _load(uow, event.data.application_id)
    who.override_eligibility(event.data.eligibility.eligible)
    await uow.candidates.save(who)


async def handle_candidature_refused(
    event: CloudEvent[c.ApplicationRefused], uow: SelectionUnitOfWork
) -> None:
    who = await uow.candidates.get(event.data.application_id)
    if who is not None and who.close(event.data.reason):
        await uow.candidates.save(who)


async def handle_withdrawn(
    event: CloudEvent[c.ApplicationWithdrawn | portal.ApplicationWithdrawn],
    uow: SelectionUnitOfWork,
) -> None:
    """From the portal or candidature: a held place or waitlist place is freed at once."""
    who = await uow.candidates.get(event.data.application_id)
    if who is None:
        return
    if who.holds_place:
        places = await uow.places.level(who.campaign, who.level)
        if places.withdraw(who.application_id, await _now(uow, event.time)):
            await uow.places.save(places)
    elif who.withdraw():
        await uow.candidates.save(who)


async def handle_offer_answered(
    event: CloudEvent[portal.OfferAnswered], uow: SelectionUnitOfWork
) -> None:
    data = event.data
    who = await _load(uow, data.application_id)
    places = await uow.places.level(who.campaign, who.level)
    try:
        if data.answer == "accept":
            places.accept(who.application_id)
        else:
            places.decline(who.application_id, await _now(uow, event.time))
    except NoOpenOffer:
        log.info(
            "answer for %s without a pending offer (%s): ignored", who.application_id, who.status
        )
        return
    await uow.places.save(places)


async def handle_phase_started(event: CloudEvent[PhaseStarted], uow: SelectionUnitOfWork) -> None:
    data = event.data
    if not await uow.clock.record_phase(data):
        return
    # Phases are announced before the clock's tick of the same move: the decision
    # happens at the phase's start at the earliest.
    now = max(await _now(uow, data.starts_at), data.starts_at)
    if data.phase in COMMITTEES:
        for level in Level:
            await _run_committee(uow, data.campaign, level, COMMITTEES[data.phase], now)
    elif data.phase is Phase.COMPLEMENTARY_SUBMISSIONS_OPEN:
        for level in Level:
            places = await uow.places.level(data.campaign, level)
            if places.open_complementary_round():
                await uow.places.save(places)


async def _run_committee(
    uow: SelectionUnitOfWork, campaign: int, level: Level, round_: Round, now: datetime
) -> None:
    """Rank the interviewed files of the round; admit within the free places, waitlist,
    refuse. Ineligible files never overridden are refused; files never reviewed or
    interviewed stay where they are for staff to finish (they show in the staff API)."""
    places = await uow.places.level(campaign, level)
    candidates = await uow.candidates.for_committee(campaign, level, round_)
    for who in candidates:
        if who.status is Status.IN_REVIEW and not who.eligible:
            who.refuse("ineligible")
            await uow.candidates.save(who)
    interviewed = {w.application_id: w for w in candidates if w.status is Status.INTERVIEWED}
    ranked = [
        Ranked(w.application_id, w.total, w.completed_at or now) for w in interviewed.values()
    ]
    decision = committee(ranked, places.free_places, uow.settings.thresholds)
    for refused in decision.refused:
        who = interviewed[refused.application_id]
        who.refuse("below_admission_threshold")
        await uow.candidates.save(who)
    for admitted in decision.admitted:
        places.offer(admitted.application_id, now, round_=round_, total=admitted.total)
    places.add_to_waitlist([w.application_id for w in decision.waitlisted])
    await uow.places.save(places)


async def handle_clock_advanced(event: CloudEvent[ClockAdvanced], uow: SelectionUnitOfWork) -> None:
    """Offers whose deadline minute has passed expire; each frees a place at once."""
    data = event.data
    previous = await uow.clock.advance(data)
    if previous is not None and previous >= data.now:
        return
    levels = sorted(
        {(campaign, level) for campaign, level, _ in await uow.candidates.expiring(data.now)}
    )
    await uow.places.prefetch(levels)  # every level locked at once, in a stable order
    for campaign, level in levels:
        places = await uow.places.level(campaign, level)  # decided under the level lock
        if places.expire_due(data.now):
            await uow.places.save(places)


async def file_review(
    uow: SelectionUnitOfWork,
    application_id: str,
    reviewer: str,
    scores: dict[str, int],
    by_video: bool,
    at: datetime,
) -> Candidate:
    """A reviewer's scores; once enough reviewers scored, shortlist (and invite) or refuse."""
    settings = uow.settings
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.check_reviewable()  # before the review is stored
        reviews = await uow.candidates.add_review(application_id, reviewer, scores, at)
        who.review(reviews, by_video, settings.reviews_required, settings.thresholds.shortlist)
        if who.status is Status.SHORTLISTED:
            await _invite(uow, who, await _now(uow, at))
        await uow.candidates.save(who)
        await uow.commit()
    return who


async def _invite(uow: SelectionUnitOfWork, who: Candidate, now: datetime) -> None:
    """The first free 30-minute slot at least a week ahead, booked without double booking."""
    settings = uow.settings
    window = await uow.clock.phase_window(who.campaign, INTERVIEWS[who.round])
    if window is None:
        window = default_calendar(who.campaign).interview_window(who.round)
    slots = interview_slots(*window, settings.interview_day_start, settings.interview_day_end)
    notice = timedelta(days=settings.interview_notice_days)
    taken = await uow.candidates.taken_slots()
    while (start := choose_slot(slots, taken, now, notice)) is not None:
        video = (
            f"{settings.video_base_url}/{who.application_id}" if who.interview_by_video else None
        )
        location = None if video else settings.interview_location
        if await uow.candidates.book_slot(who.application_id, start, start + SLOT, location, video):
            who.schedule_interview(start, start + SLOT, location, video)
            return
        taken.add(start)
    raise WrongStep("no interview slot left in the interview window")


async def interview_result(
    uow: SelectionUnitOfWork, application_id: str, attended: bool, score: float | None
) -> Candidate:
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.record_interview(attended, score)
        await uow.candidates.save(who)
        await uow.commit()
    return who


HANDLERS = handlers_by_annotation(
    handle_received,
    handle_completed,
    handle_eligibility_overridden,
    handle_candidature_refused,
    handle_withdrawn,
    handle_offer_answered,
    handle_phase_started,
    handle_clock_advanced,
)
