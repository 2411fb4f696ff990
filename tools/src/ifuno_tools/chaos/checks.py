"""After the season: what each service's own database says, checked against the rules.

- capacity: selection's outbox, in the order it was written, replayed as places
  held (admitted → held until declined, expired or released; a late acceptance
  honoured holds again): never above the capacity of the level;
- views: candidature, selection, dashboard and notification agree on every
  application's outcome;
- messages: see `mail.audit_mail`; and, against a season without faults, the same
  (application, template, channel) messages;
- dead letters: none on `ifuno.deadletter.v1`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg

from ifuno_tools.chaos.mail import MailAudit

HOLDS = {"ifuno.selection.admitted.v1", "ifuno.selection.offer_accepted.v1"}
FREES = {
    "ifuno.selection.offer_declined.v1",
    "ifuno.selection.offer_expired.v1",
    "ifuno.selection.place_released.v1",
}
OUTCOME_TEMPLATE = {
    "accepted": "offer_accepted",
    "declined": "offer_declined",
    "expired": "offer_expired",
    "refused": "selection_refused",
    "withdrawn": "application_withdrawn",
    "waitlist_closed": "waitlist_closed",
}


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


@dataclass
class CapacityCheck:
    peak: dict[str, int]
    capacity: dict[str, int]
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


async def check_capacity(selection_dsn: str, capacities: dict[str, int]) -> CapacityCheck:
    rows = await _fetch(selection_dsn, "SELECT type, value FROM outbox ORDER BY id")
    holding: dict[str, str] = {}
    peak: Counter[str] = Counter()
    check = CapacityCheck({}, capacities)
    for row in rows:
        if row["type"] not in HOLDS | FREES:
            continue
        data = json.loads(row["value"])["data"]
        application, level = data["application_id"], data.get("level")
        if row["type"] in HOLDS:
            if level is None:
                level = holding.get(application)
            if level is not None:
                holding[application] = level
        else:
            holding.pop(application, None)
        held = Counter(holding.values())
        for name, count in held.items():
            peak[name] = max(peak[name], count)
            if count > capacities.get(name, 0):
                check.breaches.append(f"{name}: {count} held after {row['type']}")
    check.peak = dict(peak)
    return check


@dataclass
class Views:
    candidature: dict[str, str]
    selection: dict[str, dict[str, object]]
    dashboard: dict[str, dict[str, object]]
    templates: dict[str, set[str]]

    def outcomes(self) -> dict[str, tuple[object, ...]]:
        """Every service's word on each application, for comparing two seasons."""
        return {
            a: (
                self.candidature.get(a),
                (self.selection.get(a) or {}).get("status"),
                tuple(sorted(self.templates.get(a, set()))),
            )
            for a in set(self.candidature) | set(self.selection)
        }


async def read_views(dsns: dict[str, str]) -> Views:
    candidature = {
        r["application_id"]: r["status"]
        for r in await _fetch(dsns["candidature"], "SELECT application_id, status FROM application")
    }
    selection = {
        r["application_id"]: dict(r)
        for r in await _fetch(
            dsns["selection"],
            "SELECT application_id, status, waitlist_rank, refusal_reason FROM candidate",
        )
    }
    dashboard = {
        r["application_id"]: dict(r)
        for r in await _fetch(dsns["dashboard"], "SELECT * FROM application_view")
    }
    templates: dict[str, set[str]] = defaultdict(set)
    for r in await _fetch(dsns["notification"], "SELECT application_id, template FROM message"):
        templates[r["application_id"]].add(r["template"])
    return Views(candidature, selection, dashboard, dict(templates))


def disagreements(views: Views) -> list[str]:
    """Where two services tell different stories about one application."""
    found: list[str] = []
    for application, row in views.selection.items():
        status = str(row["status"])
        filed = views.candidature.get(application)
        wanted = {"withdrawn": ("withdrawn",), "closed": ("refused",)}.get(
            status, ("complete", None)
        )
        if filed not in wanted:
            found.append(f"{application}: selection {status}, candidature {filed}")
        board = views.dashboard.get(application)
        if board is None:
            found.append(f"{application}: selection {status}, not on the dashboard")
            continue
        expected = {
            "accepted": bool(board["accepted"]) and not board["withdrawn"],
            "declined": bool(board["declined"]),
            "expired": bool(board["expired"]),
            "withdrawn": bool(board["withdrawn"]),
            "refused": board["refusal_reason"] == row["refusal_reason"],
        }.get(status, True)
        if not expected:
            found.append(f"{application}: selection {status}, the dashboard differs")
        template = OUTCOME_TEMPLATE.get(status)
        if template and template not in views.templates.get(application, set()):
            found.append(f"{application}: selection {status}, no {template} message recorded")
    for application, filed in views.candidature.items():
        if filed == "complete" and application not in views.selection:
            found.append(f"{application}: complete at candidature, unknown to selection")
    return found


async def dead_letters(dashboard_dsn: str) -> int:
    rows = await _fetch(dashboard_dsn, "SELECT count(*) AS n FROM dead_letter")
    return int(rows[0]["n"])


def message_multiset(audit: MailAudit) -> Counter[tuple[str, str, str]]:
    return Counter((r.application_id, r.template, r.channel) for r in audit.recorded.values())


def compare_with_baseline(
    chaos: Counter[tuple[str, str, str]], baseline: Counter[tuple[str, str, str]]
) -> tuple[int, int]:
    """(messages the faultless season had and this one lacks, messages in excess)."""
    return sum((baseline - chaos).values()), sum((chaos - baseline).values())
