"""The workspace's calls to the owning services, server-side, under the signed-in staff
member's own token (the page never holds one): each action is the owning service's."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from ifuno_shared.staff import Staff

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A service answered with a refusal, or not at all; `message` is French, for staff."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail


def token_for(tokens: Mapping[str, Staff], staff: Staff) -> str | None:
    """The token of the signed-in staff member (IFUNO_API_TOKENS is the platform's: the
    other services know it too, under the same name and role)."""
    return next((token for token, owner in tokens.items() if owner == staff), None)


class Services:
    def __init__(self, urls: Mapping[str, str | None], token: str, timeout: float = 10.0) -> None:
        self._urls = urls
        self._token = token
        self._timeout = timeout

    async def call(
        self, service: str, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> Any:
        base = self._urls.get(service)
        if not base:
            raise ServiceError(f"Le service « {service} » n'est pas configuré pour cet espace.")
        try:
            async with httpx.AsyncClient(base_url=base, timeout=self._timeout) as http:
                response = await http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
        except httpx.HTTPError as exc:
            log.warning("%s did not answer: %s", service, type(exc).__name__)
            raise ServiceError(f"Le service « {service} » ne répond pas ; réessayez.") from exc
        if response.status_code >= 400:
            detail = _detail(response)
            raise ServiceError(_refusal(response.status_code), response.status_code, detail)
        return response.json()

    async def get(self, service: str, path: str, **params: Any) -> Any:
        found = {key: value for key, value in params.items() if value is not None}
        return await self.call(service, "GET", path, params=found)

    async def post(self, service: str, path: str, body: Any) -> Any:
        return await self.call(service, "POST", path, json=body)


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail")
    except ValueError:
        return None


def _refusal(status: int) -> str:
    return {
        401: "Votre session n'est plus reconnue : reconnectez-vous.",
        403: "Votre rôle ne permet pas cette action.",
        404: "Dossier introuvable.",
        409: "Ce dossier n'est pas à l'étape qui permet cette action.",
        422: "Une valeur saisie n'est pas valide.",
    }.get(status, "Le service a refusé la demande.")
