"""Per-year overrides of the calendar, from a TOML or JSON file.

[2027]
main_submissions_close = 2027-05-20T23:59:00+02:00
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path

from ifuno_shared.calendar import CampaignCalendar, InvalidCalendar, default_calendar


def load_calendar(campaign: int, path: Path | None) -> CampaignCalendar:
    """The default calendar with the file's overrides for `campaign`, validated.

    The refusals never name the file: they may reach an HTTP answer (409), and where the
    files live is the operator's business (the service names the setting at start)."""
    calendar = default_calendar(campaign)
    if path is None:
        return calendar
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise InvalidCalendar(f"cannot read the calendar file: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidCalendar(f"the calendar file is not valid TOML or JSON: {exc}") from exc
    overrides = document.get(str(campaign), {})
    if not isinstance(overrides, dict):
        raise InvalidCalendar(f"[{campaign}] must be a table of dates")
    parsed: dict[str, datetime] = {}
    for name, value in overrides.items():
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise InvalidCalendar(f"{name}: not an RFC 3339 date: {value!r}") from exc
        if not isinstance(value, datetime):
            raise InvalidCalendar(f"{name}: expected a date and time with an offset")
        parsed[name] = value
    return calendar.with_overrides(parsed)
