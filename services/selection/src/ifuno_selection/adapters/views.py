"""Read models for the staff API."""

from __future__ import annotations

from typing import Any

from ifuno_shared.events import Round
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_selection.adapters.repository import CalendarRepository
from ifuno_selection.adapters.tables import candidate, interview_slot, review
from ifuno_selection.domain.candidate import UNFINISHED, Status


async def list_candidates(
    session: AsyncSession, campaign: int | None, level: str | None, status: str | None
) -> list[dict[str, Any]]:
    """Every file with its interview (and whether it was invited at short notice); the
    flags `late_answer` (an on-time acceptance read after its offer expired) and
    `two_year_plan` come with the file."""
    query = select(
        candidate,
        interview_slot.c.starts_at.label("interview_at"),
        interview_slot.c.notice_days,
        interview_slot.c.short_notice,
    ).outerjoin(interview_slot, interview_slot.c.application_id == candidate.c.application_id)
    if campaign is not None:
        query = query.where(candidate.c.campaign == campaign)
    if level is not None:
        query = query.where(candidate.c.level == level)
    if status is not None:
        query = query.where(candidate.c.status == status)
    rows = await session.execute(query.order_by(candidate.c.application_id))
    return [dict(row) for row in rows.mappings()]


async def ranking(session: AsyncSession, campaign: int, level: str) -> list[dict[str, Any]]:
    """Everyone the committee decided on, best total first, with staff's notes (the
    reviewers' and the interview's) for the committee to read."""
    total = (candidate.c.file_score + candidate.c.interview_score).label("total")
    rows = await session.execute(
        select(
            candidate.c.application_id,
            candidate.c.status,
            candidate.c.file_score,
            candidate.c.interview_score,
            total,
            candidate.c.waitlist_rank,
            candidate.c.offer_deadline,
            candidate.c.from_waitlist,
            candidate.c.completed_at,
            candidate.c.interview_notes,
        )
        .where(
            candidate.c.campaign == campaign,
            candidate.c.level == level,
            candidate.c.interview_score.is_not(None),
        )
        .order_by(total.desc(), candidate.c.completed_at, candidate.c.application_id)
    )
    ranked = [dict(row) for row in rows.mappings()]
    notes = await review_notes(session, [row["application_id"] for row in ranked])
    return [{**row, "review_notes": notes.get(row["application_id"], [])} for row in ranked]


async def review_notes(
    session: AsyncSession, application_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each file's reviewers' notes, oldest review first (reviews without one left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not application_ids:
        return found
    rows = await session.execute(
        select(review.c.application_id, review.c.reviewer, review.c.reviewed_at, review.c.note)
        .where(review.c.application_id.in_(application_ids), review.c.note.is_not(None))
        .order_by(review.c.reviewed_at, review.c.reviewer)
    )
    for row in rows.mappings():
        found.setdefault(row["application_id"], []).append(
            {"reviewer": row["reviewer"], "reviewed_at": row["reviewed_at"], "note": row["note"]}
        )
    return found


async def notes(session: AsyncSession, application_id: str) -> dict[str, Any] | None:
    """Staff's notes on one file: each reviewer's, the interview's; None for a file
    this service never received."""
    interview_notes = await session.execute(
        select(candidate.c.interview_notes).where(candidate.c.application_id == application_id)
    )
    row = interview_notes.first()
    if row is None:
        return None
    reviews = await review_notes(session, [application_id])
    return {
        "application_id": application_id,
        "review_notes": reviews.get(application_id, []),
        "interview_notes": row.interview_notes,
    }


async def unfinished(
    session: AsyncSession, campaign: int | None, level: str | None
) -> list[dict[str, Any]]:
    """Complete files the committee could not rank as they stand (not reviewed enough,
    or not interviewed, or interviewed but declared ineligible by staff since), with the
    committee that will refuse them unless staff finish: `not_ranked_in_time`, or
    `ineligible` for a failed prerequisite check."""
    query = (
        select(
            candidate.c.application_id,
            candidate.c.campaign,
            candidate.c.level,
            candidate.c.round,
            candidate.c.status,
            candidate.c.eligible,
            candidate.c.file_score,
            interview_slot.c.starts_at.label("interview_at"),
        )
        .outerjoin(interview_slot, interview_slot.c.application_id == candidate.c.application_id)
        .where(
            or_(
                candidate.c.status.in_([status.value for status in UNFINISHED]),
                and_(
                    candidate.c.status == Status.INTERVIEWED.value, candidate.c.eligible.is_(False)
                ),
            )
        )
    )
    if campaign is not None:
        query = query.where(candidate.c.campaign == campaign)
    if level is not None:
        query = query.where(candidate.c.level == level)
    rows = await session.execute(query.order_by(candidate.c.application_id))
    calendars = CalendarRepository(session)
    found = []
    for row in rows.mappings():
        calendar = await calendars.calendar(row["campaign"])
        found.append(
            {
                **row,
                "committee_at": calendar.committee(Round(row["round"])),
                "refused_as": "not_ranked_in_time" if row["eligible"] else "ineligible",
            }
        )
    return found


async def review_queue(
    session: AsyncSession, campaign: int, level: str | None
) -> list[dict[str, Any]]:
    """Files waiting for reviews, the file completed first, each with who reviewed it."""
    query = select(
        candidate.c.application_id,
        candidate.c.level,
        candidate.c.round,
        candidate.c.eligible,
        candidate.c.completed_at,
    ).where(candidate.c.campaign == campaign, candidate.c.status == "in_review")
    if level is not None:
        query = query.where(candidate.c.level == level)
    files = [
        dict(row)
        for row in (
            await session.execute(
                query.order_by(candidate.c.completed_at, candidate.c.application_id)
            )
        ).mappings()
    ]
    reviewers: dict[str, list[str]] = {}
    if files:
        rows = await session.execute(
            select(review.c.application_id, review.c.reviewer)
            .where(review.c.application_id.in_([f["application_id"] for f in files]))
            .order_by(review.c.reviewed_at)
        )
        for application_id, name in rows:
            reviewers.setdefault(application_id, []).append(name)
    return [{**f, "reviewers": reviewers.get(f["application_id"], [])} for f in files]


async def interviews(
    session: AsyncSession, campaign: int, level: str | None
) -> list[dict[str, Any]]:
    """The interview slots of a campaign in time order, with each file's status, score
    and interview notes."""
    query = (
        select(
            interview_slot.c.starts_at,
            interview_slot.c.ends_at,
            interview_slot.c.location,
            interview_slot.c.video_url,
            interview_slot.c.short_notice,
            candidate.c.application_id,
            candidate.c.level,
            candidate.c.round,
            candidate.c.status,
            candidate.c.interview_score,
            candidate.c.interview_notes,
        )
        .join(candidate, candidate.c.application_id == interview_slot.c.application_id)
        .where(candidate.c.campaign == campaign)
    )
    if level is not None:
        query = query.where(candidate.c.level == level)
    rows = await session.execute(query.order_by(interview_slot.c.starts_at))
    return [dict(row) for row in rows.mappings()]
