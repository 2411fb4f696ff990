"""The handlers and the dispatcher on fakes: what each event records, when reminders
fall due, and how each kind of delivery failure is settled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ifuno_notification.adapters.repository import (
    AbstractNotificationRepository,
    Claim,
    OutgoingMessage,
    PendingMessage,
    Settlement,
)
from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    Begun,
    Email,
    PermanentFailure,
    ServerUnavailable,
    TransientFailure,
)
from ifuno_notification.domain.messages import Recipient
from ifuno_notification.service_layer.dispatcher import _lanes, dispatch_due
from ifuno_notification.service_layer.handlers import (
    handle_application_erased,
    handle_candidate_event,
    handle_clock_advanced,
    handle_contact_recorded,
)
from ifuno_notification.service_layer.unit_of_work import NotificationUnitOfWork
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.notification import ErasureConfirmed, NotificationFailed, NotificationSent
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_tools.testing.fakes import FakeRepository, FakeUnitOfWork

pytestmark = pytest.mark.unit

DEADLINE = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)
OFFER_DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
T0 = datetime(2027, 5, 1, 12, 0, tzinfo=UTC)


@dataclass
class StoredMessage:
    id: str
    outgoing: OutgoingMessage
    created_at: datetime
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = T0
    last_error: str | None = None
    claim: str | None = None
    expired: bool = False
    outcomes: list[str] = field(default_factory=list)


class FakeNotifications(FakeRepository[str, Recipient], AbstractNotificationRepository):
    """In memory (the kit's fake keeps the recipients); `now` is the wall clock the
    dispatcher's delays are measured on."""

    def __init__(self) -> None:
        super().__init__(lambda who: who.application_id)
        self.now = T0
        self.messages: list[StoredMessage] = []
        self.parked: list[tuple[str, CloudEvent]] = []
        self.erasures: set[str] = set()

    async def get_many(self, application_ids: Iterable[str]) -> list[Recipient]:
        return [who for key in application_ids if (who := await self.get(key)) is not None]

    async def add_message(self, outgoing: OutgoingMessage) -> None:
        key = (outgoing.cause_event_id, outgoing.application_id, outgoing.channel)
        if not any(
            (m.outgoing.cause_event_id, m.outgoing.application_id, m.outgoing.channel) == key
            and m.outgoing.template == outgoing.template
            for m in self.messages
        ):
            self.messages.append(
                StoredMessage(str(uuid.uuid4()), outgoing, self.now, next_attempt_at=self.now)
            )

    async def park(self, application_id: str, event: CloudEvent) -> None:
        self.parked.append((application_id, event))

    async def unpark(self, application_id: str) -> list[CloudEvent]:
        found = [e for a, e in self.parked if a == application_id]
        self.parked = [(a, e) for a, e in self.parked if a != application_id]
        return found

    async def claim_due(self, limit: int, lease: timedelta) -> Claim:
        token = str(uuid.uuid4())
        due = [
            m
            for m in self.messages
            if m.status in ("pending", "sending") and m.next_attempt_at <= self.now
        ][:limit]
        for stored in due:
            if stored.status == "sending":
                stored.attempts += 1
                stored.outcomes.append("interrupted")
            stored.status, stored.claim = "sending", token
            stored.next_attempt_at = self.now + lease
        return Claim(
            token,
            [PendingMessage(m.id, m.attempts, self.now - m.created_at, m.outgoing) for m in due],
        )

    def _find(self, message_id: str) -> StoredMessage:
        return next(m for m in self.messages if m.id == message_id)

    async def settle(self, claim: str, settlements: Sequence[Settlement]) -> list[str]:
        recorded = []
        for settlement in settlements:
            stored = self._find(settlement.message_id)
            if stored.claim != claim:
                continue
            stored.status, stored.claim = settlement.status, None
            if settlement.attempted:
                stored.attempts += 1
                stored.last_error = settlement.error
                stored.outcomes.append(
                    "retry" if settlement.status == "pending" else settlement.status
                )
            if settlement.status == "pending":
                stored.next_attempt_at = self.now + settlement.retry_in
            else:
                stored.expired = settlement.expired
            recorded.append(stored.id)
        return recorded

    async def requeue_failed(
        self, message_ids: Sequence[str] | None, channel: str | None
    ) -> list[str]:
        """As the SQL one: the named failed messages, or every expired one, due again."""
        requeued = [
            m
            for m in self.messages
            if m.status == "failed"
            and (m.id in message_ids if message_ids is not None else m.expired)
            and (channel is None or m.outgoing.channel == channel)
        ]
        for stored in requeued:
            stored.status, stored.expired, stored.next_attempt_at = "pending", False, self.now
        return [m.id for m in requeued]

    async def messages_of(self, application_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError("the HTTP endpoint is tested against PostgreSQL")

    async def incomplete_reminders_due(self, now: datetime) -> list[str]:
        return [a for a, who in self.stored.items() if who.incomplete_reminder_due(now)]

    async def offer_reminders_due(self, now: datetime) -> list[str]:
        return [a for a, who in self.stored.items() if who.offer_reminder_due(now)]

    async def erased(self, application_id: str) -> bool:
        return application_id in self.erasures

    async def erase(self, application_ids: Sequence[str]) -> list[str]:
        ids = set(application_ids)
        self.erasures |= ids
        gone = [m.id for m in self.messages if m.outgoing.application_id in ids]
        self.messages = [m for m in self.messages if m.outgoing.application_id not in ids]
        self.parked = [(a, e) for a, e in self.parked if a not in ids]
        for application_id in ids:
            self.stored.pop(application_id, None)
        return gone

    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        return sorted({who.campaign for who in self.stored.values() if who.campaign <= up_to})

    async def recipients_in(self, campaign: int, limit: int) -> list[str]:
        return sorted(a for a, who in self.stored.items() if who.campaign == campaign)[:limit]

    def recorded(self, application_id: str | None = None) -> list[tuple[str, str]]:
        """(template, channel) of the recorded messages, in order."""
        return [
            (m.outgoing.template, m.outgoing.channel)
            for m in self.messages
            if application_id in (None, m.outgoing.application_id)
        ]


class FakeNotificationUnitOfWork(FakeUnitOfWork, NotificationUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.notifications: FakeNotifications = FakeNotifications()
        self.repositories = [self.notifications]


@pytest.fixture
def uow() -> FakeNotificationUnitOfWork:
    return FakeNotificationUnitOfWork()


async def handle(uow: FakeNotificationUnitOfWork, event: CloudEvent) -> None:
    """As the consumer does it, without the inbox (so redelivery reaches the handler)."""
    async with uow:
        if isinstance(event.data, ClockAdvanced):
            await handle_clock_advanced(event, uow)
        elif isinstance(event.data, c.ContactRecorded):
            await handle_contact_recorded(event, uow)
        elif isinstance(event.data, c.ApplicationErased):
            await handle_application_erased(event, uow)
        else:
            await handle_candidate_event(event, uow)
        await uow.commit()


def contact(application_id: str, *, sms: bool) -> c.Contact:
    return c.Contact(
        candidate_id=f"C-{application_id}",
        first_name="Gaëlle",
        last_name="Noël",
        email=f"{application_id.lower()}@example.org",
        phone="+33600000000",
        sms_opt_in=sms,
    )


def received(
    application_id: str,
    *,
    sms: bool = False,
    complete: bool = False,
    submitted_at: datetime = T0,
    deadline: datetime = DEADLINE,
) -> CloudEvent:
    return new_event(
        c.ApplicationReceived(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M1",
            regime="alternance",
            missing_documents=[] if complete else ["cv"],
            eligibility=c.Eligibility(eligible=True),
            candidate=contact(application_id, sms=sms),
            submitted_at=submitted_at,
            submission_deadline=deadline,
            complete=complete,
        ),
        subject=application_id,
    )


def about(application_id: str, data: EventData) -> CloudEvent:
    return new_event(data, subject=application_id)


def tick(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


async def test_an_email_always_and_an_sms_only_for_a_candidate_who_opted_in(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", sms=True))
    await handle(uow, received("A-2", sms=False))
    assert uow.notifications.recorded("A-1") == [
        ("application_received", "email"),
        ("application_received", "sms"),
    ]
    assert uow.notifications.recorded("A-2") == [("application_received", "email")]


async def test_the_same_event_handled_twice_records_its_message_once(
    uow: FakeNotificationUnitOfWork,
) -> None:
    first = received("A-1")
    await handle(uow, first)
    await handle(uow, first)
    assert uow.notifications.recorded() == [("application_received", "email")]


async def test_an_event_read_before_the_contact_details_waits_for_them(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, about("A-1", s.Waitlisted(application_id="A-1", level="M1", rank=3)))
    assert uow.notifications.recorded() == []
    await handle(uow, received("A-1"))
    assert uow.notifications.recorded() == [
        ("application_received", "email"),
        ("waitlisted", "email"),
    ]
    assert uow.notifications.parked == []


async def test_a_late_application_is_told_from_the_refusal_alone(
    uow: FakeNotificationUnitOfWork,
) -> None:
    refused = c.ApplicationRefused(
        application_id="L-1",
        reason="campaign_closed",
        campaign=2027,
        level="M2",
        regime="formation_initiale",
        candidate=contact("L-1", sms=True),
    )
    await handle(uow, about("L-1", refused))
    assert uow.notifications.recorded() == [
        ("application_refused", "email"),
        ("application_refused", "sms"),
    ]
    assert uow.notifications.messages[0].outgoing.address == "l-1@example.org"


async def test_every_candidate_event_tells_the_candidate(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1"))
    path: list[EventData] = [
        c.ApplicationCompleted(application_id="A-1"),
        s.InterviewScheduled(
            application_id="A-1",
            starts_at=datetime(2027, 6, 3, 9, 30, tzinfo=PARIS),
            ends_at=datetime(2027, 6, 3, 10, 0, tzinfo=PARIS),
            location="Le Mans",
        ),
        s.Waitlisted(application_id="A-1", level="M1", rank=2),
        s.WaitlistRankChanged(application_id="A-1", level="M1", rank=1),
        s.Admitted(
            application_id="A-1", level="M1", offer_deadline=OFFER_DEADLINE, from_waitlist=True
        ),
        s.OfferExpired(application_id="A-1"),
        s.Admitted(
            application_id="A-1", level="M1", offer_deadline=OFFER_DEADLINE, from_waitlist=False
        ),
        s.OfferDeclined(application_id="A-1"),
        s.OfferAccepted(application_id="A-1"),
        s.Refused(application_id="A-1", reason="below_admission_threshold"),
        c.DocumentRejected(application_id="A-1", document_id="D", kind="cv", reason="fichier vide"),
        c.ApplicationWithdrawn(application_id="A-1"),
    ]
    for data in path:
        await handle(uow, about("A-1", data))
    assert [t for t, _ in uow.notifications.recorded()] == [
        "application_received",
        "application_completed",
        "interview_scheduled",
        "waitlisted",
        "waitlist_rank_changed",
        "promoted",
        "offer_expired",
        "admitted",
        "offer_declined",
        "offer_accepted",
        "selection_refused",
        "document_rejected",
        "application_withdrawn",
    ]


async def test_the_season_end_messages_each_once_per_event_and_channel(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", sms=True, complete=True))
    late = about("A-1", s.Waitlisted(application_id="A-1", level="M1", rank=1, late_answer=True))
    plan = about("A-1", s.TwoYearPlanRecorded(application_id="A-1", level="M2"))
    closed = about("A-1", s.WaitlistClosed(application_id="A-1", level="M1", campaign=2027))
    for event in (late, late, plan, plan, closed, closed):
        await handle(uow, event)
    assert uow.notifications.recorded("A-1")[2:] == [
        ("waitlisted", "email"),
        ("waitlisted", "sms"),
        ("two_year_plan_recorded", "email"),
        ("two_year_plan_recorded", "sms"),
        ("waitlist_closed", "email"),
        ("waitlist_closed", "sms"),
    ]
    late_sms = uow.notifications.messages[3].outgoing.body_text
    assert "après l'attribution de la place" in late_sms
    assert late_sms.endswith(" - SFC Le Mans Université")
    stored = uow.notifications.stored["A-1"]
    assert stored.closed and not stored.offer_open


async def test_an_unusable_phone_gets_no_sms(uow: FakeNotificationUnitOfWork) -> None:
    event = received("A-1", sms=True)
    assert isinstance(event.data, c.ApplicationReceived) and event.data.candidate is not None
    unusable = event.data.candidate.model_copy(update={"phone": None, "phone_unusable": True})
    await handle(uow, about("A-1", event.data.model_copy(update={"candidate": unusable})))
    assert uow.notifications.recorded() == [("application_received", "email")]


async def test_internal_selection_events_tell_the_candidate_nothing(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", complete=True))
    await handle(uow, about("A-1", s.PlaceReleased(application_id="A-1", level="M1")))
    assert uow.notifications.recorded() == [("application_received", "email")]


async def test_an_incomplete_file_is_reminded_once_three_days_before_the_deadline(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", sms=True))
    await handle(uow, received("A-2", complete=True))
    await handle(uow, tick(DEADLINE - timedelta(days=3, minutes=1)))
    assert ("incomplete_reminder", "email") not in uow.notifications.recorded()
    await handle(uow, tick(DEADLINE - timedelta(days=3)))
    await handle(uow, tick(DEADLINE - timedelta(days=1)))
    assert uow.notifications.recorded("A-1")[-2:] == [
        ("incomplete_reminder", "email"),
        ("incomplete_reminder", "sms"),
    ]
    assert [t for t, _ in uow.notifications.recorded()].count("incomplete_reminder") == 2
    assert uow.notifications.recorded("A-2") == [("application_received", "email")]


async def test_a_moved_deadline_is_told_to_an_incomplete_file_and_reminded_for_again(
    uow: FakeNotificationUnitOfWork,
) -> None:
    extended = DEADLINE + timedelta(days=7)
    await handle(uow, received("A-1"))
    await handle(uow, received("A-2", complete=True))
    await handle(uow, tick(DEADLINE - timedelta(days=2)))
    for application_id, complete in (("A-1", False), ("A-2", True)):
        moved = c.SubmissionDeadlineMoved(
            application_id=application_id,
            campaign=2027,
            round="main",
            submission_deadline=extended,
            complete=complete,
        )
        await handle(uow, about(application_id, moved))
    await handle(uow, tick(DEADLINE + timedelta(days=1)))
    await handle(uow, tick(extended - timedelta(days=3)))
    assert uow.notifications.recorded("A-1") == [
        ("application_received", "email"),
        ("incomplete_reminder", "email"),
        ("submission_deadline_moved", "email"),
        ("incomplete_reminder", "email"),
    ]
    assert uow.notifications.recorded("A-2") == [("application_received", "email")]


async def test_one_tick_reminds_every_file_that_falls_due(
    uow: FakeNotificationUnitOfWork,
) -> None:
    for application_id in ("A-1", "A-2", "A-3"):
        await handle(uow, received(application_id))
    await handle(uow, tick(DEADLINE - timedelta(days=2)))
    reminded = [m.outgoing.application_id for m in uow.notifications.messages]
    assert sorted(reminded[3:]) == ["A-1", "A-2", "A-3"]


async def test_a_file_read_after_the_tick_that_passed_its_due_instant_is_reminded_next_tick(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, tick(DEADLINE - timedelta(days=2)))
    await handle(uow, received("A-1", submitted_at=DEADLINE - timedelta(days=10)))
    await handle(uow, tick(DEADLINE - timedelta(days=2) + timedelta(minutes=1)))
    assert uow.notifications.recorded() == [
        ("application_received", "email"),
        ("incomplete_reminder", "email"),
    ]


async def test_a_file_sent_after_the_due_instant_is_not_reminded_it_was_just_told(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", submitted_at=DEADLINE - timedelta(days=1)))
    await handle(uow, tick(DEADLINE - timedelta(hours=12)))
    assert uow.notifications.recorded() == [("application_received", "email")]


async def test_a_completed_refused_or_withdrawn_file_is_not_reminded(
    uow: FakeNotificationUnitOfWork,
) -> None:
    for application_id in ("A-1", "A-2", "A-3"):
        await handle(uow, received(application_id))
    await handle(uow, about("A-1", c.ApplicationCompleted(application_id="A-1")))
    await handle(uow, about("A-2", c.ApplicationWithdrawn(application_id="A-2")))
    await handle(
        uow,
        about("A-3", c.ApplicationRefused(application_id="A-3", reason="duplicate_application")),
    )
    await handle(uow, tick(DEADLINE - timedelta(days=2)))
    assert "incomplete_reminder" not in [t for t, _ in uow.notifications.recorded()]


async def test_a_clock_jumping_past_the_deadline_sends_no_late_reminder(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1"))
    await handle(uow, tick(DEADLINE + timedelta(minutes=1)))
    assert uow.notifications.recorded() == [("application_received", "email")]


async def test_an_unanswered_offer_is_reminded_two_days_before_it_expires(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", complete=True))
    await handle(uow, received("A-2", complete=True))
    for application_id in ("A-1", "A-2"):
        admitted = s.Admitted(
            application_id=application_id,
            level="M1",
            offer_deadline=OFFER_DEADLINE,
            from_waitlist=False,
        )
        await handle(uow, about(application_id, admitted))
    await handle(uow, about("A-2", s.OfferAccepted(application_id="A-2")))
    await handle(uow, tick(OFFER_DEADLINE - timedelta(days=2, seconds=1)))
    assert ("offer_reminder", "email") not in uow.notifications.recorded()
    await handle(uow, tick(OFFER_DEADLINE - timedelta(days=1)))
    await handle(uow, tick(OFFER_DEADLINE - timedelta(hours=1)))
    assert uow.notifications.recorded("A-1")[-1] == ("offer_reminder", "email")
    assert [t for t, _ in uow.notifications.recorded()].count("offer_reminder") == 1


async def test_an_offer_read_after_the_withdrawal_is_neither_told_nor_reminded(
    uow: FakeNotificationUnitOfWork,
) -> None:
    """The withdrawal (candidature's topic) may be read before the admission (selection's):
    the candidate was told the withdrawal is recorded, not then that a place is theirs."""
    await handle(uow, received("A-1", complete=True))
    await handle(uow, about("A-1", c.ApplicationWithdrawn(application_id="A-1")))
    admitted = s.Admitted(
        application_id="A-1", level="M1", offer_deadline=OFFER_DEADLINE, from_waitlist=False
    )
    await handle(uow, about("A-1", admitted))
    rank = s.WaitlistRankChanged(application_id="A-1", level="M1", rank=1, previous_rank=2)
    await handle(uow, about("A-1", rank))
    await handle(uow, tick(OFFER_DEADLINE - timedelta(days=1)))
    assert uow.notifications.recorded() == [
        ("application_received", "email"),
        ("application_withdrawn", "email"),
    ]


async def test_an_offer_made_less_than_two_days_before_its_deadline_is_not_reminded(
    uow: FakeNotificationUnitOfWork,
) -> None:
    """A late promotion on Saturday 4 September, its deadline capped at Sunday 23:59."""
    late_deadline = datetime(2027, 9, 5, 23, 59, tzinfo=PARIS)
    await handle(uow, tick(datetime(2027, 9, 4, 11, 0, tzinfo=PARIS)))
    await handle(uow, received("A-1", complete=True))
    promoted = s.Admitted(
        application_id="A-1", level="M1", offer_deadline=late_deadline, from_waitlist=True
    )
    await handle(uow, about("A-1", promoted))
    await handle(uow, tick(datetime(2027, 9, 4, 12, 1, tzinfo=PARIS)))
    await handle(uow, tick(late_deadline - timedelta(hours=1)))
    assert uow.notifications.recorded("A-1") == [
        ("application_received", "email"),
        ("promoted", "email"),
    ]


async def test_a_new_offer_after_an_expiry_is_reminded_again(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, received("A-1", complete=True))
    first = s.Admitted(
        application_id="A-1", level="M1", offer_deadline=OFFER_DEADLINE, from_waitlist=False
    )
    await handle(uow, about("A-1", first))
    await handle(uow, tick(OFFER_DEADLINE - timedelta(days=1)))
    await handle(uow, about("A-1", s.OfferExpired(application_id="A-1")))
    second_deadline = OFFER_DEADLINE + timedelta(days=10)
    again = s.Admitted(
        application_id="A-1", level="M1", offer_deadline=second_deadline, from_waitlist=True
    )
    await handle(uow, about("A-1", again))
    await handle(uow, tick(second_deadline - timedelta(days=1)))
    assert [t for t, _ in uow.notifications.recorded()].count("offer_reminder") == 2


async def test_a_repeated_tick_reminds_no_one_twice(uow: FakeNotificationUnitOfWork) -> None:
    await handle(uow, received("A-1"))
    repeated = tick(DEADLINE - timedelta(days=2))
    await handle(uow, repeated)
    await handle(uow, tick(DEADLINE - timedelta(days=2)))
    assert [t for t, _ in uow.notifications.recorded()].count("incomplete_reminder") == 1


# The dispatcher.


class ScriptedEmail(AbstractEmailSender):
    """Fails for the addresses it is told to, with the failure it is told to."""

    def __init__(self) -> None:
        self.sent: list[Email] = []
        self.tried: list[str] = []
        self.failures: dict[str, Exception] = {}

    async def send(self, email: Email) -> None:
        self.tried.append(email.to)
        failure = self.failures.get(email.to)
        if failure is not None:
            raise failure
        self.sent.append(email)


class ScriptedSms(AbstractSmsSender):
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, message_id: str, to: str, text: str) -> None:
        self.sent.append((message_id, to, text))


@pytest.fixture
def email() -> ScriptedEmail:
    return ScriptedEmail()


@pytest.fixture
def sms() -> ScriptedSms:
    return ScriptedSms()


async def dispatch(
    uow: FakeNotificationUnitOfWork,
    email: ScriptedEmail,
    sms: ScriptedSms,
    retry_for: timedelta = timedelta(hours=24),
) -> int:
    return await dispatch_due(lambda: uow, email, sms, retry_for=retry_for)


def published(uow: FakeNotificationUnitOfWork) -> list[EventData]:
    return [e.data for e in uow.committed_events]


async def test_a_sent_message_is_marked_and_announced_with_its_cause(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    cause = received("A-1", sms=True)
    await handle(uow, cause)
    assert await dispatch(uow, email, sms) == 2
    stored = uow.notifications.messages
    assert [m.status for m in stored] == ["sent", "sent"]
    assert email.sent[0].message_id == stored[0].id
    assert sms.sent[0][0] == stored[1].id
    assert published(uow) == [
        NotificationSent(
            application_id="A-1",
            channel="email",
            template="application_received",
            cause_event_id=cause.id,
        ),
        NotificationSent(
            application_id="A-1",
            channel="sms",
            template="application_received",
            cause_event_id=cause.id,
        ),
    ]
    assert await dispatch(uow, email, sms) == 0
    assert len(email.sent) == 1


async def test_a_refused_address_fails_at_once_and_the_others_are_sent(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    await handle(uow, received("A-1"))
    await handle(uow, received("A-2"))
    email.failures["a-1@example.org"] = PermanentFailure("recipient refused (550)")
    await dispatch(uow, email, sms)
    assert [m.status for m in uow.notifications.messages] == ["failed", "sent"]
    failed = published(uow)[0]
    assert isinstance(failed, NotificationFailed)
    assert (failed.application_id, failed.error) == ("A-1", "recipient refused (550)")
    assert [e.to for e in email.sent] == ["a-2@example.org"]


async def test_a_transient_failure_is_retried_with_growing_delays(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    await handle(uow, received("A-1"))
    email.failures["a-1@example.org"] = TransientFailure("recipient refused (451)")
    repository = uow.notifications
    stored = repository.messages[0]
    delays = []
    for _ in range(4):
        repository.now = stored.next_attempt_at
        await dispatch(uow, email, sms)
        delays.append(stored.next_attempt_at - repository.now)
    assert delays == [timedelta(seconds=n) for n in (1, 2, 4, 8)]
    assert (stored.status, stored.attempts, stored.outcomes) == ("pending", 4, ["retry"] * 4)
    assert await dispatch(uow, email, sms) == 0  # not due yet
    del email.failures["a-1@example.org"]
    repository.now = stored.next_attempt_at
    await dispatch(uow, email, sms)
    assert (stored.status, stored.outcomes[-1]) == ("sent", "sent")
    assert [type(d) for d in published(uow)] == [NotificationSent]


async def test_a_transient_failure_past_the_retry_period_is_recorded_as_failed(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    await handle(uow, received("A-1"))
    email.failures["a-1@example.org"] = TransientFailure("recipient refused (452)")
    repository = uow.notifications
    await dispatch(uow, email, sms, retry_for=timedelta(hours=1))
    repository.now += timedelta(hours=1)
    await dispatch(uow, email, sms, retry_for=timedelta(hours=1))
    stored = repository.messages[0]
    assert (stored.status, stored.outcomes) == ("failed", ["retry", "failed"])
    failed = published(uow)[0]
    assert isinstance(failed, NotificationFailed)
    assert failed.error == "recipient refused (452) (after 2 attempts)"


async def test_a_server_down_is_tried_once_per_batch_and_the_other_channel_goes_on(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    for application_id in ("A-1", "A-2", "A-3"):
        await handle(uow, received(application_id, sms=True))
    down = ServerUnavailable("SMTP unreachable: SMTPConnectError")
    email.failures = dict.fromkeys(["a-1@example.org", "a-2@example.org", "a-3@example.org"], down)
    await dispatch(uow, email, sms)
    assert email.tried == ["a-1@example.org"]
    assert len(sms.sent) == 3
    emails = [m for m in uow.notifications.messages if m.outgoing.channel == "email"]
    assert [m.attempts for m in emails] == [1, 0, 0]
    assert {m.next_attempt_at for m in emails} == {T0 + timedelta(seconds=1)}
    email.failures = {}
    uow.notifications.now = T0 + timedelta(seconds=1)
    await dispatch(uow, email, sms)
    assert sorted(e.to for e in email.sent) == [
        "a-1@example.org",
        "a-2@example.org",
        "a-3@example.org",
    ]


async def test_a_stopping_dispatcher_records_what_it_sent_and_releases_the_rest_untried(
    uow: FakeNotificationUnitOfWork, email: ScriptedEmail, sms: ScriptedSms
) -> None:
    for application_id in ("A-1", "A-2", "A-3"):
        await handle(uow, received(application_id))
    stopping = asyncio.Event()

    class StoppedWhileSending(ScriptedEmail):
        async def send(self, email: Email) -> None:
            stopping.set()  # the service's SIGTERM, during the first send
            await super().send(email)

    stopped = StoppedWhileSending()
    assert await dispatch_due(lambda: uow, stopped, sms, connections=1, stopping=stopping) == 3
    stored = uow.notifications.messages
    assert [e.to for e in stopped.sent] == ["a-1@example.org"]
    assert [(m.status, m.attempts, m.claim) for m in stored] == [
        ("sent", 1, None),
        ("pending", 0, None),
        ("pending", 0, None),
    ]
    assert {m.next_attempt_at for m in stored[1:]} == {T0}  # due again at once
    assert [type(d) for d in published(uow)] == [NotificationSent]


async def test_a_connection_begins_its_next_email_during_the_last_commit_and_ends_it_after(
    sms: ScriptedSms,
) -> None:
    """The commit of an acceptance overlaps the next email's envelope, never its final
    dot: a crash still leaves at most one accepted, unrecorded email per connection."""
    steps: list[str] = []

    class SlowCommits(FakeNotificationUnitOfWork):
        async def _commit(self) -> None:
            await asyncio.sleep(0.01)
            await super()._commit()
            steps.append("committed")

    class TwoSteps(ScriptedEmail):
        async def begin(self, email: Email) -> Begun:
            steps.append(f"begin {email.to}")

            async def end() -> None:
                steps.append(f"end {email.to}")
                await self.send(email)

            return Begun(end)

    uow = SlowCommits()
    for application_id in ("A-1", "A-2", "A-3"):
        await handle(uow, received(application_id))
    steps.clear()
    assert await dispatch_due(lambda: uow, TwoSteps(), sms, connections=1) == 3
    assert steps == [
        "committed",  # the claim
        "begin a-1@example.org",
        "end a-1@example.org",
        "begin a-2@example.org",
        "committed",  # A-1 recorded
        "end a-2@example.org",
        "begin a-3@example.org",
        "committed",
        "end a-3@example.org",
        "committed",
    ]
    assert [m.status for m in uow.notifications.messages] == ["sent"] * 3


class Abandoning(ScriptedEmail):
    """Notes each begun email dropped before its final dot."""

    def __init__(self) -> None:
        super().__init__()
        self.abandoned: list[str] = []

    async def begin(self, email: Email) -> Begun:
        begun = await super().begin(email)
        begun.abandon = lambda: self.abandoned.append(email.to)  # type: ignore[method-assign]
        return begun


async def test_a_begun_email_is_abandoned_if_the_last_acceptance_cannot_be_recorded(
    sms: ScriptedSms,
) -> None:
    class SettlesFail(FakeNotificationUnitOfWork):
        claims = 0

        async def _commit(self) -> None:
            if self.claims and self.commits >= self.claims:  # every commit after the claim
                raise ConnectionResetError("database gone")
            await super()._commit()

    uow = SettlesFail()
    for application_id in ("A-1", "A-2"):
        await handle(uow, received(application_id))
    original_claim = uow.notifications.claim_due

    async def claim_due(*args: Any) -> Claim:
        uow.claims = uow.commits + 1
        return await original_claim(*args)

    uow.notifications.claim_due = claim_due  # type: ignore[method-assign]
    email = Abandoning()
    with pytest.raises(ConnectionResetError):
        await dispatch_due(
            lambda: uow, email, sms, connections=1, lease=timedelta(milliseconds=100)
        )
    assert [e.to for e in email.sent] == ["a-1@example.org"]
    assert email.abandoned == ["a-2@example.org"]


async def test_a_begun_email_whose_wait_outlasts_half_the_lease_is_released_unsent(
    sms: ScriptedSms,
) -> None:
    """A slow commit must not let a final dot go out at the end of the lease, when
    another dispatcher may take the message again."""

    class SlowSettles(FakeNotificationUnitOfWork):
        async def _commit(self) -> None:
            if self.published:  # a settle, not the claim
                await asyncio.sleep(0.15)
            await super()._commit()

    uow = SlowSettles()
    for application_id in ("A-1", "A-2"):
        await handle(uow, received(application_id))
    email = Abandoning()
    lease = timedelta(milliseconds=200)  # sends start within its first 100 ms
    assert await dispatch_due(lambda: uow, email, sms, connections=1, lease=lease) == 2
    assert [e.to for e in email.sent] == ["a-1@example.org"]
    assert email.abandoned == ["a-2@example.org"]
    stored = uow.notifications.messages
    assert [(m.status, m.attempts) for m in stored] == [("sent", 1), ("pending", 0)]


def test_a_batch_is_split_over_connections_with_each_applications_messages_in_order() -> None:
    def pending(application_id: str, template: str) -> PendingMessage:
        outgoing = OutgoingMessage(
            application_id, "cause", "email", template, "x@example.org", "s", "t", None
        )
        return PendingMessage(f"{application_id}/{template}", 0, timedelta(0), outgoing)

    claimed = [
        pending("A-1", "received"),
        pending("A-2", "received"),
        pending("A-3", "received"),
        pending("A-1", "completed"),
        pending("A-4", "received"),
        pending("A-2", "completed"),
    ]
    lanes = [[p.id for p in lane] for lane in _lanes(claimed, 3)]
    assert lanes == [
        ["A-1/received", "A-1/completed", "A-4/received"],
        ["A-2/received", "A-2/completed"],
        ["A-3/received"],
    ]
    assert [[p.id for p in lane] for lane in _lanes(claimed[:1], 4)] == [["A-1/received"]]
    assert _lanes([], 4) == []


def contact_recorded(application_id: str, *, sms: bool = False, campaign: int = 2027) -> CloudEvent:
    return about(
        application_id,
        c.ContactRecorded(
            application_id=application_id,
            campaign=campaign,
            level="M1",
            regime="alternance",
            candidate=contact(application_id, sms=sms),
        ),
    )


def without_contact(event: CloudEvent) -> CloudEvent:
    """The event as candidature sends it now: the contact is on the contacts topic."""
    data = event.data.model_copy(update={"candidate": None})
    return new_event(data, subject=event.subject or "")


async def test_an_event_read_before_the_contact_is_told_once_the_contact_arrives(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, without_contact(received("A-1", sms=True)))
    assert uow.notifications.recorded() == []
    await handle(uow, contact_recorded("A-1", sms=True))
    assert uow.notifications.recorded("A-1") == [
        ("application_received", "email"),
        ("application_received", "sms"),
    ]


async def test_an_erasure_leaves_nothing_and_is_confirmed(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, contact_recorded("A-1"))
    await handle(uow, without_contact(received("A-1")))
    await handle(uow, contact_recorded("A-2"))
    await handle(uow, about("A-1", c.ApplicationErased(application_id="A-1", campaign=2027)))
    assert uow.notifications.recorded("A-1") == []
    assert "A-1" not in uow.notifications.stored and "A-2" in uow.notifications.stored
    assert published(uow)[-1] == ErasureConfirmed(application_id="A-1")
    # A late or replayed record brings nothing back.
    await handle(uow, contact_recorded("A-1"))
    await handle(uow, without_contact(received("A-1")))
    assert "A-1" not in uow.notifications.stored
    assert uow.notifications.parked == [] and uow.notifications.recorded("A-1") == []


async def test_the_end_of_the_keeping_time_erases_the_campaigns_recipients(
    uow: FakeNotificationUnitOfWork,
) -> None:
    await handle(uow, contact_recorded("A-1"))
    await handle(uow, tick(datetime(2028, 8, 31, 23, 0, tzinfo=PARIS)))
    assert "A-1" in uow.notifications.stored
    await handle(uow, tick(datetime(2028, 9, 1, 0, 0, tzinfo=PARIS)))
    assert uow.notifications.stored == {}
