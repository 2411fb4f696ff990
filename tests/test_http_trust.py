"""Every service's HTTP API at its trust boundary, the five running together on real servers.

- A candidate's file is seeded through the services' own paths (the portal's event, a
  review by HTTP, the messages the notification service sends), then every GET is
  called with the `viewer` token: no name, email, phone, diploma or score comes back.
- schemathesis fuzzes each service from its own `/openapi.json`, with no token, each
  role's token and garbage tokens: never a 5xx; 401 without a valid token, 403 for a
  role the route refuses (bounded examples: a few seconds per service).
- A body over 1 MB gets 413 through the real HTTP server, announced or streamed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import new_event
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    Candidate,
    Diploma,
)
from ifuno_shared.http import MAX_BODY_BYTES
from ifuno_tools.contracts import SERVICES
from ifuno_tools.local import PostgresAdmin
from ifuno_tools.testing.kafka import produce_events
from ifuno_tools.testing.platform import InProcessPlatform as Platform
from ifuno_tools.testing.platform import platform_in_process
from ifuno_tools.testing.portal import documents
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

pytestmark = [
    pytest.mark.integration,
    # schemathesis's own strategies draw from `random`; nothing this test can change.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

TOKENS = {
    "tok-admin": "a.martin:admin",
    "tok-committee": "c.durand:committee",
    "tok-reviewer": "r.dupont:reviewer",
    "tok-viewer": "tableau:viewer",
}
ROLE_TOKENS = {staff.rsplit(":", 1)[1]: token for token, staff in TOKENS.items()}
GARBAGE = {
    "unknown": b"Bearer tok-admin-not",
    "non-ascii": "Bearer tök-ädmin 日本".encode(),
    "latin-1": b"Bearer \xe9\xff",
    "not bearer": b"Basic dG9rLWFkbWluOng=",
}
APPLICATION = "TRUST-0001"
PERSONAL = {
    "first_name": "Zéphyrine",
    "last_name": "Quelmarque",
    "email": "zephyrine.quelmarque@example.org",
    "phone": "+33612345678",
}
DIPLOMA = Diploma(level="bac+3", field="Ethnobotanique lacustre", title="Licence Ornithorynque")
SECRETS = [*PERSONAL.values(), "0612345678", "612345678", DIPLOMA.field, DIPLOMA.title]
"""What a viewer must never read, in any answer."""
SCORE_KEYS = {"file_score", "interview_score", "total", "scores", "score", "address"}


@pytest.fixture(scope="module")
async def platform(postgres: PostgresAdmin, tmp_path_factory) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    async with platform_in_process(
        postgres,
        tmp_path_factory.mktemp("trust"),
        tokens=TOKENS,
        clock_start=datetime(2027, 5, 2, 9, tzinfo=PARIS),
    ) as found:
        await seed(found, found.bootstrap)
        yield found


def submission() -> ApplicationSubmitted:
    submitted_at = datetime(2027, 5, 2, 10, tzinfo=PARIS)
    return ApplicationSubmitted(
        application_id=APPLICATION,
        campaign=2027,
        level="M1",
        regime="formation_initiale",
        candidate=Candidate(candidate_id="C-TRUST", sms_opt_in=False, **PERSONAL),
        employed=False,
        highest_diploma=DIPLOMA,
        vapp=False,
        training_experience_years=3,
        documents=documents(APPLICATION),
        submitted_at=submitted_at,
    )


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ROLE_TOKENS[role]}"}


async def until(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.2)
    return found


async def seed(platform: Platform, bootstrap: str) -> None:
    """One candidate, all the way to an interview invitation and its emails."""
    await produce_events(bootstrap, [new_event(submission(), subject=APPLICATION)])
    reviewer = bearer("reviewer")
    async with platform.http("selection") as selection, platform.http("notification") as sent:

        async def in_review() -> bool:
            files = (await selection.get("/v1/applications", headers=reviewer)).json()
            return any(f["status"] == "in_review" for f in files)

        await until(in_review)
        scores = {"training_involvement": 4, "digital_practice": 4, "project": 4}
        review = await selection.post(
            f"/v1/applications/{APPLICATION}/file-review",
            json={"scores": {**scores, "study_capacity": 4}},
            headers=reviewer,
        )
        assert review.json()["status"] == "shortlisted", review.text

        async def emailed() -> bool:
            path = f"/v1/applications/{APPLICATION}/messages"
            messages = (await sent.get(path, headers=reviewer)).json()
            return {m["template"] for m in messages if m["status"] == "sent"} >= {
                "application_received",
                "interview_scheduled",
            }

        await until(emailed)


PARAMETERS = {"application_id": APPLICATION, "campaign": "2027", "year": "2027", "level": "M1"}


def get_paths(document: dict[str, Any]) -> Iterator[str]:
    for path, operations in document["paths"].items():
        if "get" in operations:
            yield path.format(**PARAMETERS)


async def read(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> httpx.Response:
    """The answer; for the endless event stream, its first event."""
    if not path.startswith("/v1/stream"):
        return await http.get(path, headers=headers)
    async with http.stream("GET", path, headers=headers) as stream:
        if stream.status_code != 200:
            await stream.aread()
            return stream
        lines = stream.aiter_lines()
        first = [await anext(lines), await anext(lines)]
    return httpx.Response(200, text="\n".join(first))


def keys_of(body: Any) -> set[str]:
    if isinstance(body, dict):
        return set(body) | {k for value in body.values() for k in keys_of(value)}
    if isinstance(body, list):
        return {k for item in body for k in keys_of(item)}
    return set()


async def test_the_viewer_token_reads_no_name_address_diploma_or_score(platform: Platform) -> None:
    read_by_viewer: list[str] = []
    for service in SERVICES:
        async with platform.http(service) as http:
            document = (await http.get("/openapi.json")).json()
            for path in get_paths(document):
                answer = await read(http, path, bearer("viewer"))
                if answer.status_code in (401, 403):
                    continue
                assert answer.status_code == 200, (service, path, answer.text)
                read_by_viewer.append(f"{service} {path}")
                for secret in SECRETS:
                    assert secret.lower() not in answer.text.lower(), (service, path, secret)
                if "json" in answer.headers.get("content-type", ""):
                    assert not keys_of(answer.json()) & SCORE_KEYS, (service, path)
    assert "dashboard /v1/summary" in read_by_viewer  # the viewer's own, aggregates only
    # The same answers, read by staff who may: the seeded file is really there.
    async with platform.http("candidature") as candidature:
        file = await candidature.get(f"/v1/applications/{APPLICATION}", headers=bearer("admin"))
        assert PERSONAL["email"] in file.text and DIPLOMA.title in file.text
    async with platform.http("notification") as notification:
        path = f"/v1/applications/{APPLICATION}/messages"
        messages = await notification.get(path, headers=bearer("committee"))
        assert PERSONAL["email"] in messages.text
    async with platform.http("selection") as selection:
        files = await selection.get("/v1/applications", headers=bearer("committee"))
        assert files.json()[0]["file_score"] == 16


@dataclass
class Fuzzed:
    calls: int = 0
    problems: list[str] = field(default_factory=list)


AUTHS: dict[str, dict[str, Any] | None] = {
    "generated token": None,  # whatever schemathesis makes of the bearer scheme
    "no token": {},
    **{f"{role} token": bearer(role) for role in ROLE_TOKENS},
    **{f"{name} token": {"Authorization": value} for name, value in GARBAGE.items()},
}
EXAMPLES = 10


def fuzz(service: str, base_url: str, roles: dict[tuple[str, str], set[str]]) -> Fuzzed:
    """Each operation, with each kind of caller, in valid and invalid shapes."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=10)
    outcome = Fuzzed()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        allowed = roles.get((operation.method.lower(), operation.path), set())
        for who, headers in AUTHS.items():
            role = who.removesuffix(" token")
            if operation.path == "/v1/stream" and role in allowed:
                continue  # endless when allowed; its parameters are the summary's, fuzzed there
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                caller = Caller(who, headers, allowed, mode)
                try:
                    _examples(operation, mode, caller, base_url, session, outcome)
                except Unsatisfiable:
                    continue  # nothing to send wrong: no parameter and no body
                except (Exception, BaseExceptionGroup) as error:  # a 5xx, and how to reproduce it
                    lines = [line for line in str(error).splitlines() if line.strip()]
                    outcome.problems.append(f"{operation.label} as {who}: {' / '.join(lines[:6])}")
    return outcome


@dataclass
class Caller:
    who: str
    headers: dict[str, Any] | None
    """None: the generated Authorization header, if any, is sent; else these instead."""
    allowed: set[str]
    mode: GenerationMode


def role_sent(request: requests.PreparedRequest) -> str | None:
    """The role of the token the request really carried (a negative case may drop ours)."""
    value = request.headers.get("Authorization") or ""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    staff = TOKENS.get(text.removeprefix("Bearer "))
    return None if staff is None else staff.rsplit(":", 1)[1]


def _examples(
    operation: Any,
    mode: GenerationMode,
    caller: Caller,
    base_url: str,
    session: requests.Session,
    outcome: Fuzzed,
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        if caller.headers is not None and case.headers:
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
        response = case.call(base_url=base_url, session=session, headers=caller.headers, timeout=10)
        outcome.calls += 1
        case.validate_response(response, checks=[not_a_server_error])
        expected = _expected(caller.allowed, role_sent(response.request), caller.mode)
        body = response.request.body or b""
        if len(body) > MAX_BODY_BYTES:  # refused before anything else, whoever asks
            expected = {413}
        if expected is not None and response.status_code not in expected:
            outcome.problems.append(
                f"{case.method} {case.formatted_path} as {caller.who}: "
                f"{response.status_code}, expected {sorted(expected)}"
            )

    call()


def _expected(allowed: set[str], role: str | None, mode: GenerationMode) -> set[int] | None:
    """What a secured route must answer: who is refused, before the request is read."""
    if not allowed:
        return None
    malformed = {400, 422} if mode is GenerationMode.NEGATIVE else set()
    if role is None:
        return {401} | malformed  # FastAPI refuses a body that is not JSON before the token
    if role not in allowed:
        return {403} | malformed
    return None


@pytest.mark.parametrize("service", SERVICES)
async def test_fuzzing_every_endpoint_finds_no_5xx_and_the_right_refusals(
    platform: Platform, service: str
) -> None:
    outcome = await asyncio.to_thread(
        fuzz, service, platform.urls[service], platform.roles[service]
    )
    assert not outcome.problems, "\n".join(outcome.problems[:30])
    assert outcome.calls > 50


async def test_a_body_over_one_megabyte_is_413_through_the_server(platform: Platform) -> None:
    large = json.dumps({"token": "x" * 1_100_000}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(large), 100_000):
            yield large[start : start + 100_000]

    for service in SERVICES:
        async with platform.http(service) as http:
            document = (await http.get("/openapi.json")).json()
            posts = [
                p.format(**PARAMETERS) for p, ops in document["paths"].items() if "post" in ops
            ]
            for path in posts:
                for body in (large, chunks()):
                    answer = await http.post(
                        path,
                        content=body,
                        headers={**bearer("admin"), "Content-Type": "application/json"},
                    )
                    assert answer.status_code == 413, (service, path, answer.text)
