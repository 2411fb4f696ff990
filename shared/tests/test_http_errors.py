"""The refusals of ifuno_shared.errors answer as the routes' own HTTPExceptions did."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from ifuno_shared.errors import Conflict, InvalidValue, NotFound
from ifuno_shared.http import create_app

pytestmark = pytest.mark.unit


class Unknown(NotFound):
    pass


class Backwards(InvalidValue):
    field = "now"


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
