"""Issue 16 end to end: a candidate who holds a place asks to be forgotten, the five
services running together on real servers (PostgreSQL, Tansu, SMTP, the SMS gateway).

M1 has two places and four candidates: after the committee A and B are offered a place,
C and D wait (ranks 1 and 2); A accepts. A, then B (an offer pending) ask the portal to
erase their data. Then: (a) each time the best on the waitlist gets the offer, by email;
(b) selection never held more places than M1 has, in its table and all along its
history (its outbox, in order); (c) the scan of every service's database, the email
copies and every platform topic finds nothing of A or B (and still finds the others);
(d) nothing was sent to A or B after their request, by email or SMS, even once the
clock reaches the time of the offers' reminders.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ifuno_selection.domain.rules import CRITERIA
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import new_event, portal
from ifuno_tools.local import PostgresAdmin
from ifuno_tools.testing.kafka import produce_events
from ifuno_tools.testing.platform import InProcessPlatform, platform_in_process
from ifuno_tools.testing.portal import Person, person

pytestmark = pytest.mark.integration

TOKENS = {"tok-admin": "a.martin:admin", "tok-reviewer": "r.dupont:reviewer"}
ADMIN = {"Authorization": "Bearer tok-admin"}
REVIEWER = {"Authorization": "Bearer tok-reviewer"}
CAPACITY = 2
INTERVIEWS = (18, 16, 14, 12)
"""A's, B's, C's and D's marks (their files all 20/20): the order of their totals."""
COMMITTEE = datetime(2027, 6, 25, 15, tzinfo=PARIS)
"""Just after M1's main committee (the last Friday of June, 14:00)."""
REMINDERS = datetime(2027, 7, 1, 12, tzinfo=PARIS)
"""Inside the reminder window of the committee's offers (2 days before 2 July, 23:59)."""
HELD = {"ifuno.selection.admitted.v1": 1}
FREED = {
    f"ifuno.selection.{kind}.v1": -1
    for kind in ("offer_declined", "offer_expired", "place_released")
}
"""How each selection event changes the places held (accepted or offered) of a level;
an acceptance keeps the place it had."""


def people() -> list[Person]:
    """A, B, C and D, in the committee's order (their interview marks)."""
    return [person(tag, f"+3361234560{n}") for n, tag in enumerate("ABCD")]


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.3)
    return found


@pytest.fixture
async def platform(postgres: PostgresAdmin, tmp_path: Path) -> AsyncIterator[InProcessPlatform]:
    async with platform_in_process(
        postgres,
        tmp_path,
        tokens=TOKENS,
        common={"capacity_m1": CAPACITY},
    ) as running:
        yield running


async def statuses(platform: InProcessPlatform) -> dict[str, str]:
    rows = await platform.query("selection", "SELECT application_id, status FROM candidate")
    return dict(rows)


async def settled(platform: InProcessPlatform) -> bool:
    """Every message recorded so far is sent (none pending or being sent)."""
    pending = await platform.scalar(
        "notification", "SELECT count(*) FROM message WHERE status IN ('pending', 'sending')"
    )
    return pending == 0


async def held_all_along(platform: InProcessPlatform) -> list[int]:
    """M1's places held after each of selection's events, in the order it wrote them."""
    rows = await platform.query(
        "selection", "SELECT type FROM outbox WHERE value IS NOT NULL ORDER BY id"
    )
    held, history = 0, []
    for (kind,) in rows:
        if kind in HELD or kind in FREED:
            held += HELD.get(kind, 0) + FREED.get(kind, 0)
            history.append(held)
    return history


async def test_erasing_place_holders_offers_their_places_on_and_leaves_nothing_of_them(
    platform: InProcessPlatform,
) -> None:
    a, b, c, d = everyone = people()
    await season_until_a_accepts(platform, everyone)
    assert await platform.scan(a) and await platform.scan(b), "their data is there before"
    sent_before: dict[str, tuple[int, int]] = {}

    # (a) A (accepted), then B (a pending offer) ask to be forgotten: C, then D, the
    # first on the waitlist each time, are offered the place and told by email.
    for erased, next_in_line in ((a, c), (b, d)):
        sent_before[erased.application_id] = await erase(platform, erased, next_in_line)

    # The clock reaches the offers' reminders: C and D are reminded, B is not.
    async with platform.http("timeline") as timeline:
        moved = await timeline.post("/v1/clock", json={"now": REMINDERS.isoformat()}, headers=ADMIN)
        assert moved.status_code == 200, moved.text
    for reminded in (c, d):
        await eventually(lambda: _sent(platform, reminded, "offer_reminder"))  # noqa: B023
    await eventually(lambda: settled(platform))
    await asyncio.sleep(1.0)  # the relays publish the confirmations' companions

    # (b) Never more places held than M1 has: now, and after each of selection's events.
    final = await statuses(platform)
    assert {final[c.application_id], final[d.application_id]} == {"offered"}
    assert sum(s in ("offered", "accepted") for s in final.values()) == CAPACITY
    history = await held_all_along(platform)
    assert max(history) <= CAPACITY and history[-1] == CAPACITY, history

    # (c) Nothing of A or B anywhere; the others' data is still there.
    for erased in (a, b):
        assert await platform.scan(erased) == [], erased.application_id
    assert await platform.scan(c)
    assert await platform.scalar("dashboard", "SELECT count(*) FROM dead_letter") == 0

    # (d) Nothing sent to A or B since each asked.
    for erased in (a, b):
        mails, texts = sent_before[erased.application_id]
        late_mail = [m for m in platform.smtp.messages[mails:] if erased.email in m.recipients]
        late_texts = [
            m
            for m in platform.sms.messages[texts:]
            if m.to in (erased.phone, erased.national_phone)
        ]
        assert late_mail == [] and late_texts == [], erased.application_id


async def season_until_a_accepts(platform: InProcessPlatform, everyone: list[Person]) -> None:
    """Submitted, reviewed and interviewed; the committee offers M1's two places to A and
    B and waitlists C and D; A accepts (and every message so far is sent)."""
    a, b, c, d = everyone
    await produce_events(
        platform.bootstrap,
        [who.submitted(complete=True) for who in everyone],
    )
    await eventually(
        lambda: _all(platform, lambda s: len(s) == 4 and set(s.values()) == {"in_review"})
    )
    async with platform.http("selection") as selection:
        for who, mark in zip(everyone, INTERVIEWS, strict=True):
            review = await selection.post(
                f"/v1/applications/{who.application_id}/file-review",
                json={"scores": dict.fromkeys(CRITERIA, 5)},
                headers=REVIEWER,
            )
            assert review.json()["status"] == "shortlisted", review.text
            result = await selection.post(
                f"/v1/applications/{who.application_id}/interview-result",
                json={"attended": True, "score": mark},
                headers=REVIEWER,
            )
            assert result.status_code == 200, result.text
    async with platform.http("timeline") as timeline:
        moved = await timeline.post("/v1/clock", json={"now": COMMITTEE.isoformat()}, headers=ADMIN)
        assert moved.status_code == 200, moved.text
    decided = {a.application_id: "offered", b.application_id: "offered"}
    decided |= {c.application_id: "waitlisted", d.application_id: "waitlisted"}
    await eventually(lambda: _all(platform, lambda s: s == decided))
    answer = portal.OfferAnswered(
        application_id=a.application_id, answer="accept", answered_at=COMMITTEE
    )
    await produce_events(platform.bootstrap, [new_event(answer, subject=a.application_id)])
    await eventually(lambda: _sent(platform, a, "offer_accepted"))
    await eventually(lambda: settled(platform))


async def erase(
    platform: InProcessPlatform, erased: Person, next_in_line: Person
) -> tuple[int, int]:
    """The portal's erasure request for `erased`; returns how many emails and texts had
    been sent before it, once `next_in_line` was offered the place and emailed and every
    service confirmed the erasure."""
    before = len(platform.smtp.messages), len(platform.sms.messages)
    request = portal.ErasureRequested(
        application_id=erased.application_id, candidate_id=f"C-{erased.application_id}"
    )
    await produce_events(platform.bootstrap, [new_event(request, subject=request.subject)])
    await eventually(lambda: _all(platform, lambda s: s[next_in_line.application_id] == "offered"))
    await eventually(lambda: _sent(platform, next_in_line, "promoted"))
    mails = platform.smtp.messages[before[0] :]
    assert any(next_in_line.email in mail.recipients for mail in mails), "told by email"
    await eventually(lambda: erasure_complete(platform, erased))
    return before


async def erasure_complete(platform: InProcessPlatform, who: Person) -> bool:
    """Every service confirmed (the dashboard's record, read as an admin)."""
    async with platform.http("dashboard") as dashboard:
        answer = await dashboard.get(
            "/v1/erasures", params={"application_id": who.application_id}, headers=ADMIN
        )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["complete"])


async def _all(platform: InProcessPlatform, check: Callable[[dict[str, str]], bool]) -> bool:
    found = await statuses(platform)
    return bool(found) and check(found)


async def _sent(platform: InProcessPlatform, who: Person, template: str) -> bool:
    sent = await platform.scalar(
        "notification",
        "SELECT count(*) FROM message WHERE application_id = :a AND template = :t"
        " AND channel = 'email' AND status = 'sent'",
        a=who.application_id,
        t=template,
    )
    return bool(sent)
