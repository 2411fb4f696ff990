"""From events to messages to send. Handlers only RECORD messages (rendered, one per
cause, application, channel and template, enforced by a unique constraint) in the
consumer's transaction; the dispatcher sends them. So a redelivered event, or the
same event replayed after a crash, never records a message twice."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.events import CloudEvent, EventData
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.notification import ErasureConfirmed
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.messaging.subscription import handlers_by_annotation
from ifuno_shared.retention import campaigns_past_retention

from ifuno_notification.adapters.renderer import render_email, render_sms
from ifuno_notification.adapters.repository import OutgoingMessage
from ifuno_notification.domain.messages import (
    Message,
    Recipient,
    incomplete_reminder,
    messages_for,
    offer_reminder,
)
from ifuno_notification.service_layer.unit_of_work import NotificationUnitOfWork


async def _record(
    uow: NotificationUnitOfWork, who: Recipient, message: Message, cause_event_id: str
) -> None:
    """Email always; SMS only to a candidate who opted in and gave a number."""
    email = render_email(message)
    await uow.notifications.add_message(
        OutgoingMessage(
            application_id=who.application_id,
            cause_event_id=cause_event_id,
            channel="email",
            template=message.template,
            address=str(who.contact.email),
            subject=email.subject,
            body_text=email.text,
            body_html=email.html,
        )
    )
    if who.contact.sms_opt_in and who.contact.phone:
        await uow.notifications.add_message(
            OutgoingMessage(
                application_id=who.application_id,
                cause_event_id=cause_event_id,
                channel="sms",
                template=message.template,
                address=who.contact.phone,
                subject=None,
                body_text=render_sms(message),
                body_html=None,
            )
        )


def _recipient_from(data: c.ApplicationReceived | c.ApplicationRefused) -> Recipient | None:
    """A new recipient from the event that carries the contact details, if it does."""
    if data.candidate is None or data.level is None or data.regime is None:
        return None
    return Recipient(
        application_id=data.application_id,
        campaign=data.campaign or 0,
        level=data.level,
        regime=data.regime,
        contact=data.candidate,
    )


CandidateEvent = (
    c.ApplicationReceived
    | c.ApplicationCompleted
    | c.SubmissionDeadlineMoved
    | c.DocumentRejected
    | c.ApplicationRefused
    | c.ApplicationWithdrawn
    | s.InterviewScheduled
    | s.Admitted
    | s.Waitlisted
    | s.WaitlistRankChanged
    | s.Refused
    | s.OfferAccepted
    | s.OfferDeclined
    | s.OfferExpired
    | s.WaitlistClosed
    | s.TwoYearPlanRecorded
)
"""The candidature and selection events that tell the candidate something."""


async def handle_candidate_event(
    event: CloudEvent[CandidateEvent], uow: NotificationUnitOfWork
) -> None:
    """Every candidature and selection event that tells the candidate something.

    An event read before the application's contact details (another topic, read in
    its own order) is parked, then replayed as soon as the details arrive.
    """
    data = event.data
    application_id = data.application_id
    if await uow.notifications.erased(application_id):
        return
    who = await uow.notifications.get(application_id)
    if who is None and isinstance(data, c.ApplicationReceived | c.ApplicationRefused):
        who = _recipient_from(data)
    if who is None:
        await uow.notifications.park(application_id, event)
        return
    await _tell(uow, who, event)
    for parked in await uow.notifications.unpark(application_id):
        await _tell(uow, who, parked)


async def handle_contact_recorded(
    event: CloudEvent[c.ContactRecorded], uow: NotificationUnitOfWork
) -> None:
    """An application's contact details (the compacted contacts topic): the recipient
    is created (or its details replaced), and the events parked for it are told."""
    data = event.data
    if await uow.notifications.erased(data.application_id):
        return
    who = await uow.notifications.get(data.application_id)
    if who is None:
        who = Recipient(
            application_id=data.application_id,
            campaign=data.campaign,
            level=data.level,
            regime=data.regime,
            contact=data.candidate,
        )
    else:
        who.contact = data.candidate
    await uow.notifications.save(who)
    for parked in await uow.notifications.unpark(data.application_id):
        await _tell(uow, who, parked)


async def erase(uow: NotificationUnitOfWork, application_ids: list[str]) -> None:
    """Recipients, messages (pending ones cancelled), attempts, parked events and the
    stored copies of the emails: nothing about these applications is left."""
    message_ids = await uow.notifications.erase(application_ids)
    uow.forget_copies(message_ids)


async def handle_application_erased(
    event: CloudEvent[c.ApplicationErased], uow: NotificationUnitOfWork
) -> None:
    application_id = event.data.application_id
    await erase(uow, [application_id])
    uow.publish(ErasureConfirmed(application_id=application_id), subject=application_id)


async def _tell(uow: NotificationUnitOfWork, who: Recipient, event: CloudEvent[EventData]) -> None:
    """The event's messages, then its effect on the recipient, at the platform's clock
    (the event's own time before the first tick, as selection decides with it)."""
    at = await uow.clock.now() or event.time
    messages = messages_for(event.data, who, at)
    who.apply(event.data, at=at)
    await uow.notifications.save(who)
    for message in messages:
        await _record(uow, who, message, event.id)


async def handle_clock_advanced(
    event: CloudEvent[ClockAdvanced], uow: NotificationUnitOfWork
) -> None:
    """Reminders fall due as the platform clock passes them: incomplete file 3 days
    before the deadline, unanswered offer 2 days before it expires.

    Due reminders are looked up at every move of the clock, not only in the window
    `(previous, now]`: the file or offer may be read after the tick that passed its
    due instant (topics are read independently), and is reminded at the next one.
    The flags on the recipient keep each reminder to one.
    """
    data = event.data
    previous = await uow.clock.advance(data)
    if previous is not None and previous >= data.now:
        return
    await _remind(uow, event.id, data.now)
    await _erase_past_retention(uow, data.now)


RETENTION_BATCH = 500


async def _erase_past_retention(uow: NotificationUnitOfWork, now: datetime) -> None:
    """A campaign past its keeping time: its recipients erased as on request, in batches."""
    campaigns = await uow.notifications.campaigns_holding_data(now.year - 1)
    for campaign in campaigns_past_retention(campaigns, now, uow.retention_until):
        while batch := await uow.notifications.recipients_in(campaign, RETENTION_BATCH):
            await erase(uow, batch)


async def _remind(uow: NotificationUnitOfWork, cause: str, now: datetime) -> None:
    """The queries read without locks: each recipient is checked again once locked."""
    repository = uow.notifications
    for who in await repository.get_many(await repository.incomplete_reminders_due(now)):
        if who.incomplete_reminder_due(now):
            who.mark_incomplete_reminded()
            await repository.save(who)
            await _record(uow, who, incomplete_reminder(who), cause)
    for who in await repository.get_many(await repository.offer_reminders_due(now)):
        if who.offer_reminder_due(now):
            who.mark_offer_reminded()
            await repository.save(who)
            await _record(uow, who, offer_reminder(who), cause)


HANDLERS = handlers_by_annotation(
    handle_candidate_event,
    handle_contact_recorded,
    handle_application_erased,
    handle_clock_advanced,
)
