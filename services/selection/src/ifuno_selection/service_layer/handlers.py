"""Selection's handlers (events) and commands (staff API). Event handlers never commit:
the consumer commits with the inbox mark. Commands commit their own unit of work.
The candidates and the level's places decide and record the events; a handler loads
them, calls their steps and saves them, and the unit of work publishes their events."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ifuno_shared.errors import NotFound
from ifuno_shared.events import CloudEvent, Level, Phase, Round, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events.selection import ErasureConfirmed
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted
from ifuno_shared.messaging.subscription import handlers_by_annotation
from ifuno_shared.retention import campaigns_past_retention

from ifuno_selection.domain.candidate import Candidate, Status, WrongStep
from ifuno_selection.domain.places import LateAnswer, NoOpenOffer
from ifuno_selection.domain.rules import (
    SLOT,
    Ranked,
    choose_slot,
    committee,
    interview_slots,
    short_notice,
)
from ifuno_selection.domain.season import phase_start
from ifuno_selection.service_layer.unit_of_work import SelectionUnitOfWork

log = logging.getLogger(__name__)

COMMITTEES = {Phase.MAIN_COMMITTEE: Round.MAIN, Phase.COMPLEMENTARY_COMMITTEE: Round.COMPLEMENTARY}
PHASE_WORK = (
    Phase.MAIN_COMMITTEE,
    Phase.COMPLEMENTARY_SUBMISSIONS_OPEN,
    Phase.COMPLEMENTARY_COMMITTEE,
    Phase.ACADEMIC_YEAR_START,
)
"""The phases whose start sets work going here, each done once per campaign."""


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


async def handle_application_erased(
    event: CloudEvent[c.ApplicationErased], uow: SelectionUnitOfWork
) -> None:
    """The candidate's data erased: a held place or pending offer is freed as on a
    withdrawal (the next on the waitlist is offered it), then the file's scores, staff
    notes and interview slot go; its status stays, for the counts."""
    application_id = event.data.application_id
    who = await uow.candidates.get(application_id)
    if who is not None:
        if who.holds_place:
            places = await uow.places.level(who.campaign, who.level)
            if places.withdraw(who.application_id, await _now(uow, event.time)):
                await uow.places.save(places)
        elif who.withdraw():
            await uow.candidates.save(who)
        await uow.candidates.anonymize([application_id])
    uow.publish(ErasureConfirmed(application_id=application_id), subject=application_id)


async def handle_offer_answered(
    event: CloudEvent[portal.OfferAnswered], uow: SelectionUnitOfWork
) -> None:
    """The candidate's own time decides (`answered_at`, else the event's time): an answer
    at or before the deadline minute counts, however late it is read. An on-time
    acceptance read after the offer expired takes a place still free, or goes first on
    the waitlist."""
    data = event.data
    who = await _load(uow, data.application_id)
    answered_at = data.answered_at or event.time
    places = await uow.places.level(who.campaign, who.level)  # decided under the lock
    now = await _now(uow, event.time)
    try:
        if data.answer == "decline":
            places.decline(who.application_id, answered_at, now)
        elif who.application_id in places.seats:
            places.accept(who.application_id, answered_at)
        else:
            who = await uow.candidates.fresh(who.application_id)  # as the lock holder left it
            if who is None or who.status is not Status.EXPIRED or who.offer_deadline is None:
                raise NoOpenOffer(f"no offer to accept for {data.application_id}")
            places.accept_late(who.application_id, who.offer_deadline, answered_at, now)
    except (NoOpenOffer, LateAnswer) as ignored:
        log.info("answer for %s ignored: %s", data.application_id, type(ignored).__name__)
        return
    await uow.places.save(places)


async def handle_two_year_plan_requested(
    event: CloudEvent[portal.TwoYearPlanRequested], uow: SelectionUnitOfWork
) -> None:
    """An accepted M2 candidate's two-year plan is recorded (capacity unchanged); any
    other request is ignored."""
    application_id = event.data.application_id
    who = await uow.candidates.get(application_id)
    if who is not None:
        places = await uow.places.level(who.campaign, who.level)  # the place, under the lock
        if places.record_two_year_plan(application_id):
            await uow.places.save(places)
            return
    log.info("two-year plan request for %s ignored: no accepted M2 place", application_id)


async def handle_calendar_changed(
    event: CloudEvent[CalendarChanged], uow: SelectionUnitOfWork
) -> None:
    """The timeline's calendar from now on: interview windows, committees, the
    complementary window, the academic year (the clock runs each phase's work at its
    start in this calendar)."""
    campaign = event.data.campaign
    await uow.calendars.announce(campaign, event.data.phases)
    await uow.places.refresh(campaign)


async def handle_phase_started(event: CloudEvent[PhaseStarted], uow: SelectionUnitOfWork) -> None:
    data = event.data
    if await uow.clock.record_phase(data):
        uow.calendars.forget(data.campaign)  # the phases announced so far, before a calendar
        await uow.places.refresh(data.campaign)
    if data.phase not in PHASE_WORK:
        return
    # Phases are announced before the clock's tick of the same move: the decision
    # happens at the phase's start at the earliest. With an announced calendar, a phase
    # the clock has not reached yet is the tick's to run, in time order with the
    # deadlines the same move passes (an offer expiring before the academic year
    # starts frees its place for the waitlist before the waitlist closes).
    clock = await uow.clock.now()
    now = max(clock or data.starts_at, data.starts_at)
    announced = await uow.calendars.announced(data.campaign)
    if announced is not None and phase_start(announced, data.phase) > (clock or now):
        return  # the clock will run it, at its start in the announced calendar
    await _run_phase(uow, data.campaign, data.phase, now)


async def handle_clock_advanced(event: CloudEvent[ClockAdvanced], uow: SelectionUnitOfWork) -> None:
    """The deadline work whose instant this move passed, in time order and each at its
    own instant, as a real clock's ticks would do it: phases of the announced calendar
    whose start has come run their work; offers overdue (deadline minute and grace
    passed) expire, each freeing a place at once (a promotion's deadline counts from
    the expiry, and the promoted offer expires in the same move if its due instant is
    passed too)."""
    data = event.data
    previous = await uow.clock.advance(data)
    if previous is not None and previous >= data.now:
        return
    await _anonymize_past_retention(uow, data.now)
    phases = await _phases_due(uow, data.campaign, previous, data.now)
    grace = timedelta(minutes=uow.settings.grace_minutes)
    levels = sorted(
        {(campaign, level) for campaign, level, _ in await uow.candidates.expiring(data.now, grace)}
    )
    await uow.places.prefetch(levels)  # every level locked at once, in a stable order
    floor = data.now if previous is None else previous  # what was due before: at once
    while True:
        expiry = await _next_expiry(uow, levels, floor, data.now)
        if phases and (expiry is None or phases[0][0] <= expiry):
            at, phase = phases.pop(0)
            if await _run_phase(uow, data.campaign, phase, at):
                levels = sorted({*levels, *((data.campaign, level) for level in Level)})
        elif expiry is not None:
            for campaign, level in levels:
                places = await uow.places.level(campaign, level)  # under the level lock
                if places.expire_due(expiry):
                    await uow.places.save(places)
        else:
            return


async def _phases_due(
    uow: SelectionUnitOfWork, campaign: int, previous: datetime | None, now: datetime
) -> list[tuple[datetime, Phase]]:
    """The phases of the announced calendar started by `now`, each with the instant its
    work is dated: its start if it falls in this move, else `now` (it was missed)."""
    announced = await uow.calendars.announced(campaign)
    if announced is None:
        return []
    due = []
    for phase in PHASE_WORK:
        starts_at = phase_start(announced, phase)
        if starts_at <= now:
            due.append((starts_at if previous is not None and previous < starts_at else now, phase))
    return sorted(due, key=lambda item: item[0])  # ties in the order of PHASE_WORK


async def _next_expiry(
    uow: SelectionUnitOfWork, levels: list[tuple[int, Level]], floor: datetime, now: datetime
) -> datetime | None:
    """The first instant in (floor, now] at which a pending offer of these levels
    expires (`floor` for one overdue before it)."""
    due = []
    for campaign, level in levels:
        expires_at = (await uow.places.level(campaign, level)).next_expiry()
        if expires_at is not None and expires_at <= now:
            due.append(max(expires_at, floor))
    return min(due, default=None)


async def _anonymize_past_retention(uow: SelectionUnitOfWork, now: datetime) -> None:
    """A campaign past its keeping time keeps its counts, not its scores."""
    campaigns = await uow.candidates.campaigns_up_to(now.year - 1)
    for campaign in campaigns_past_retention(campaigns, now, uow.settings.retention_until):
        await uow.candidates.anonymize_campaign(campaign)


async def _run_phase(uow: SelectionUnitOfWork, campaign: int, phase: Phase, at: datetime) -> bool:
    """The phase's work for every level, once per campaign; False if it was done before."""
    if not await uow.calendars.claim_phase(campaign, phase, at):
        return False
    for level in Level:
        if phase in COMMITTEES:
            await _run_committee(uow, campaign, level, COMMITTEES[phase], at)
            continue
        places = await uow.places.level(campaign, level)
        if phase is Phase.COMPLEMENTARY_SUBMISSIONS_OPEN:
            places.settle(at)  # free places and no one waiting: the round opens
        else:
            places.close_waitlist()  # the academic year starts
        await uow.places.save(places)
    return True


async def _run_committee(
    uow: SelectionUnitOfWork, campaign: int, level: Level, round_: Round, now: datetime
) -> None:
    """Rank the interviewed files of the round; admit within the free places, waitlist
    (places left empty go to the waitlist at once), refuse. No file is left undecided:
    one not reviewed or not interviewed in time is refused `not_ranked_in_time` (an
    ineligible one never overridden, `ineligible`); an interviewed file staff declared
    ineligible is refused `ineligible`, never ranked."""
    places = await uow.places.level(campaign, level)
    candidates = await uow.candidates.for_committee(campaign, level, round_)
    for who in candidates:
        if who.close_before_committee():
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
    places.add_to_waitlist([w.application_id for w in decision.waitlisted], now)
    await uow.places.save(places)


async def file_review(
    uow: SelectionUnitOfWork,
    application_id: str,
    reviewer: str,
    scores: dict[str, int],
    by_video: bool,
    at: datetime,
    note: str | None = None,
) -> Candidate:
    """A reviewer's scores (and note, stored with the review, in no event); once enough
    reviewers scored, shortlist (and invite) or refuse."""
    settings = uow.settings
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.check_reviewable()  # before the review is stored
        reviews = await uow.candidates.add_review(application_id, reviewer, scores, at, note)
        who.review(reviews, by_video, settings.reviews_required, settings.thresholds.shortlist)
        if who.status is Status.SHORTLISTED:
            await _invite(uow, who, await _now(uow, at))
        await uow.candidates.save(who)
        await uow.commit()
    return who


async def _invite(uow: SelectionUnitOfWork, who: Candidate, now: datetime) -> None:
    """The first free 30-minute slot of the round's interview window at least a week
    ahead, else the earliest free one (short notice, said in the invitation and shown
    to staff), booked without double booking."""
    settings = uow.settings
    calendar = await uow.calendars.calendar(who.campaign)
    window = calendar.interview_window(who.round)
    slots = interview_slots(*window, settings.interview_day_start, settings.interview_day_end)
    notice = timedelta(days=settings.interview_notice_days)
    taken = await uow.candidates.taken_slots()
    while (start := choose_slot(slots, taken, now, notice)) is not None:
        video = (
            f"{settings.video_base_url}/{who.application_id}" if who.interview_by_video else None
        )
        location = None if video else settings.interview_location
        given = short_notice(start, now, notice)
        if await uow.candidates.book_slot(
            who.application_id, start, start + SLOT, location, video, given
        ):
            who.schedule_interview(start, start + SLOT, location, video, given)
            return
        taken.add(start)
    raise WrongStep("no interview slot left in the interview window")


async def interview_result(
    uow: SelectionUnitOfWork,
    application_id: str,
    attended: bool,
    score: float | None,
    notes: str | None = None,
) -> Candidate:
    async with uow:
        who = await _load(uow, application_id, lock=True)
        who.record_interview(attended, score, notes)
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
    handle_two_year_plan_requested,
    handle_calendar_changed,
    handle_phase_started,
    handle_clock_advanced,
    handle_application_erased,
)
