"""The conductor: moves the simulated clock day by day and does what people would do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.events import CloudEvent

from ifuno_tools.demo import portal
from ifuno_tools.demo.observe import Quiescence
from ifuno_tools.demo.population import Profile

ADMIN = {"Authorization": "Bearer demo-admin"}
REVIEWER = {"Authorization": "Bearer demo-reviewer"}

Progress = Callable[[datetime, str, dict[str, int]], None]


def _scores(points: int) -> dict[str, int]:
    spread = [points // 4 + (1 if n < points % 4 else 0) for n in range(4)]
    names = ("training_involvement", "digital_practice", "project", "study_capacity")
    return dict(zip(names, spread, strict=True))


class Season:
    def __init__(
        self,
        calendar: CampaignCalendar,
        profiles: list[Profile],
        urls: dict[str, str],
        sender: portal.Portal,
        quiescence: Quiescence,
        start: datetime,
    ) -> None:
        self.calendar = calendar
        self.profiles = {p.application_id: p for p in profiles}
        self.urls = urls
        self.portal = sender
        self.quiescence = quiescence
        self.start = start
        self.http = httpx.AsyncClient(timeout=30.0)
        self.answered: set[str] = set()
        self.interviewed: set[str] = set()
        self.actions: Counter[str] = Counter()

    def _schedule(self) -> list[tuple[datetime, CloudEvent]]:
        """Everything the portal will send, at the moment candidates do it."""
        campaign = self.calendar.campaign
        planned: list[tuple[datetime, CloudEvent]] = []
        for profile in self.profiles.values():
            planned.append((profile.submitted_at, portal.submission(profile, campaign)))
            if profile.completes_on is not None:
                planned += [
                    (profile.completes_on, e) for e in portal.uploads(profile, profile.completes_on)
                ]
            if profile.withdraws_on is not None:
                planned.append(
                    (profile.withdraws_on, portal.withdrawal(profile, profile.withdraws_on))
                )
        return sorted(planned, key=lambda item: item[0])

    async def move_clock(self, now: datetime) -> list[str]:
        response = await self.http.post(
            f"{self.urls['timeline']}/v1/clock", json={"now": now.isoformat()}, headers=ADMIN
        )
        response.raise_for_status()
        return list(response.json()["phases_started"])

    async def selection_files(self) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"{self.urls['selection']}/v1/applications", headers=REVIEWER
        )
        response.raise_for_status()
        return list(response.json())

    async def staff_and_candidates(self, now: datetime) -> None:
        """Reviewers score the files waiting, interviewers record the interviews held,
        admitted candidates answer (or let the offer run out)."""
        for row in await self.selection_files():
            application_id, status = row["application_id"], row["status"]
            profile = self.profiles.get(application_id)
            if profile is None:
                continue
            if status == "in_review" and row["eligible"]:
                await self._review(profile)
            elif status == "shortlisted" and row["interview_at"] is not None:
                if (
                    datetime.fromisoformat(row["interview_at"]) < now
                    and application_id not in self.interviewed
                ):
                    await self._interview(profile)
            elif status == "offered" and application_id not in self.answered:
                self.answered.add(application_id)
                if profile.answer != "ignore":
                    await self.portal.send([portal.answer(profile, now)])
                    self.actions[
                        f"offers {profile.answer}d"
                        if profile.answer == "decline"
                        else "offers accepted"
                    ] += 1

    async def _review(self, profile: Profile) -> None:
        body = {"scores": _scores(profile.file_points)}  # recorded under the token's name
        response = await self.http.post(
            f"{self.urls['selection']}/v1/applications/{profile.application_id}/file-review",
            json=body,
            headers=REVIEWER,
        )
        if response.status_code == 200:
            self.actions["files reviewed"] += 1

    async def _interview(self, profile: Profile) -> None:
        self.interviewed.add(profile.application_id)
        body = {"attended": profile.interview_score is not None, "score": profile.interview_score}
        response = await self.http.post(
            f"{self.urls['selection']}/v1/applications/{profile.application_id}/interview-result",
            json=body,
            headers=REVIEWER,
        )
        if response.status_code == 200:
            self.actions["interviews held"] += 1

    async def play(self, progress: Progress, step: timedelta = timedelta(days=1)) -> None:
        planned = self._schedule()
        now = self.start
        await self.move_clock(now)
        await self.quiescence.settle()
        end = self.calendar.academic_year_start + timedelta(days=1)
        while now < end:
            until = min(now + step, end)
            due = [event for at, event in planned if now < at <= until]
            planned = [(at, event) for at, event in planned if at > until]
            if due:
                await self.portal.send(due)
                await self.quiescence.settle()
            phases = await self.move_clock(until)
            await self.quiescence.settle()
            await self.staff_and_candidates(until)
            await self.quiescence.settle()
            now = until
            progress(now, ", ".join(phases), dict(self.actions))

    async def close(self) -> None:
        await self.http.aclose()
