"""Staff authentication, the endpoints every service has (/health, /ready, /metrics), and
the HTTP answers to the refusals of `ifuno_shared.errors`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from ifuno_shared.errors import Conflict, InvalidValue, NotFound
from ifuno_shared.staff import Staff, staff_for

__all__ = [
    "MAX_BODY_BYTES",
    "SESSION_COOKIE",
    "RequestBody",
    "SessionSigner",
    "Staff",
    "create_app",
    "operations_router",
    "require_role",
    "staff_for",
]

MAX_BODY_BYTES = 1_000_000
"""Larger request bodies are refused (413, FastAPI's own limit: the announced length, or
the bytes as they stream in): no staff request comes near it."""

SESSION_COOKIE = "ifuno_session"


class RequestBody(BaseModel):
    """A staff request's JSON body: an unknown field is a 422 naming it (a misspelt
    field would otherwise be dropped without a word), and booleans and numbers are
    JSON's own (`"yes"` or `"17"` is refused, not converted)."""

    model_config = ConfigDict(extra="forbid", strict=True)


_bearer = HTTPBearer(auto_error=False)
_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)

ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool]]]
ExceptionHandler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


class SessionSigner:
    """Signed, short-lived session cookies (a staff page signs in once, then its requests
    carry no token). The key is the process's own: a restart signs everyone out."""

    def __init__(self, lifetime_seconds: int = 8 * 3600, key: bytes | None = None) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._key = key or secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def issue(self, staff: Staff, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.lifetime_seconds)
        payload = json.dumps([staff.name, staff.role, expires]).encode()
        return ".".join(
            base64.urlsafe_b64encode(part).decode().rstrip("=")
            for part in (payload, self._mac(payload))
        )

    def read(self, value: str, now: float | None = None) -> Staff | None:
        """The signed-in staff member, or None (forged, damaged or expired)."""
        try:
            payload, mac = (
                base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in value.split(".")
            )
            if not hmac.compare_digest(self._mac(payload), mac):
                return None
            name, role, expires = json.loads(payload)
        except ValueError:
            return None
        if (time.time() if now is None else now) >= expires:
            return None
        return Staff(str(name), str(role))


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or invalid bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _allowed(staff: Staff | None, allowed: frozenset[str]) -> Staff:
    if staff is None:
        raise _unauthorized()
    if staff.role not in allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this role may not do this")
    return staff


def _from_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Staff | None:
    tokens: Mapping[str, Staff] = getattr(request.app.state, "api_tokens", {})
    return None if credentials is None else staff_for(tokens, credentials.credentials)


def require_role(*roles: str, session: bool = False) -> Callable[..., Awaitable[Staff]]:
    """A FastAPI dependency: who called (`Staff`: the token's name and role); 401 without
    a valid token, 403 when the role may not call the route.

    The token table is `app.state.api_tokens` (from IFUNO_API_TOKENS). With `session`,
    a valid session cookie (`app.state.sessions`, see `SessionSigner`) does as well as a
    token: for a page, whose requests must not carry the token in their address.
    """
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Staff:
        return _allowed(_from_token(request, credentials), allowed)

    async def dependency_or_session(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_session_cookie)],
    ) -> Staff:
        staff = _from_token(request, credentials)
        if staff is None and credentials is None and cookie:
            staff = request.app.state.sessions.read(cookie)
        return _allowed(staff, allowed)

    return dependency_or_session if session else dependency


def operations_router(readiness: ReadinessCheck) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        """The database and the broker answer."""
        checks = dict(await readiness())
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @router.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _answer(status_code: int) -> ExceptionHandler:
    """The refusal's message as `detail`, as the routes' own HTTPExceptions answer."""

    async def handler(request: Request, exc: Exception) -> Response:
        return await http_exception_handler(request, HTTPException(status_code, str(exc)))

    return handler


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, without the `input` it would echo: a refused value may be
    personal data (a name, a staff note), and error bodies carry none."""
    assert isinstance(exc, RequestValidationError)
    errors = [{key: value for key, value in e.items() if key != "input"} for e in exc.errors()]
    return await request_validation_exception_handler(request, RequestValidationError(errors))


async def _invalid_value(request: Request, exc: Exception) -> Response:
    """A 422 shaped like FastAPI's request validation errors, on the field named."""
    assert isinstance(exc, InvalidValue)
    error = {"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}
    return await request_validation_exception_handler(request, RequestValidationError([error]))


class _BodyLimit:
    """413 for a request body over the limit, whether or not its route reads a body
    (FastAPI's own limit applies only where one is read): an announced length is
    checked at once, a streamed (chunked) body is read up to the limit and replayed."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > MAX_BODY_BYTES:
                await _too_large(scope, receive, send)
                return
            await self._app(scope, receive, send)
            return
        if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            await self._app(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > MAX_BODY_BYTES:
                await _too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(parts), "more_body": False}

        await self._app(scope, replay, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        {"detail": "Content Too Large"}, status_code=status.HTTP_413_CONTENT_TOO_LARGE
    )
    await response(scope, receive, send)


def create_app(
    title: str,
    routers: list[APIRouter],
    readiness: ReadinessCheck,
    api_tokens: Mapping[str, Staff],
    *,
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """`lifespan` holds the service's broker, relay and background tasks (the runtime's)."""
    app = FastAPI(
        title=title,
        version="1",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        exception_handlers={
            NotFound: _answer(status.HTTP_404_NOT_FOUND),
            Conflict: _answer(status.HTTP_409_CONFLICT),
            InvalidValue: _invalid_value,
            RequestValidationError: _invalid_request,
        },
    )
    app.add_middleware(_BodyLimit)
    app.state.api_tokens = dict(api_tokens)
    app.state.sessions = SessionSigner()
    app.include_router(operations_router(readiness))
    for router in routers:
        app.include_router(router)
    return app
