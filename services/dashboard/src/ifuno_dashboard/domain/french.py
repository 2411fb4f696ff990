"""Dates as French staff read them (Europe/Paris), without the system's locale."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.calendar import PARIS

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def _paris(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.astimezone(PARIS)


def day(value: datetime | str | None) -> str:
    """« lundi 7 juin 2027 »"""
    at = _paris(value)
    if at is None:
        return ""
    return f"{DAYS[at.weekday()]} {at.day} {MONTHS[at.month - 1]} {at.year}"


def moment(value: datetime | str | None) -> str:
    """« lundi 7 juin 2027 à 09 h 30 »"""
    at = _paris(value)
    return "" if at is None else f"{day(at)} à {at:%H} h {at:%M}"


def hour(value: datetime | str | None) -> str:
    at = _paris(value)
    return "" if at is None else f"{at:%H} h {at:%M}"


def score(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")
