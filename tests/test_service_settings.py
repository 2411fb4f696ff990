"""Each service's console script stops at start on a wrong setting: exit status 2 and
one line naming the variable (CONTRACTS.md, "Running a service"), before it touches a
database or a broker. `migrate` is run: were a setting let through, it would fail on
the unreachable database, not hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SERVICES = ("candidature", "selection", "notification", "timeline", "dashboard")
UNREACHABLE = "postgresql+asyncpg://ifuno:s3cret-pw@127.0.0.1:1/ifuno"


def good_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("IFUNO_")}
    env.update(
        {f"IFUNO_{service.upper()}_DATABASE_URL": UNREACHABLE for service in SERVICES},
        IFUNO_KAFKA_BOOTSTRAP="127.0.0.1:1",
        IFUNO_SMTP_HOST="127.0.0.1",
    )
    return env


def stopped(service: str, **values: str) -> str:
    """The console script's one line on stderr, once it stopped with exit status 2."""
    script = Path(sys.executable).parent / f"ifuno-{service}"
    done = subprocess.run(
        [str(script), "migrate"],
        env={**good_environment(), **values},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr.removesuffix("\n")


@pytest.mark.parametrize(
    ("service", "values", "named"),
    [
        ("selection", {"IFUNO_KAFKA_BOOTSTRAP": ""}, "IFUNO_KAFKA_BOOTSTRAP"),
        ("timeline", {"IFUNO_KAFKA_BOOTSTRAP": " , "}, "IFUNO_KAFKA_BOOTSTRAP"),
        (
            "selection",
            {"IFUNO_SELECTION_DATABASE_URL": "postgresql"},
            "IFUNO_SELECTION_DATABASE_URL",
        ),
        (
            "notification",
            {"IFUNO_NOTIFICATION_DATABASE_URL": "postgresql://u:s3cret-pw@h:notaport/x"},
            "IFUNO_NOTIFICATION_DATABASE_URL",
        ),
        ("dashboard", {"IFUNO_LOG_LEVEL": "LOUD"}, "IFUNO_LOG_LEVEL"),
    ],
)
def test_a_wrong_setting_stops_the_console_script_with_one_line_naming_it(
    service: str, values: dict[str, str], named: str
) -> None:
    line = stopped(service, **values)
    assert line.startswith(f"configuration error: {named} is invalid: "), line
    assert "s3cret-pw" not in line
