"""The console scripts' logging: what libraries may write at INFO."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from ifuno_shared.runtime.cli import QUIET_LIBRARIES, configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture
def restored_levels() -> Iterator[None]:
    """The loggers' levels as they were: other tests read httpx at INFO."""
    before = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def test_no_request_url_reaches_an_info_log(
    restored_levels: None, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs each request's URL at INFO: a name searched in a query would be there."""
    configure_logging("INFO", "test")
    caplog.set_level(logging.INFO)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[])

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        client.get("http://candidature/v1/applications", params={"name": "Quelmarque"})
    logging.getLogger("ifuno").info("still logged")
    assert [r.getMessage() for r in caplog.records] == ["still logged"]
