"""The end-of-season report, from the services' public APIs and the captured messages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from ifuno_tools.local import CapturingSmtpServer, FakeSmsGateway

COMMITTEE = {"Authorization": "Bearer demo-committee"}
"""The files list names no one but holds each candidate's scores: not for a viewer."""


@dataclass
class LevelReport:
    level: str
    capacity: int
    offered: int = 0
    accepted: int = 0
    waitlisted: int = 0
    complementary: int = 0
    """Files of the complementary round: it opened for this level if any."""
    refusals: Counter[str] = field(default_factory=Counter)

    @property
    def free(self) -> int:
        return self.capacity - self.accepted - self.offered

    @property
    def empty_places_while_waiting(self) -> bool:
        """The rule: a free place is offered at once while anyone waits for one."""
        return self.free > 0 and self.waitlisted > 0


@dataclass
class SeasonReport:
    levels: dict[str, LevelReport]
    candidature_refusals: Counter[str]
    emails_by_subject: Counter[str]
    sms_sent: int
    applications: int

    def render(self) -> str:
        lines = ["", "Season report", "=" * 13, ""]
        lines.append(
            f"{'level':<6}{'capacity':>9}{'accepted':>10}{'offers open':>13}{'free':>6}"
            f"{'waitlist':>10}  complementary round"
        )
        for report in self.levels.values():
            opened = f"opened ({report.complementary} files)" if report.complementary else "-"
            lines.append(
                f"{report.level:<6}{report.capacity:>9}{report.accepted:>10}"
                f"{report.offered:>13}{report.free:>6}{report.waitlisted:>10}  {opened}"
            )
        waiting = [r.level for r in self.levels.values() if r.empty_places_while_waiting]
        lines.append(
            "Empty places while a waitlist remains: "
            + (", ".join(waiting) + " (a rule broken)" if waiting else "none")
        )
        lines += ["", "Refusals by reason:"]
        for report in self.levels.values():
            for reason, count in sorted(report.refusals.items()):
                lines.append(f"  {report.level} selection  {reason:<28}{count:>5}")
        for reason, count in sorted(self.candidature_refusals.items()):
            lines.append(f"  candidature   {reason:<28}{count:>5}")
        lines += [
            "",
            f"Messages: {sum(self.emails_by_subject.values())} emails, {self.sms_sent} SMS",
        ]
        for subject, count in self.emails_by_subject.most_common():
            lines.append(f"  {count:>5}  {subject}")
        return "\n".join(lines)


async def build_report(
    urls: dict[str, str],
    capacities: dict[str, int],
    campaign: int,
    smtp: CapturingSmtpServer,
    sms: FakeSmsGateway,
) -> SeasonReport:
    async with httpx.AsyncClient(timeout=30.0) as http:
        selection: list[dict[str, Any]] = (
            await http.get(
                f"{urls['selection']}/v1/applications",
                params={"campaign": campaign},
                headers=COMMITTEE,
            )
        ).json()
        candidature: list[dict[str, Any]] = (
            await http.get(
                f"{urls['candidature']}/v1/applications",
                params={"campaign": campaign, "status": "refused", "limit": 1000},
                headers=COMMITTEE,
            )
        ).json()
    levels = {level: LevelReport(level, capacity) for level, capacity in capacities.items()}
    for row in selection:
        report = levels[row["level"]]
        if row["round"] == "complementary":
            report.complementary += 1
        match row["status"]:
            case "offered":
                report.offered += 1
            case "accepted":
                report.accepted += 1
            case "waitlisted":
                report.waitlisted += 1
            case "refused":
                report.refusals[row["refusal_reason"] or "?"] += 1
            case "declined" | "expired" | "withdrawn":
                report.refusals[row["status"]] += 1
    return SeasonReport(
        levels=levels,
        candidature_refusals=Counter(row["refusal_reason"] for row in candidature),
        emails_by_subject=Counter(str(m.message["Subject"]) for m in smtp.messages),
        sms_sent=len(sms.messages),
        applications=len(selection),
    )
