"""The staff workspace in Debian's Chromium against the five real services (in-process
ServiceRunners on a real PostgreSQL and broker, the simulated clock).

One walk through a season for two M1 candidates: a reviewer signs in and reviews both
files in the browser, each with a note (one too long first: refused, the form kept as
typed; the shortlist follows, the interviews are scheduled); the results are entered on
the interviews page with their notes; the committee's page shows the expected order
before and after the committee, and the staff notes; its CSV matches selection's
decisions and holds no note; the first candidate accepts and their file's history shows
every step from submission to acceptance and the notes; a viewer sees no name, address
or note anywhere and none of the workspace's pages. Screenshots in `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import new_event
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    Candidate,
    Diploma,
    OfferAnswered,
)
from ifuno_tools.local import PostgresAdmin
from ifuno_tools.testing.kafka import produce_events
from ifuno_tools.testing.platform import platform_in_process
from ifuno_tools.testing.portal import documents

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TOKENS = {
    "tok-admin": "a.martin:admin",
    "tok-committee": "c.durand:committee",
    "tok-reviewer": "r.dupont:reviewer",
    "tok-viewer": "tableau:viewer",
}
ADMIN = {"Authorization": "Bearer tok-admin"}
PEOPLE = {
    "WS-A": ("Zéphyrine", "Quelmarque", "zephyrine.quelmarque@example.org"),
    "WS-B": ("Anatole", "Brindevent", "anatole.brindevent@example.org"),
}
REVIEWS = {"WS-A": 4, "WS-B": 3}  # every criterion: 16/20 and 12/20, both shortlisted
INTERVIEWS = {"WS-A": "15", "WS-B": "9"}  # totals 31 (admitted) and 21 (waitlisted)
"""M1 has one place here, so the second candidate stays on the waitlist."""
REVIEW_NOTES = {
    "WS-A": "Projet Héliotrope très construit.\nÀ confirmer : le stage.",
    "WS-B": "Dossier Pervenche correct.",
}
INTERVIEW_NOTES = {
    "WS-A": "Critères : motivation Gentiane, aisance à l'oral.",
    "WS-B": "Critères : projet Mimosa encore flou.",
}
NOTES = [*REVIEW_NOTES.values(), *INTERVIEW_NOTES.values()]


def submission(application_id: str, minute: int) -> ApplicationSubmitted:
    first, last, email = PEOPLE[application_id]
    return ApplicationSubmitted(
        application_id=application_id,
        campaign=2027,
        level="M1",
        regime="formation_initiale",
        candidate=Candidate(
            candidate_id=f"C-{application_id}",
            first_name=first,
            last_name=last,
            email=email,
            sms_opt_in=False,
        ),
        employed=False,
        highest_diploma=Diploma(level="bac+3", field="Lettres", title="Licence de lettres"),
        vapp=False,
        training_experience_years=2,
        documents=documents(application_id),
        submitted_at=datetime(2027, 5, 3, 10, minute, tzinfo=PARIS),
    )


@pytest.fixture(scope="module")
async def urls(postgres: PostgresAdmin, tmp_path_factory) -> AsyncIterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    async with platform_in_process(
        postgres,
        tmp_path_factory.mktemp("workspace"),
        tokens=TOKENS,
        clock_start=datetime(2027, 5, 3, 9, tzinfo=PARIS),
        common={"capacity_m1": 1},
    ) as platform:
        await produce_events(
            platform.bootstrap,
            [new_event(submission(a, minute), subject=a) for minute, a in enumerate(PEOPLE)],
        )
        yield {**platform.urls, "bootstrap": platform.bootstrap}


@contextmanager
def httpx_logging_at_info() -> Iterator[None]:
    """httpx's request lines at INFO, whatever an earlier test or the console scripts'
    setup left on its logger; put back after."""
    logger = logging.getLogger("httpx")
    level, disabled = logger.level, logger.disabled
    logger.setLevel(logging.INFO)
    logger.disabled = False
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.disabled = disabled


async def until(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.3)
    return found


async def selection_files(urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=urls["selection"]) as http:
        rows = (await http.get("/v1/applications", params={"campaign": 2027}, headers=ADMIN)).json()
    return {row["application_id"]: row for row in rows}


async def test_a_season_in_the_workspace(
    urls: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    base = urls["dashboard"]
    ARTIFACTS.mkdir(exist_ok=True)

    async def in_review() -> bool:
        files = await selection_files(urls)
        return len(files) == 2 and all(f["status"] == "in_review" for f in files.values())

    await until(in_review)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []
        page.on(
            "request",
            lambda request: None if request.url.startswith(base) else outside.append(request.url),
        )

        async def sign_in(token: str) -> None:
            await page.goto(f"{base}/espace")
            await page.get_by_label("Jeton d'accès du personnel").fill(token)
            await page.get_by_role("button", name="Se connecter").click()
            await page.wait_for_url(f"{base}/espace")

        async def sign_out() -> None:
            await page.get_by_role("button", name="Se déconnecter").click()
            await page.get_by_label("Jeton d'accès du personnel").wait_for()

        # 1. A reviewer reviews both files; the shortlist follows.
        await sign_in("tok-reviewer")
        assert await page.locator("#identite").inner_text() == "r.dupont"
        await page.get_by_role("link", name="Examen des dossiers").first.click()
        assert "Avis rendus : 0 sur 2" in await page.locator("#avancement").inner_text()
        assert "Zéphyrine Quelmarque" in await page.content()
        assert "copie du diplôme le plus élevé" in await page.content()
        await page.screenshot(path=str(ARTIFACTS / "workspace-review.png"), full_page=True)
        criteria = ("training_involvement", "digital_practice", "project", "study_capacity")
        form = page.locator('form[action="/espace/revue/WS-A"]')
        for field in criteria:
            await form.locator(f'[name="{field}"]').fill("4")
        # Past the textarea's maxlength (set by script: typing stops there): refused by
        # selection, the page comes back with the form as typed and nothing recorded.
        await form.get_by_label("Remarque sur le dossier").evaluate(
            "(area) => { area.value = 'Héliotrope ' + 'x'.repeat(1990); }"
        )
        await form.get_by_role("button").click()
        await page.get_by_role("alert").wait_for()
        assert "ne doit pas dépasser 2000 caractères" in (
            await page.get_by_role("alert").inner_text()
        )
        form = page.locator('form[action="/espace/revue/WS-A"]')
        assert await form.locator('[name="project"]').input_value() == "4"
        kept = await form.get_by_label("Remarque sur le dossier").input_value()
        assert kept.startswith("Héliotrope x") and len(kept) == 2001
        assert (await selection_files(urls))["WS-A"]["status"] == "in_review"
        for application_id, mark in REVIEWS.items():
            form = page.locator(f'form[action="/espace/revue/{application_id}"]')
            for field in criteria:
                await form.locator(f'[name="{field}"]').fill(str(mark))
            await form.get_by_label("Remarque sur le dossier").fill(REVIEW_NOTES[application_id])
            await form.get_by_role("button").click()
            await page.get_by_role("status").wait_for()
            assert f"Avis enregistré pour {application_id} (présélectionné)" in (
                await page.get_by_role("status").inner_text()
            )
        assert "Aucun dossier à examiner" in await page.content()
        files = await selection_files(urls)
        assert {a: f["status"] for a, f in files.items()} == dict.fromkeys(PEOPLE, "shortlisted")
        assert files["WS-A"]["file_score"] == 16

        # 2. The interviews: the schedule by day, the calendar, the results.
        await page.get_by_role("link", name="Entretiens").first.click()
        for application_id in PEOPLE:
            assert await page.get_by_role("link", name=application_id).count() == 1
        assert "juin 2027" in await page.locator("main h2").first.inner_text()
        calendar = await page.request.get(f"{base}/espace/entretiens.ics")
        assert calendar.ok and (await calendar.text()).count("BEGIN:VEVENT") == 2
        assert "Quelmarque" not in await calendar.text()
        await page.screenshot(path=str(ARTIFACTS / "workspace-interviews.png"), full_page=True)
        for application_id, score in INTERVIEWS.items():
            form = page.locator(f'form[action="/espace/entretiens/{application_id}"]')
            await form.get_by_label("Note sur 20").fill(score)
            await form.get_by_label("Remarques sur les critères").fill(
                INTERVIEW_NOTES[application_id]
            )
            await form.get_by_role("button").click()
            await page.get_by_role("status").wait_for()
            assert f"Entretien de {application_id} enregistré" in (
                await page.get_by_role("status").inner_text()
            )
            shown = await page.locator(f"#remarques-{application_id}").inner_text()
            assert INTERVIEW_NOTES[application_id] in shown
        files = await selection_files(urls)
        assert {a: f["interview_score"] for a, f in files.items()} == {"WS-A": 15, "WS-B": 9}
        assert {a: f["interview_notes"] for a, f in files.items()} == INTERVIEW_NOTES
        await sign_out()

        # 3. The committee: the forecast, then the decision and its CSV.
        await sign_in("tok-committee")
        await page.goto(f"{base}/espace/commission?niveau=M1")
        rows = page.locator("#classement tbody tr")
        assert await rows.count() == 2
        assert "WS-A" in await rows.nth(0).inner_text()
        assert "admis" in await rows.nth(0).inner_text()
        assert "liste complémentaire" in await rows.nth(1).inner_text()
        assert "Décisions prévues" in await page.locator("#classement caption").inner_text()
        async with httpx.AsyncClient(base_url=urls["timeline"]) as timeline:
            moved = await timeline.post(
                "/v1/clock",
                json={"now": datetime(2027, 6, 25, 15, tzinfo=PARIS).isoformat()},
                headers=ADMIN,
            )
            assert moved.status_code == 200, moved.text

        async def decided() -> dict[str, dict[str, Any]] | None:
            files = await selection_files(urls)
            statuses = {f["status"] for f in files.values()}
            return files if statuses == {"offered", "waitlisted"} else None

        decisions = await until(decided)
        await page.reload()
        assert "Décisions —" in await page.locator("#classement caption").inner_text()
        for application_id in PEOPLE:
            notes = page.locator(f"#remarques-{application_id}")
            await notes.get_by_text("Remarques du personnel").click()
            shown = await notes.inner_text()
            assert f"Avis de r.dupont : {REVIEW_NOTES[application_id]}" in shown
            assert INTERVIEW_NOTES[application_id] in shown
        await page.screenshot(path=str(ARTIFACTS / "workspace-committee.png"), full_page=True)
        exported = await page.request.get(f"{base}/espace/commission.csv?niveau=M1")
        assert exported.ok
        lines = list(
            csv.reader(io.StringIO((await exported.text()).lstrip("\ufeff")), delimiter=";")
        )
        assert lines[0][:2] == ["rang", "dossier"]
        by_file = {line[1]: line for line in lines[1:]}
        assert [line[1] for line in lines[1:]] == ["WS-A", "WS-B"]
        expected = {"offered": "admis", "waitlisted": "liste complémentaire"}
        for application_id, line in by_file.items():
            assert line[6] == expected[decisions[application_id]["status"]]
        assert by_file["WS-A"][5] == "31,00" and by_file["WS-B"][7] == "1"
        minutes = await exported.text()
        assert not any(note in minutes for note in NOTES)

        # 4. The first candidate accepts; their file's history, every step.
        answer = OfferAnswered(
            application_id="WS-A",
            answer="accept",
            answered_at=datetime(2027, 6, 25, 16, tzinfo=PARIS),
        )
        await produce_events(urls["bootstrap"], [new_event(answer, subject="WS-A")])
        await page.goto(f"{base}/espace/dossier")
        # A name searched is in no log line, not even in the URL of the dashboard's call
        # to candidature, were httpx to log at INFO (the console scripts quieten it).
        with caplog.at_level(logging.INFO), httpx_logging_at_info():
            await page.get_by_label("Numéro de dossier ou nom du candidat").fill("quelmarque")
            await page.get_by_role("button", name="Rechercher").click()
            await page.get_by_role("link", name="WS-A").click()
        assert any(r.name == "httpx" for r in caplog.records)  # the calls are logged...
        platform_records = [r for r in caplog.records if r.name != "mail.log"]  # the SMTP server
        assert not [r for r in platform_records if "quelmarque" in r.getMessage().lower()]

        async def history_complete() -> bool:
            await page.reload()
            text = await page.locator("#etapes").inner_text()
            return "offre acceptée" in text and "message envoyé" in text

        await until(history_complete, timeout=30)
        steps = await page.locator("#etapes").inner_text()
        order = [
            "candidature reçue",
            "dossier complet",
            "dossier examiné : présélectionné",
            "entretien fixé",
            "résultat d'entretien saisi",
            "admis : offre de place",
            "offre acceptée",
        ]
        positions = [steps.index(step) for step in order]
        assert positions == sorted(positions), steps
        assert "« accusé de réception », par courriel" in steps
        assert "a accepté sa place" in await page.locator("#etat").inner_text()
        remarks = await page.locator("#remarques").inner_text()
        assert f"Entretien : {INTERVIEW_NOTES['WS-A']}" in remarks
        assert "Avis de r.dupont" in remarks and REVIEW_NOTES["WS-A"] in remarks
        assert "Zéphyrine Quelmarque" in await page.content()
        await page.screenshot(path=str(ARTIFACTS / "workspace-history.png"), full_page=True)
        await sign_out()

        # 5. The admin's operations page renders; the viewer sees no one.
        await sign_in("tok-admin")
        await page.goto(f"{base}/espace/operations")
        assert "Heure de la plateforme" in await page.content()
        await page.screenshot(path=str(ARTIFACTS / "workspace-operations.png"), full_page=True)
        await sign_out()
        await sign_in("tok-viewer")
        assert "Accès refusé" in await page.content()
        seen = [await page.content()]
        for path in ("/espace/revue", "/espace/dossier?q=WS-A", "/espace/commission"):
            answer = await page.goto(f"{base}{path}")
            assert answer is not None and answer.status == 403
            seen.append(await page.content())
        await page.goto(f"{base}/")
        await page.locator('[data-level="M1"] [data-counter="received"]').wait_for()
        await page.wait_for_function(
            'document.querySelector(\'[data-level="M1"] [data-counter="received"]\')'
            ".textContent === '2'"
        )
        seen.append(await page.content())
        await page.screenshot(
            path=str(ARTIFACTS / "workspace-viewer-dashboard.png"), full_page=True
        )
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(ARTIFACTS / "workspace-viewer-phone.png"), full_page=True)
        await browser.close()
    for text in seen:
        for first, last, email in PEOPLE.values():
            for secret in (first, last, email, "avenue Olivier Messiaen"):
                assert secret not in text
        for word in ("Héliotrope", "Pervenche", "Gentiane", "Mimosa"):
            assert word not in text
    assert outside == [], "the pages load nothing from outside the machine"
