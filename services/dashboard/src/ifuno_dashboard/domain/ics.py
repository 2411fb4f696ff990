"""The interview schedule as an iCalendar file (RFC 5545) for interviewers' calendars:
application ids, times and places only (no candidate's name leaves in a calendar)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """Lines of at most 75 octets, continued with a leading space."""
    parts, current = [], ""
    for char in line:
        if len((current + char).encode()) > 74:
            parts.append(current)
            current = " "
        current += char
    return [*parts, current]


def calendar(slots: Iterable[dict[str, Any]], campaign: int, now: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Le Mans Universite//IFUNO entretiens//FR",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:" + _text(f"Entretiens IFUNO {campaign}"),
    ]
    for slot in slots:
        where = slot.get("video_url") or slot.get("location") or ""
        how = "en visioconférence" if slot.get("video_url") else "sur place"
        application, level = slot["application_id"], slot["level"]
        lines += [
            "BEGIN:VEVENT",
            f"UID:{application}-{_stamp(slot['starts_at'])}@ifuno.univ-lemans.fr",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(slot['starts_at'])}",
            f"DTEND:{_stamp(slot['ends_at'])}",
            "SUMMARY:" + _text(f"Entretien {level} — dossier {application}"),
            f"LOCATION:{_text(where)}",
            "DESCRIPTION:" + _text(f"Entretien {how}, dossier {application}."),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
