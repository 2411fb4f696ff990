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
from ifuno_dashboard.config import DashboardSettings
from ifuno_notification.config import NotificationSettings
from ifuno_selection.config import SelectionSettings
from ifuno_shared.runtime.settings import (
    ConfigurationError,
    ServiceSettings,
    SettingsT,
    load_settings,
)
from ifuno_timeline.config import TimelineSettings

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
        ("notification", {"IFUNO_SMTP_HOST": ""}, "IFUNO_SMTP_HOST"),
        ("notification", {"IFUNO_SMS_GATEWAY_URL": "notaurl"}, "IFUNO_SMS_GATEWAY_URL"),
        (
            "timeline",
            {"IFUNO_CLOCK": "simulated", "IFUNO_CLOCK_START": "1811000000"},
            "IFUNO_CLOCK_START",
        ),
        ("candidature", {"IFUNO_DB_STATEMENT_TIMEOUT": "inf"}, "IFUNO_DB_STATEMENT_TIMEOUT"),
        ("timeline", {"IFUNO_TIMELINE_CLOCK_SPEED": "inf"}, "IFUNO_TIMELINE_CLOCK_SPEED"),
    ],
)
def test_a_wrong_setting_stops_the_console_script_with_one_line_naming_it(
    service: str, values: dict[str, str], named: str
) -> None:
    line = stopped(service, **values)
    assert line.startswith(f"configuration error: {named} is invalid: "), line
    assert "s3cret-pw" not in line


def loaded(cls: type[SettingsT], monkeypatch: pytest.MonkeyPatch, **values: str) -> SettingsT:
    """`cls` read by the loader from the good environment and `values`, nothing else."""
    environment = {**good_environment(), **values}
    for name in list(os.environ):
        if name.startswith("IFUNO_") and name not in environment:
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return load_settings(cls)


def refusal(
    cls: type[ServiceSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **values: str,
) -> str:
    """The loader's one line when it stops the service (exit status 2)."""
    with pytest.raises(ConfigurationError) as stopped:
        loaded(cls, monkeypatch, **values)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.removesuffix("\n")


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("IFUNO_SMTP_HOST", "", "host name or address"),
        ("IFUNO_SMTP_HOST", "  ", "host name or address"),
        ("IFUNO_SMTP_HOST", "smtp example", "host name or address"),
        ("IFUNO_SMS_GATEWAY_URL", "notaurl", "http:// or https:// URL"),
        ("IFUNO_SMS_GATEWAY_URL", "ftp://gw/x", "http:// or https:// URL"),
        ("IFUNO_SMS_GATEWAY_URL", "http://", "http:// or https:// URL"),
        ("IFUNO_SMS_GATEWAY_URL", "http://gw:port", "http:// or https:// URL"),
        ("IFUNO_SMS_GATEWAY_URL", "http://gw:70000", "http:// or https:// URL"),
        ("IFUNO_SMS_GATEWAY_URL", "http://gw:0", "http:// or https:// URL"),
    ],
)
def test_a_wrong_smtp_host_or_sms_gateway_stops_notification_naming_it(
    variable: str,
    value: str,
    problem: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refusal(NotificationSettings, monkeypatch, capsys, **{variable: value})
    assert line.startswith(f"configuration error: {variable} is invalid: "), line
    assert problem in line


def test_the_sms_gateway_is_an_http_url_kept_as_given_or_unset_when_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for url in ("http://127.0.0.1:8025", "https://sms.example/api/"):
        settings = loaded(NotificationSettings, monkeypatch, IFUNO_SMS_GATEWAY_URL=url)
        assert settings.sms_gateway_url == url
    assert (
        loaded(NotificationSettings, monkeypatch, IFUNO_SMS_GATEWAY_URL="").sms_gateway_url is None
    )
    assert loaded(NotificationSettings, monkeypatch).sms_gateway_url is None
    assert loaded(NotificationSettings, monkeypatch).smtp_host == "127.0.0.1"


@pytest.mark.parametrize(
    ("cls", "variable", "value"),
    [
        (DashboardSettings, "IFUNO_DASHBOARD_SELECTION_URL", "selection:8082"),
        (DashboardSettings, "IFUNO_DASHBOARD_TIMELINE_URL", "http://"),
        (SelectionSettings, "IFUNO_SELECTION_VIDEO_BASE_URL", "visio.example/ifuno"),
        (SelectionSettings, "IFUNO_SELECTION_VIDEO_BASE_URL", ""),
        (SelectionSettings, "IFUNO_SELECTION_INTERVIEW_DAY_END", "08:00"),
        (SelectionSettings, "IFUNO_SELECTION_INTERVIEW_DAY_END", "09:00"),
        (TimelineSettings, "IFUNO_TIMELINE_HTTP_HOST", ""),
    ],
)
def test_a_wrong_address_or_interview_day_stops_the_service_naming_it(
    cls: type[ServiceSettings],
    variable: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = refusal(cls, monkeypatch, capsys, **{variable: value})
    assert line.startswith(f"configuration error: {variable} is invalid: "), line


def test_the_dashboard_addresses_are_http_urls_or_unset_when_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = loaded(
        DashboardSettings,
        monkeypatch,
        IFUNO_DASHBOARD_SELECTION_URL="http://selection:8082",
        IFUNO_DASHBOARD_TIMELINE_URL="",
    )
    assert (settings.selection_url, settings.timeline_url) == ("http://selection:8082", None)
    selection = loaded(SelectionSettings, monkeypatch, IFUNO_SELECTION_INTERVIEW_DAY_END="09:01")
    assert selection.video_base_url == "https://visio.univ-lemans.fr/ifuno"
