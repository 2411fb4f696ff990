"""Staff identity on HTTP: tokens with names, answers that give nothing away, body limits,
session cookies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Body, Depends
from ifuno_shared.http import SESSION_COOKIE, SessionSigner, Staff, create_app, require_role
from ifuno_shared.runtime.settings import ConfigurationError, ServiceSettings, load_settings
from ifuno_shared.staff import parse_tokens, staff_for

pytestmark = pytest.mark.unit

TOKENS = parse_tokens("t-rev:r.dupont:reviewer,t-rev2:r.dupont:reviewer,t-see:viewer,jéton:j:admin")


async def ready() -> dict[str, bool]:
    return {}


def client(tokens: dict[str, Staff] = TOKENS) -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/who")
    async def who(staff: Annotated[Staff, Depends(require_role("reviewer", "admin"))]) -> dict:
        return {"name": staff.name, "role": staff.role}

    @router.get("/page")
    async def page(
        staff: Annotated[Staff, Depends(require_role("viewer", session=True))],
    ) -> dict:
        return {"name": staff.name}

    @router.post("/echo")
    async def echo(body: Annotated[dict, Body()]) -> int:
        return len(body)

    app = create_app("test", [router], ready, tokens)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test")


def test_tokens_carry_a_name_and_the_old_form_is_named_after_its_role() -> None:
    assert parse_tokens("a:n.one:admin, b:viewer") == {
        "a": Staff("n.one", "admin"),
        "b": Staff("viewer", "viewer"),
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a:b:c:admin", "no ':' inside"),
        ("a:boss", "unknown role"),
        (":n:admin", "token is empty"),
        ("a: :admin", "name must have"),
        ("a:n:admin,a:m:viewer", "twice"),
        ("lonely", "expected token:name:role"),
    ],
)
def test_a_bad_token_setting_stops_the_service_naming_it_but_not_the_token(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IFUNO_API_TOKENS", value)
    monkeypatch.setenv("X_DATABASE_URL", "postgresql://x/y")
    monkeypatch.setenv("IFUNO_KAFKA_BOOTSTRAP", "k:1")
    with pytest.raises(ConfigurationError):
        load_settings(
            type(
                "S",
                (ServiceSettings,),
                {"model_config": {"env_prefix": "X_", "extra": "ignore"}},
            )
        )
    line = capsys.readouterr().err
    assert line.startswith("configuration error: IFUNO_API_TOKENS is invalid") and problem in line
    assert "lonely" not in line


def test_settings_in_code_take_roles_or_names() -> None:
    settings = ServiceSettings(
        database_url="postgresql://x/y",
        kafka_bootstrap="k:1",
        api_tokens={"a": "admin", "b": "b.name:viewer", "c": Staff("c", "reviewer")},
    )
    assert settings.api_tokens == {
        "a": Staff("admin", "admin"),
        "b": Staff("b.name", "viewer"),
        "c": Staff("c", "reviewer"),
    }


def test_any_presented_text_is_just_a_token_that_matches_or_not() -> None:
    assert staff_for(TOKENS, "jéton") == Staff("j", "admin")
    for other in ("jeton", "t-rev ", "\udcff", "", "t-rev\x00"):
        assert staff_for(TOKENS, other) is None


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with client() as served:
        yield served


async def test_the_handler_gets_the_caller_by_name(http: httpx.AsyncClient) -> None:
    for token in ("t-rev", "t-rev2"):
        answer = await http.get("/who", headers={"Authorization": f"Bearer {token}"})
        assert answer.json() == {"name": "r.dupont", "role": "reviewer"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        b"Bearer wrong",
        b"Basic dDpk",
        "Bearer jéton".encode(),  # the right token's UTF-8, read by the server as latin-1
        b"Bearer \xff\xfe",
        "Bearer 日本".encode(),
    ],
)
async def test_a_missing_or_wrong_token_is_401_whatever_its_bytes(
    http: httpx.AsyncClient, authorization: bytes | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = await http.get("/who", headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_403_says_what_is_wrong_not_which_roles_would_do(http: httpx.AsyncClient) -> None:
    answer = await http.get("/who", headers={"Authorization": "Bearer t-see"})
    assert (answer.status_code, answer.json()) == (403, {"detail": "this role may not do this"})


async def test_a_body_over_one_megabyte_is_413_announced_or_streamed(
    http: httpx.AsyncClient,
) -> None:
    small = await http.post("/echo", json={"a": "x" * 1000})
    assert small.json() == 1
    large = b'{"a": "' + b"x" * 1_000_001 + b'"}'
    announced = await http.post(
        "/echo", content=large, headers={"Content-Type": "application/json"}
    )
    assert announced.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(large), 64_000):
            yield large[start : start + 64_000]

    streamed = await http.post(
        "/echo", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413


def test_a_session_cookie_is_signed_and_short_lived() -> None:
    signer = SessionSigner(lifetime_seconds=60)
    cookie = signer.issue(Staff("n", "viewer"), now=1000)
    assert signer.read(cookie, now=1059) == Staff("n", "viewer")
    assert signer.read(cookie, now=1060) is None
    payload, mac = cookie.split(".")
    forged = SessionSigner(lifetime_seconds=60).issue(Staff("n", "admin"), now=1000)
    assert signer.read(f"{forged.split('.')[0]}.{mac}", now=1001) is None
    assert signer.read(forged, now=1001) is None  # another process's key
    for garbage in ("", ".", "a.b.c", "é.é", payload):
        assert signer.read(garbage, now=1001) is None


async def test_a_session_cookie_stands_for_a_token_where_a_route_allows_it(
    http: httpx.AsyncClient,
) -> None:
    app = http._transport.app  # type: ignore[attr-defined]
    cookie = app.state.sessions.issue(Staff("dashboard", "viewer"))
    assert (await http.get("/page")).status_code == 401
    http.cookies.set(SESSION_COOKIE, cookie + "x")
    assert (await http.get("/page")).status_code == 401
    http.cookies.set(SESSION_COOKIE, cookie)
    assert (await http.get("/page")).json() == {"name": "dashboard"}
    # A wrong token is not made good by a cookie, and a token-only route ignores it.
    wrong = {"Authorization": "Bearer wrong"}
    assert (await http.get("/page", headers=wrong)).status_code == 401
    assert (await http.get("/who")).status_code == 401
