"""Read models for the staff API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_selection.adapters.tables import candidate, interview_slot


async def list_candidates(
    session: AsyncSession, campaign: int | None, level: str | None, status: str | None
) -> list[dict[str, Any]]:
    query = select(
        candidate,
        interview_slot.c.starts_at.label("interview_at"),
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
    """Everyone the committee decided on, best total first."""
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
        )
        .where(
            candidate.c.campaign == campaign,
            candidate.c.level == level,
            candidate.c.interview_score.is_not(None),
        )
        .order_by(total.desc(), candidate.c.completed_at, candidate.c.application_id)
    )
    return [dict(row) for row in rows.mappings()]
