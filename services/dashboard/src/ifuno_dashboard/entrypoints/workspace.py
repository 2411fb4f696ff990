"""The staff workspace (`/espace`): server-rendered French pages where reviewers, the
committee and admins do their work in the browser.

Signed in by the dashboard's own session cookie (HttpOnly, SameSite=Strict). Every
action is the owning service's: the workspace calls its API server-side with the signed-in
staff member's own token (looked up from IFUNO_API_TOKENS, never sent to the page), so
the service records it under their name and checks their role. The page itself holds no
token and calls nothing but this origin. A `viewer` gets none of these pages.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from ifuno_shared.events.base import SingleLine
from ifuno_shared.http import SESSION_COOKIE, Staff, staff_for
from ifuno_shared.persistence.platform_clock import SqlPlatformClock
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.adapters.redrive import CannotRedrive, redrive
from ifuno_dashboard.adapters.repository import (
    mark_redriven,
    read_dead_letter_list,
    read_failed_messages,
    read_history,
    read_place_counts,
    read_view,
    read_views,
)
from ifuno_dashboard.adapters.services import ServiceError, Services, token_for
from ifuno_dashboard.domain import committee, french, ics
from ifuno_dashboard.domain.history import current_state, describe
from ifuno_dashboard.domain.labels import PHASES, label
from ifuno_dashboard.domain.projection import summarise

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
TEMPLATES.env.globals["label"] = label
TEMPLATES.env.filters.update(
    day=french.day, moment=french.moment, hour=french.hour, score=french.score
)

WORKSPACE_ROLES = frozenset({"reviewer", "committee", "admin"})
REVIEWERS = frozenset({"reviewer", "admin"})
INTERVIEWERS = frozenset({"reviewer", "committee", "admin"})
COMMITTEE = frozenset({"committee", "admin"})
ADMINS = frozenset({"admin"})
LEVELS = ("M1", "M2")
CRITERIA = (
    ("training_involvement", "Implication dans la formation"),
    ("digital_practice", "Pratique du numérique"),
    ("project", "Projet professionnel"),
    ("study_capacity", "Capacité à suivre les études"),
)


NOTE_MAX_LENGTH = 2000
"""Selection's bound on a staff note; the form says it, selection enforces it."""
NOTE_REFUSED = (
    f"La remarque ne doit pas dépasser {NOTE_MAX_LENGTH} caractères ni contenir de "
    "caractère de contrôle ; elle est restée dans le formulaire."
)


def _note(text: str) -> str | None:
    """A note as typed, line breaks as one character each (a browser posts CR LF, and
    counts one), None when blank."""
    text = text.replace("\r\n", "\n").strip()
    return text or None


def _refusal(error: ServiceError, note_fields: tuple[str, ...]) -> str:
    """The service's refusal in French, naming the note when that is what it refused."""
    if error.status == 422 and isinstance(error.detail, list):
        fields = {str(e.get("loc", [""])[-1]) for e in error.detail if isinstance(e, dict)}
        if fields & set(note_fields):
            return NOTE_REFUSED
    return error.message


class SignInRequired(Exception):
    """No valid session: the sign-in page answers."""


class RoleRefused(Exception):
    """Signed in, but this page is not for the member's role."""

    def __init__(self, staff: Staff) -> None:
        super().__init__(staff.role)
        self.staff = staff


class WorkspaceRoute(APIRoute):
    """A page answers a missing session with the sign-in page and a refused role with a
    French page (403), never JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return RedirectResponse("/espace", status.HTTP_303_SEE_OTHER)
            except RoleRefused as refused:
                return TEMPLATES.TemplateResponse(
                    request, "forbidden.html", {"staff": refused.staff}, status_code=403
                )

        return answer


def _staff(request: Request) -> Staff | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return request.app.state.sessions.read(cookie) if cookie else None


def _same_origin(request: Request) -> None:
    """A form post must come from this origin (the SameSite=Strict cookie says as much;
    the Origin header, when the browser sends one, is checked too)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form refused")


def member(*roles: frozenset[str]) -> Any:
    allowed = frozenset().union(*roles)

    async def dependency(request: Request) -> Staff:
        staff = _staff(request)
        if staff is None:
            raise SignInRequired
        if staff.role not in allowed:
            raise RoleRefused(staff)
        return staff

    return Depends(dependency)


AS_REVIEWER = member(REVIEWERS)
AS_INTERVIEWER = member(INTERVIEWERS)
AS_COMMITTEE = member(COMMITTEE)
AS_ADMIN = member(ADMINS)
AS_STAFF = member(WORKSPACE_ROLES)


def build_workspace(context: ServiceContext) -> APIRouter:
    router = APIRouter(prefix="/espace", include_in_schema=False, route_class=WorkspaceRoute)
    settings: Any = context.settings
    urls = {
        "candidature": settings.candidature_url,
        "selection": settings.selection_url,
        "notification": settings.notification_url,
        "timeline": settings.timeline_url,
    }

    def page(
        request: Request, template: str, staff: Staff | None, code: int = 200, **values: Any
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request,
            template,
            {
                "staff": staff,
                "campaign": settings.campaign,
                "levels": LEVELS,
                "notice": request.query_params.get("info"),
                "problem": request.query_params.get("erreur"),
                **values,
            },
            status_code=code,
        )

    def services_for(request: Request, staff: Staff) -> Services:
        token = token_for(request.app.state.api_tokens, staff)
        if token is None:
            raise SignInRequired
        return Services(urls, token)

    def back(path: str, **query: str) -> RedirectResponse:
        found = {key: value for key, value in query.items() if value}
        suffix = f"?{urlencode(found)}" if found else ""
        return RedirectResponse(f"/espace{path}{suffix}", status.HTTP_303_SEE_OTHER)

    def campaign_of(value: int | None) -> int:
        return int(value or settings.campaign or datetime.now(UTC).year)

    # -- sign-in -------------------------------------------------------------------

    @router.get("")
    async def home(request: Request) -> HTMLResponse:
        staff = _staff(request)
        if staff is None:
            return page(request, "signin.html", None)
        if staff.role not in WORKSPACE_ROLES:
            return page(request, "forbidden.html", staff, 403)
        return page(request, "home.html", staff)

    @router.post("/connexion")
    async def sign_in(
        request: Request, token: Annotated[str, Form(min_length=1, max_length=1000)]
    ) -> Response:
        _same_origin(request)
        staff = staff_for(request.app.state.api_tokens, token)
        if staff is None:
            return page(request, "signin.html", None, 401, failed=True)
        sessions = request.app.state.sessions
        response = back("")
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(staff),
            max_age=sessions.lifetime_seconds,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post("/deconnexion")
    async def sign_out(request: Request) -> Response:
        _same_origin(request)
        response = back("")
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -- 1. review queue -------------------------------------------------------------

    @router.get("/revue")
    async def review_queue(
        request: Request,
        staff: Annotated[Staff, AS_REVIEWER],
        niveau: Annotated[str, Query(pattern="^M[12]$")] = "M1",
        campagne: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> HTMLResponse:
        return await review_page(request, staff, niveau, campaign_of(campagne))

    async def review_page(
        request: Request,
        staff: Staff,
        niveau: str,
        campaign: int,
        kept: dict[str, Any] | None = None,
        problem: str | None = None,
    ) -> HTMLResponse:
        """The review queue; `kept`: a refused form's values, shown again in its form."""
        services = services_for(request, staff)
        try:
            rules = await services.get("selection", "/v1/rules")
            queue = await services.get(
                "selection", "/v1/review-queue", campaign=campaign, level=niveau
            )
            files = []
            for entry in queue[:50]:
                details = await services.get(
                    "candidature", f"/v1/applications/{entry['application_id']}"
                )
                files.append({**entry, "file": details, "mine": staff.name in entry["reviewers"]})
        except ServiceError as error:
            return page(request, "error.html", staff, 502, error=error)
        done = sum(len(entry["reviewers"]) for entry in queue)
        required = rules["reviews_required"] * len(queue)
        return page(
            request,
            "review.html",
            staff,
            level=niveau,
            campaign=campaign,
            rules=rules,
            files=files,
            more=max(len(queue) - len(files), 0),
            done=done,
            required=required,
            criteria=CRITERIA,
            note_max_length=NOTE_MAX_LENGTH,
            kept=kept or {},
            code=422 if problem else 200,
            **({"problem": problem} if problem else {}),
        )

    @router.post("/revue/{application_id}")
    async def review(
        request: Request,
        application_id: str,
        staff: Annotated[Staff, AS_REVIEWER],
        training_involvement: Annotated[int, Form(ge=0, le=5)],
        digital_practice: Annotated[int, Form(ge=0, le=5)],
        project: Annotated[int, Form(ge=0, le=5)],
        study_capacity: Annotated[int, Form(ge=0, le=5)],
        niveau: Annotated[str, Form(pattern="^M[12]$")] = "M1",
        video: Annotated[bool, Form()] = False,
        note: Annotated[str, Form()] = "",
    ) -> Response:
        _same_origin(request)
        scores = {
            "training_involvement": training_involvement,
            "digital_practice": digital_practice,
            "project": project,
            "study_capacity": study_capacity,
        }
        body: dict[str, Any] = {
            "scores": scores,
            "interview_by_video": video,
            "note": _note(note),
        }
        try:
            decision = await services_for(request, staff).post(
                "selection", f"/v1/applications/{application_id}/file-review", body
            )
        except ServiceError as error:
            refusal = _refusal(error, ("note",))
            if refusal is NOTE_REFUSED:  # the form comes back as typed
                kept = {application_id: {**scores, "video": video, "note": note}}
                problem = f"{application_id} : {refusal}"
                return await review_page(request, staff, niveau, campaign_of(None), kept, problem)
            return back("/revue", niveau=niveau, erreur=f"{application_id} : {refusal}")
        outcome = label("status", decision["status"])
        return back(
            "/revue", niveau=niveau, info=f"Avis enregistré pour {application_id} ({outcome})."
        )

    # -- 2. interviews ---------------------------------------------------------------

    async def schedule(request: Request, staff: Staff, campaign: int, level: str | None) -> Any:
        return await services_for(request, staff).get(
            "selection", "/v1/interviews", campaign=campaign, level=level
        )

    @router.get("/entretiens")
    async def interviews(
        request: Request,
        staff: Annotated[Staff, AS_INTERVIEWER],
        niveau: Annotated[str | None, Query(pattern="^M[12]$")] = None,
        campagne: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> HTMLResponse:
        return await interviews_page(request, staff, niveau, campaign_of(campagne))

    async def interviews_page(
        request: Request,
        staff: Staff,
        niveau: str | None,
        campaign: int,
        kept: dict[str, Any] | None = None,
        problem: str | None = None,
    ) -> HTMLResponse:
        """The schedule; `kept`: a refused result form's values, shown again in its form."""
        try:
            slots = await schedule(request, staff, campaign, niveau)
        except ServiceError as error:
            return page(request, "error.html", staff, 502, error=error)
        days: dict[str, list[Any]] = defaultdict(list)
        for slot in slots:
            days[french.day(slot["starts_at"])].append(slot)
        return page(
            request,
            "interviews.html",
            staff,
            422 if problem else 200,
            level=niveau,
            campaign=campaign,
            days=days,
            note_max_length=NOTE_MAX_LENGTH,
            kept=kept or {},
            **({"problem": problem} if problem else {}),
        )

    @router.get("/entretiens.ics")
    async def interviews_calendar(
        request: Request,
        staff: Annotated[Staff, AS_INTERVIEWER],
        niveau: Annotated[str | None, Query(pattern="^M[12]$")] = None,
        campagne: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> Response:
        campaign = campaign_of(campagne)
        try:
            slots = await schedule(request, staff, campaign, niveau)
        except ServiceError as error:
            return page(request, "error.html", staff, 502, error=error)
        for slot in slots:
            for key in ("starts_at", "ends_at"):
                slot[key] = datetime.fromisoformat(slot[key])
        return Response(
            ics.calendar(slots, campaign, datetime.now(UTC)),
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="entretiens-{campaign}.ics"'},
        )

    @router.post("/entretiens/{application_id}")
    async def interview_result(
        request: Request,
        application_id: str,
        staff: Annotated[Staff, AS_INTERVIEWER],
        attended: Annotated[str, Form(pattern="^(oui|non)$")],
        score: Annotated[str, Form(max_length=10)] = "",
        niveau: Annotated[str, Form(pattern="^(M[12])?$")] = "",
        notes: Annotated[str, Form()] = "",
    ) -> Response:
        _same_origin(request)
        body: dict[str, Any] = {"attended": attended == "oui", "notes": _note(notes)}
        if attended == "oui":
            try:
                body["score"] = float(score.replace(",", "."))
            except ValueError:
                return back(
                    "/entretiens", niveau=niveau, erreur="La note doit être un nombre de 0 à 20."
                )
        try:
            decision = await services_for(request, staff).post(
                "selection", f"/v1/applications/{application_id}/interview-result", body
            )
        except ServiceError as error:
            refusal = _refusal(error, ("notes",))
            if refusal is NOTE_REFUSED:  # the form comes back as typed
                kept = {application_id: {"attended": attended, "score": score, "notes": notes}}
                problem = f"{application_id} : {refusal}"
                return await interviews_page(
                    request, staff, niveau or None, campaign_of(None), kept, problem
                )
            return back("/entretiens", niveau=niveau, erreur=f"{application_id} : {refusal}")
        outcome = label("status", decision["status"])
        return back(
            "/entretiens",
            niveau=niveau,
            info=f"Entretien de {application_id} enregistré ({outcome}).",
        )

    # -- 3. committee ----------------------------------------------------------------

    async def committee_table(
        request: Request, staff: Staff, campaign: int, level: str
    ) -> dict[str, Any]:
        services = services_for(request, staff)
        rules = await services.get("selection", "/v1/rules")
        ranking = await services.get("selection", f"/v1/rankings/{campaign}/{level}")
        unfinished = await services.get(
            "selection", "/v1/applications/unfinished", campaign=campaign, level=level
        )
        async with context.session_factory() as session:
            views = await read_views(session, campaign)
            counted = await read_place_counts(session, campaign)
        levels = summarise(views, settings.capacities, counted)
        held = {lv.value: s.held for lv, s in levels.items()}
        capacity = rules["capacities"].get(level, 0)
        table = committee.rows(ranking, rules, max(capacity - held.get(level, 0), 0))
        return {
            "rules": rules,
            "table": table,
            "decided": committee.decided(ranking),
            "unfinished": unfinished,
            "capacity": capacity,
        }

    @router.get("/commission")
    async def committee_page(
        request: Request,
        staff: Annotated[Staff, AS_COMMITTEE],
        niveau: Annotated[str, Query(pattern="^M[12]$")] = "M1",
        campagne: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> HTMLResponse:
        campaign = campaign_of(campagne)
        try:
            found = await committee_table(request, staff, campaign, niveau)
        except ServiceError as error:
            return page(request, "error.html", staff, 502, error=error)
        return page(
            request,
            "committee.html",
            staff,
            level=niveau,
            campaign=campaign,
            outcomes=committee.OUTCOMES,
            **found,
        )

    @router.get("/commission.csv")
    async def committee_csv(
        request: Request,
        staff: Annotated[Staff, AS_COMMITTEE],
        niveau: Annotated[str, Query(pattern="^M[12]$")] = "M1",
        campagne: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> Response:
        campaign = campaign_of(campagne)
        try:
            found = await committee_table(request, staff, campaign, niveau)
        except ServiceError as error:
            return page(request, "error.html", staff, 502, error=error)
        if not found["decided"]:
            return back("/commission", niveau=niveau, erreur="La commission n'a pas encore décidé.")
        out = io.StringIO()
        csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(
            committee.csv_lines(niveau, found["table"])
        )
        return Response(
            "\ufeff" + out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="commission-{campaign}-{niveau}.csv"'
                )
            },
        )

    # -- 4. a file's history ---------------------------------------------------------

    @router.get("/dossier")
    async def history(
        request: Request,
        staff: Annotated[Staff, AS_STAFF],
        q: Annotated[str, Query(max_length=100), SingleLine] = "",
    ) -> HTMLResponse:
        """`q`: an application id, or part of a name; a control character is refused
        (422) before any database, which takes no NUL."""
        query = q.strip()
        if not query:
            return page(request, "history.html", staff, query="", found=None)
        services = services_for(request, staff)
        async with context.session_factory() as session:
            view = await read_view(session, query)
            events = await read_history(session, query)
        if view is None and not events:
            try:
                matches = (
                    await services.post(
                        "candidature", "/v1/applications/search", {"name": query, "limit": 50}
                    )
                    if len(query) >= 2
                    else []
                )
            except ServiceError as error:
                return page(request, "error.html", staff, 502, error=error)
            return page(request, "history.html", staff, query=query, found=None, matches=matches)
        problems = []
        try:
            file = await services.get("candidature", f"/v1/applications/{query}")
        except ServiceError as error:
            file, problems = None, [error.message]
        try:
            messages = await services.get("notification", f"/v1/applications/{query}/messages")
        except ServiceError as error:
            messages, problems = [], [*problems, error.message]
        notes = None
        try:
            notes = await services.get("selection", f"/v1/applications/{query}/notes")
        except ServiceError as error:
            if error.status != status.HTTP_404_NOT_FOUND:  # 404: not with selection yet
                problems = [*problems, error.message]
        for event in events:
            event["phrases"] = describe(event["details"])
        return page(
            request,
            "history.html",
            staff,
            query=query,
            found=True,
            state=current_state(view) if view else "inconnu du tableau de bord",
            events=events,
            file=file,
            messages=messages,
            notes=notes,
            problems=problems,
        )

    # -- 5. operations ---------------------------------------------------------------

    @router.get("/operations")
    async def operations(request: Request, staff: Annotated[Staff, AS_ADMIN]) -> HTMLResponse:
        campaign = campaign_of(None)
        async with context.session_factory() as session:
            dead = await read_dead_letter_list(session)
            failed = await read_failed_messages(session)
            clock = SqlPlatformClock(session)
            now = await clock.now()
            phase = await clock.current_phase(campaign)
        calendar = None
        try:
            calendar = await services_for(request, staff).get(
                "timeline", f"/v1/calendar/{campaign}"
            )
        except ServiceError:
            calendar = None
        return page(
            request,
            "operations.html",
            staff,
            dead=dead,
            failed=failed,
            now=now,
            phase=phase.value if phase else None,
            calendar=calendar,
            phases=PHASES,
            lag=context.extras.get("lag", {}),
        )

    @router.post("/operations/lettres")
    async def redrive_dead_letter(
        request: Request,
        staff: Annotated[Staff, AS_ADMIN],
        topic: Annotated[str, Form(max_length=200)],
        partition: Annotated[int, Form()],
        offset: Annotated[int, Form()],
        consumer: Annotated[str, Form(max_length=100)],
    ) -> Response:
        _same_origin(request)
        key = {"topic": topic, "partition": partition, "offset": offset, "consumer": consumer}
        async with context.session_factory() as session, session.begin():
            rows = [
                row
                for row in await read_dead_letter_list(session, limit=10_000)
                if all(row[name] == value for name, value in key.items())
            ]
            if not rows or rows[0]["dead_letter_offset"] is None:
                return back("/operations", erreur="Lettre morte introuvable ou sans position.")
            found = rows[0]
            try:
                await redrive(
                    context.broker,
                    settings.kafka_bootstrap,
                    topic,
                    found["dead_letter_partition"],
                    found["dead_letter_offset"],
                )
            except CannotRedrive as exc:
                log.warning(
                    "dead letter %s[%d]@%d not re-driven: %s", topic, partition, offset, exc
                )
                return back("/operations", erreur="Impossible de relancer cette lettre morte.")
            await mark_redriven(session, key, staff.name, datetime.now(UTC))
        log.info(
            "dead letter %s[%d]@%d (consumer %s) re-driven by %s",
            topic,
            partition,
            offset,
            consumer,
            staff.name,
        )
        return back("/operations", info=f"Lettre morte {topic}[{partition}]@{offset} relancée.")

    @router.post("/operations/messages/{application_id}")
    async def resend(
        request: Request, application_id: str, staff: Annotated[Staff, AS_ADMIN]
    ) -> Response:
        _same_origin(request)
        services = services_for(request, staff)
        try:
            messages = await services.get(
                "notification", f"/v1/applications/{application_id}/messages"
            )
            failed = [m["id"] for m in messages if m["status"] == "failed"]
            answer = (
                await services.post("notification", "/v1/messages/requeue", {"message_ids": failed})
                if failed
                else {"requeued": 0}
            )
        except ServiceError as error:
            return back("/operations", erreur=error.message)
        return back(
            "/operations",
            info=f"{answer['requeued']} message(s) de {application_id} remis à l'envoi.",
        )

    return router
