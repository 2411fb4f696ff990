"""Selection's handlers (events) and commands (staff API). Event handlers never commit:
the consumer commits with the inbox mark. Commands commit their own unit of work."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ifuno_shared.calendar import default_calendar
from ifuno_shared.errors import NotFound
from ifuno_shared.events import CloudEvent, Level, Phase, Round, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted

from ifuno_selection.domain.candidate import FINAL, Candidate, Status, WrongStep
from ifuno_selection.domain.places import LevelPlaces, NoOpenOffer
from ifuno_selection.domain.rules import (
    SLOT,
    Ranked,
    choose_slot,
    committee,
    file_score,
    interview_slots,
)
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


def _publish(uow: SelectionUnitOfWork, places: LevelPlaces) -> None:
    for data in places.events:
        subject = getattr(data, "application_id", str(places.campaign))
        uow.publish(data, subject=subject)
    places.events.clear()


async def _load(uow: SelectionUnitOfWork, application_id: str, lock: bool = False) -> Candidate:
    who = await uow.candidates.get(application_id, lock=lock)
    if who is None:
        raise UnknownApplication(f"no application {application_id}")
    return who


async def handle_received(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, c.ApplicationReceived)
    uow.candidates.add(
        Candidate(
            application_id=data.application_id,
            campaign=data.campaign,
            level=data.level,
            round=data.round,
            status=Status.RECEIVED,
            eligible=data.eligibility.eligible,
        )
    )


async def handle_completed(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, c.ApplicationCompleted)
    who = await _load(uow, data.application_id)
    if who.status is Status.RECEIVED:
        who.status = Status.IN_REVIEW
        who.completed_at = data.completed_at or event.time
        if data.eligibility is not None:
            who.eligible = data.eligibility.eligible
        await uow.candidates.save(who)


async def handle_eligibility_overridden(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, c.EligibilityOverridden)
    who = await _load(uow, data.application_id)
    who.eligible = data.eligibility.eligible
    await uow.candidates.save(who)


async def handle_candidature_refused(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, c.ApplicationRefused)
    who = await uow.candidates.get(data.application_id)
    if who is not None and who.status not in FINAL:
        who.status, who.refusal_reason = Status.CLOSED, data.reason
        await uow.candidates.save(who)


async def handle_withdrawn(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    """From the portal or candidature: a held place or waitlist place is freed at once."""
    data = event.data
    assert isinstance(data, c.ApplicationWithdrawn | portal.ApplicationWithdrawn)
    who = await uow.candidates.get(data.application_id)
    if who is None or who.status in FINAL:
        return
    if who.status in (Status.OFFERED, Status.ACCEPTED, Status.WAITLISTED):
        places = await uow.candidates.places(who.campaign, who.level)
        places.withdraw(who.application_id, await _now(uow, event.time))
        await uow.candidates.save_places(places)
        _publish(uow, places)
    else:
        who.status = Status.WITHDRAWN
        await uow.candidates.save(who)


async def handle_offer_answered(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, portal.OfferAnswered)
    who = await _load(uow, data.application_id)
    places = await uow.candidates.places(who.campaign, who.level)
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
    await uow.candidates.save_places(places)
    _publish(uow, places)


async def handle_phase_started(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    data = event.data
    assert isinstance(data, PhaseStarted)
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
            places = await uow.candidates.places(data.campaign, level)
            if places.free_places > 0 and not places.waitlist:
                uow.publish(
                    s.ComplementaryRoundOpened(
                        campaign=data.campaign, level=level, free_places=places.free_places
                    ),
                    subject=str(data.campaign),
                )


async def _run_committee(
    uow: SelectionUnitOfWork, campaign: int, level: Level, round_: Round, now: datetime
) -> None:
    """Rank the interviewed files of the round; admit within the free places, waitlist,
    refuse. Ineligible files never overridden are refused; files never reviewed or
    interviewed stay where they are for staff to finish (they show in the staff API)."""
    places = await uow.candidates.places(campaign, level)
    candidates = await uow.candidates.for_committee(campaign, level, round_)
    for who in candidates:
        if who.status is Status.IN_REVIEW and not who.eligible:
            who.status, who.refusal_reason = Status.REFUSED, "ineligible"
            await uow.candidates.save(who)
            uow.publish(
                s.Refused(application_id=who.application_id, reason="ineligible", level=level),
                subject=who.application_id,
            )
    interviewed = {w.application_id: w for w in candidates if w.status is Status.INTERVIEWED}
    ranked = [
        Ranked(w.application_id, w.total, w.completed_at or now) for w in interviewed.values()
    ]
    decision = committee(ranked, places.free_places, uow.settings.thresholds)
    for admitted in decision.admitted:
        places.offer(admitted.application_id, now, round_=round_, total=admitted.total)
    places.add_to_waitlist([w.application_id for w in decision.waitlisted])
    await uow.candidates.save_places(places)
    _publish(uow, places)
    for refused in decision.refused:
        who = interviewed[refused.application_id]
        who.status, who.refusal_reason = Status.REFUSED, "below_admission_threshold"
        await uow.candidates.save(who)
        uow.publish(
            s.Refused(application_id=who.application_id, reason=who.refusal_reason, level=level),
            subject=who.application_id,
        )


async def handle_clock_advanced(event: CloudEvent, uow: SelectionUnitOfWork) -> None:
    """Offers whose deadline minute has passed expire; each frees a place at once."""
    data = event.data
    assert isinstance(data, ClockAdvanced)
    previous = await uow.clock.advance(data)
    if previous is not None and previous >= data.now:
        return
    levels = {(campaign, level) for campaign, level, _ in await uow.candidates.expiring(data.now)}
    for campaign, level in sorted(levels):
        places = await uow.candidates.places(campaign, level)  # decided under the level lock
        places.expire_due(data.now)
        await uow.candidates.save_places(places)
        _publish(uow, places)


async def file_review(
    uow: SelectionUnitOfWork,
    application_id: str,
    reviewer: str,
    scores: dict[str, int],
    by_video: bool,
    at: datetime,
) -> Candidate:
    """A reviewer's scores; once enough reviewers scored, shortlist (and invite) or refuse."""
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.check_reviewable()
        reviews = await uow.candidates.add_review(application_id, reviewer, scores, at)
        who.file_score = file_score(reviews)
        who.interview_by_video = who.interview_by_video or by_video
        if len(reviews) >= uow.settings.reviews_required:
            if who.file_score >= uow.settings.thresholds.shortlist:
                who.status = Status.SHORTLISTED
                uow.publish(
                    s.Shortlisted(
                        application_id=application_id, level=who.level, file_score=who.file_score
                    ),
                    subject=application_id,
                )
                await _invite(uow, who, await _now(uow, at))
            else:
                who.status, who.refusal_reason = Status.REFUSED, "below_shortlist_threshold"
                uow.publish(
                    s.Refused(
                        application_id=application_id, reason=who.refusal_reason, level=who.level
                    ),
                    subject=application_id,
                )
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
            uow.publish(
                s.InterviewScheduled(
                    application_id=who.application_id,
                    starts_at=start,
                    ends_at=start + SLOT,
                    location=location,
                    video_url=video,
                    level=who.level,
                ),
                subject=who.application_id,
            )
            return
        taken.add(start)
    raise WrongStep("no interview slot left in the interview window")


async def interview_result(
    uow: SelectionUnitOfWork, application_id: str, attended: bool, score: float | None
) -> Candidate:
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.check_interviewable()
        if attended:
            if score is None:
                raise WrongStep("an attended interview needs a score")
            who.status, who.interview_score = Status.INTERVIEWED, score
        else:
            who.status, who.refusal_reason = Status.REFUSED, "absent_from_interview"
        uow.publish(
            s.InterviewRecorded(
                application_id=application_id, attended=attended, score=score, level=who.level
            ),
            subject=application_id,
        )
        if not attended:
            uow.publish(
                s.Refused(
                    application_id=application_id, reason="absent_from_interview", level=who.level
                ),
                subject=application_id,
            )
        await uow.candidates.save(who)
        await uow.commit()
    return who


HANDLERS = {
    c.ApplicationReceived: handle_received,
    c.ApplicationCompleted: handle_completed,
    c.EligibilityOverridden: handle_eligibility_overridden,
    c.ApplicationRefused: handle_candidature_refused,
    c.ApplicationWithdrawn: handle_withdrawn,
    portal.ApplicationWithdrawn: handle_withdrawn,
    portal.OfferAnswered: handle_offer_answered,
    PhaseStarted: handle_phase_started,
    ClockAdvanced: handle_clock_advanced,
}
