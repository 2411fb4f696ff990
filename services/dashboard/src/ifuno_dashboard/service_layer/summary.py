"""The summary staff see: per level, the funnel, places, waitlist; the season's clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ifuno_shared.calendar import default_calendar, in_paris
from ifuno_shared.events import Level
from ifuno_shared.persistence.platform_clock import SqlPlatformClock
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_dashboard.adapters.repository import (
    count_erasures,
    read_calendar,
    read_dead_letters,
    read_messages,
    read_place_counts,
    read_points,
    read_views,
)
from ifuno_dashboard.domain.projection import next_deadline, phases_in_force, summarise


async def build_summary(
    session: AsyncSession, campaign: int, capacities: Mapping[Level, int], lag: dict[str, int]
) -> dict[str, Any]:
    clock = SqlPlatformClock(session)
    now = await clock.now()
    phase = await clock.current_phase(campaign)
    views = await read_views(session, campaign)
    levels = summarise(views, capacities, await read_place_counts(session, campaign))
    phases = phases_in_force(
        default_calendar(campaign).phase_starts(), await read_calendar(session, campaign)
    )
    deadline = next_deadline(phases, now, views)
    return {
        "campaign": campaign,
        "now": iso(now),
        "phase": phase.value if phase else None,
        "next_deadline": None
        if deadline is None
        else {"what": deadline[0], "at": iso(deadline[1])},
        "levels": {
            name.value: {
                "capacity": level.capacity,
                "held": level.held,
                "places_left": level.places_left,
                "funnel": level.funnel,
                "refusals": level.refusals,
                "waitlist": [{"rank": r, "application_id": a} for r, a in level.waitlist],
            }
            for name, level in levels.items()
        },
        "places_over_time": [
            {"level": p["level"], "at": iso(p["at"]), "held": p["held"]}
            for p in await read_points(session, campaign)
        ],
        "messages": await read_messages(session),
        "dead_letters": await read_dead_letters(session),
        "erasures": await count_erasures(session),
        "consumer_lag": lag,
    }


def iso(instant: datetime | None) -> str | None:
    shown = in_paris(instant)
    return None if shown is None else shown.isoformat()
