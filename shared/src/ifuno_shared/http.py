"""Staff authentication, the endpoints every service has (/health, /ready, /metrics), and
the HTTP answers to the refusals of `ifuno_shared.errors`."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import Lifespan

from ifuno_shared.errors import Conflict, InvalidValue, NotFound

_bearer = HTTPBearer(auto_error=False)

ReadinessCheck = Callable[[], Awaitable[Mapping[str, bool]]]
ExceptionHandler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def _role_for(tokens: Mapping[str, str], presented: str) -> str | None:
    for token, role in tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            return role
    return None


def require_role(*roles: str) -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency: the caller's role, 401 without a valid token, 403 if not allowed.

    The token table is `app.state.api_tokens` (from IFUNO_API_TOKENS).
    """
    allowed = frozenset(roles)

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        tokens: Mapping[str, str] = getattr(request.app.state, "api_tokens", {})
        role = None if credentials is None else _role_for(tokens, credentials.credentials)
        if role is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {role!r} may not do this; allowed: {', '.join(sorted(allowed))}",
            )
        return role

    return dependency


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


async def _invalid_value(request: Request, exc: Exception) -> Response:
    """A 422 shaped like FastAPI's request validation errors, on the field named."""
    assert isinstance(exc, InvalidValue)
    error = {"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}
    return await request_validation_exception_handler(request, RequestValidationError([error]))


def create_app(
    title: str,
    routers: list[APIRouter],
    readiness: ReadinessCheck,
    api_tokens: Mapping[str, str],
    *,
    lifespan: Lifespan[FastAPI] | None = None,
) -> FastAPI:
    """`lifespan` holds the service's broker, relay and background tasks (the runtime's)."""
    app = FastAPI(
        title=title,
        version="1",
        lifespan=lifespan,
        exception_handlers={
            NotFound: _answer(status.HTTP_404_NOT_FOUND),
            Conflict: _answer(status.HTTP_409_CONFLICT),
            InvalidValue: _invalid_value,
        },
    )
    app.state.api_tokens = dict(api_tokens)
    app.include_router(operations_router(readiness))
    for router in routers:
        app.include_router(router)
    return app
