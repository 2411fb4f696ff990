"""The refusals of ifuno_shared.errors answer as the routes' own HTTPExceptions did."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter
from ifuno_shared.errors import Conflict, InvalidValue, NotFound
from ifuno_shared.http import create_app
from pydantic import BaseModel, Field

pytestmark = pytest.mark.unit


class Unknown(NotFound):
    pass


class Backwards(InvalidValue):
    field = "now"


class Note(BaseModel):
    note: Annotated[str, Field(max_length=10)]


async def ready() -> dict[str, bool]:
    return {}


def app() -> httpx.AsyncClient:
    router = APIRouter()
    refusals = {
        "missing": Unknown("no application A-1"),
        "conflict": Conflict("the file is closed, not in review"),
        "backwards": Backwards("the clock is at 2027-05-02, not before"),
    }

    @router.post("/{what}")
    async def refuse(what: str) -> None:
        raise refusals[what]

    served = create_app("test", [router], ready, {})
    return httpx.AsyncClient(transport=httpx.ASGITransport(served), base_url="http://test")


@pytest.mark.parametrize(
    ("what", "status", "detail"),
    [
        ("missing", 404, "no application A-1"),
        ("conflict", 409, "the file is closed, not in review"),
        (
            "backwards",
            422,
            [
                {
                    "loc": ["body", "now"],
                    "msg": "the clock is at 2027-05-02, not before",
                    "type": "value_error",
                }
            ],
        ),
    ],
)
async def test_a_refusal_answers_its_status_with_its_message(
    what: str, status: int, detail: object
) -> None:
    async with app() as client:
        response = await client.post(f"/{what}")
    assert (response.status_code, response.json()) == (status, {"detail": detail})


async def test_a_refused_body_is_named_never_echoed() -> None:
    """A refused value may be personal data (a name, a staff note): the 422 names the
    field and the rule, never the value."""
    router = APIRouter()

    @router.post("/note")
    async def take(body: Note) -> None:
        """Refused before it runs."""

    served = create_app("test", [router], ready, {})
    transport = httpx.ASGITransport(served)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/note", json={"note": "Héliotrope Quelmarque"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "note"] and error["type"] == "string_too_long"
    assert "input" not in error and "Quelmarque" not in response.text
