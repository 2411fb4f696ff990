"""The platform-wide settings: a missing or wrong one stops the service at start with one
clear line naming it (CONTRACTS.md, "Running a service"), exit status 2."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from ifuno_shared.runtime.settings import ConfigurationError, ServiceSettings, load_settings

pytestmark = pytest.mark.unit

GOOD = {"X_DATABASE_URL": "postgresql+asyncpg://u:secret@db:5432/x", "IFUNO_KAFKA_BOOTSTRAP": "k:1"}


def settings_class() -> type[ServiceSettings]:
    return type("S", (ServiceSettings,), {"model_config": {"env_prefix": "X_", "extra": "ignore"}})


def environ(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Only `GOOD` and `values` set among the platform's variables."""
    for name in list(os.environ):
        if name.startswith(("IFUNO_", "X_")):
            monkeypatch.delenv(name)
    for name, value in {**GOOD, **values}.items():
        monkeypatch.setenv(name, value)


def loaded(monkeypatch: pytest.MonkeyPatch, **values: str) -> ServiceSettings:
    environ(monkeypatch, **values)
    return load_settings(settings_class())


def refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **values: str
) -> str:
    """The one line the loader prints when it stops the service (exit status 2)."""
    environ(monkeypatch, **values)
    with pytest.raises(ConfigurationError) as stopped:
        load_settings(settings_class())
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err.removesuffix("\n")


@pytest.mark.parametrize(
    "value",
    ["", " ", " , ", "k:1,", ",k:1", "k:", "k:0", "k:65536", "k:port", "k:1:2", "a b:1", "[::1"],
)
def test_a_wrong_kafka_bootstrap_stops_the_service_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, IFUNO_KAFKA_BOOTSTRAP=value)
    assert line.startswith("configuration error: IFUNO_KAFKA_BOOTSTRAP is invalid: ")
    assert "host[:port]" in line


@pytest.mark.parametrize(
    "value", ["kafka:9092", "kafka", "127.0.0.1:1", "a:1, b.example:65535", "[::1]:9092", "[::1]"]
)
def test_kafka_bootstrap_is_a_list_of_hosts_with_their_ports(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loaded(monkeypatch, IFUNO_KAFKA_BOOTSTRAP=value).kafka_bootstrap == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "postgresql",
        "postgresql://u:secret@db:notaport/x",
        "postgresql://u:secret@db:99999/x",
        "postgresql://u:secret@db:0/x",
        "postgresql+psycopg2://u:secret@db/x",
        "mysql://u:secret@db/x",
    ],
)
def test_a_wrong_database_url_stops_the_service_naming_it_but_not_the_password(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, X_DATABASE_URL=value)
    assert line.startswith("configuration error: X_DATABASE_URL is invalid: "), line
    assert "postgresql+asyncpg://" in line
    assert "secret" not in line and "notaport" not in line


@pytest.mark.parametrize(
    "value",
    [
        "postgresql+asyncpg://u:secret@db:5432/x",
        "postgresql://u@db/x",
        "postgres://u@db:65535/x",
        "postgresql+asyncpg://u@[::1]:5432/x",
        "postgresql+asyncpg:///x?host=/run/postgresql",
    ],
)
def test_a_postgresql_url_is_kept_as_given(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert loaded(monkeypatch, X_DATABASE_URL=value).database_url == value


@pytest.mark.parametrize("value", ["LOUD", "", "10", "INFO,DEBUG", "NOTSET"])
def test_a_wrong_log_level_stops_the_service_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, IFUNO_LOG_LEVEL=value)
    assert line.startswith("configuration error: IFUNO_LOG_LEVEL is invalid: "), line
    assert "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'" in line


@pytest.mark.parametrize(
    ("value", "level"),
    [("debug", "DEBUG"), ("Info", "INFO"), ("WARNING", "WARNING"), (" error ", "ERROR")],
)
def test_the_log_level_is_a_standard_name_in_any_case(
    value: str, level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loaded(monkeypatch, IFUNO_LOG_LEVEL=value).log_level == level
    assert loaded(monkeypatch).log_level == "INFO"


@pytest.mark.parametrize(
    "value",
    [
        "1811000000",
        "1811000000.5",
        "2027-01-01T09:00Z",
        "2027-01-01T09:00+01:00",
        "2027-01-01T09:00:00",
        "2027-01-01",
        "2027-01-01T09:00:00+0100",
        "2027-01-01T09:00:00 +01:00",
        "2027-13-01T09:00:00Z",
        "notadate",
    ],
)
def test_a_clock_start_that_is_no_rfc3339_date_time_stops_the_service_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, IFUNO_CLOCK="simulated", IFUNO_CLOCK_START=value)
    assert line.startswith("configuration error: IFUNO_CLOCK_START is invalid: "), line


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ("2027-01-01T09:00:00Z", datetime(2027, 1, 1, 9, tzinfo=UTC)),
        ("2027-01-01t10:00:00+01:00", datetime(2027, 1, 1, 9, tzinfo=UTC)),
        ("2027-01-01 09:00:00.250z", datetime(2027, 1, 1, 9, 0, 0, 250_000, tzinfo=UTC)),
        ("2027-01-01T07:30:00-01:30", datetime(2027, 1, 1, 9, tzinfo=UTC)),
    ],
)
def test_the_clock_start_is_an_rfc3339_date_time_with_its_offset(
    value: str, instant: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loaded(monkeypatch, IFUNO_CLOCK_START=value).clock_start == instant
    in_code = datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert (
        ServiceSettings(
            database_url=GOOD["X_DATABASE_URL"], kafka_bootstrap="k:1", clock_start=in_code
        ).clock_start
        == in_code
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IFUNO_DB_STATEMENT_TIMEOUT", "inf"),
        ("IFUNO_DB_LOCK_TIMEOUT", "3000000"),
        ("IFUNO_DB_IDLE_IN_TRANSACTION_TIMEOUT", "Infinity"),
        ("IFUNO_DB_CONNECT_TIMEOUT", "inf"),
        ("IFUNO_HOUSEKEEPING_INTERVAL", "inf"),
        ("IFUNO_OUTBOX_KEEP_DAYS", "inf"),
        ("IFUNO_INBOX_KEEP_DAYS", "1e10"),
    ],
)
def test_an_endless_or_overflowing_number_stops_the_service_naming_it(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refusal(monkeypatch, capsys, **{variable: value})
    assert line.startswith(f"configuration error: {variable} is invalid: "), line


def test_the_largest_timeouts_and_keeps_postgresql_and_python_take_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = loaded(
        monkeypatch, IFUNO_DB_STATEMENT_TIMEOUT="2147483", IFUNO_OUTBOX_KEEP_DAYS="999999999"
    )
    assert settings.database_timeouts.server_settings()["statement_timeout"] == "2147483000"
    assert settings.housekeeping_windows.outbox.days == 999999999
