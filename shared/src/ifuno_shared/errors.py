"""Kinds of refusal that a service's rules raise, so HTTP maps each kind in one place.

Services subclass these; `ifuno_shared.http.create_app` turns them into 404, 409 and
422 answers for every route, and consumers see plain `LookupError`/`ValueError`s.
"""

from __future__ import annotations


class NotFound(LookupError):
    """What the request names does not exist (HTTP 404)."""


class Conflict(ValueError):
    """The request does not fit the current state of what it names (HTTP 409)."""


class InvalidValue(ValueError):
    """A value the caller sent breaks a rule its type cannot express (HTTP 422).

    `field` names the body field, so the answer reads like FastAPI's own validation errors.
    """

    field: str
