"""Read models for staff: lists and details straight from the tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_candidature.adapters.tables import application, document


async def list_applications(
    session: AsyncSession,
    campaign: int | None,
    level: str | None,
    status: str | None,
    limit: int,
    offset: int,
    name: str | None = None,
) -> list[dict[str, Any]]:
    query = select(
        application.c.application_id,
        application.c.campaign,
        application.c.round,
        application.c.level,
        application.c.regime,
        application.c.status,
        application.c.refusal_reason,
        application.c.eligible,
        application.c.eligibility_reasons,
        application.c.submitted_at,
        application.c.completed_at,
        func.coalesce(application.c.candidate["phone_unusable"].as_boolean(), false()).label(
            "phone_unusable"
        ),
    )
    if campaign is not None:
        query = query.where(application.c.campaign == campaign)
    if level is not None:
        query = query.where(application.c.level == level)
    if status is not None:
        query = query.where(application.c.status == status)
    if name is not None:
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        full_name = (
            application.c.candidate["first_name"].astext
            + " "
            + application.c.candidate["last_name"].astext
        )
        query = query.where(full_name.ilike(pattern))
    query = query.order_by(application.c.submitted_at, application.c.application_id)
    rows = await session.execute(query.limit(limit).offset(offset))
    return [dict(row) for row in rows.mappings()]


async def application_details(session: AsyncSession, application_id: str) -> dict[str, Any] | None:
    row = (
        (
            await session.execute(
                select(application).where(application.c.application_id == application_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    documents = await session.execute(
        select(
            document.c.document_id,
            document.c.kind,
            document.c.filename,
            document.c.content_type,
            document.c.size_bytes,
            document.c.received_at,
            document.c.problem,
        )
        .where(document.c.application_id == application_id)
        .order_by(document.c.id)
    )
    return {**dict(row), "documents": [dict(d) for d in documents.mappings()]}
