"""A candidate's phone number as the portal sends it (free-form: E.164 or French national
form) made into E.164, the only form the SMS gateway takes. Pure: no I/O."""

from __future__ import annotations

import re

from ifuno_shared.events.candidature import Contact
from ifuno_shared.events.portal import Candidate

# What people type between digits: spaces (also non-breaking), dots, dashes, slashes,
# brackets. "(0)" after a country code is the trunk prefix some write: dropped.
_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")
_TRUNK_AFTER_CODE = re.compile(r"^(\+\d{1,3})\s*\(0\)")

FRANCE = "33"
# Overseas departments dial like metropolitan France (10 digits from 0) but have their
# own country codes: 0690 12 34 56 is +590 690 12 34 56.
_OVERSEAS = {
    "590": "590",  # Guadeloupe, Saint-Martin, Saint-Barthélemy (fixed)
    "690": "590",
    "691": "590",
    "594": "594",  # Guyane
    "694": "594",
    "596": "596",  # Martinique
    "696": "596",
    "697": "596",
    "262": "262",  # La Réunion
    "263": "262",
    "692": "262",
    "693": "262",
    "269": "262",  # Mayotte
    "639": "262",
}


def normalize_phone(raw: str) -> str | None:
    """The number in E.164 (`+33612345678`), or None if it cannot be one.

    Accepted: `06 12 34 56 78`, `06.12.34.56.78`, `+33 6 12 34 56 78`,
    `+33 (0)6 12 34 56 78`, `0033 6 12 34 56 78`, and any other country's number in
    international form (`+` or `00`, then 8 to 15 digits)."""
    text = _TRUNK_AFTER_CODE.sub(r"\1", raw.strip())
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit():
            return None
        if digits.startswith(FRANCE):
            return _french(digits[len(FRANCE) :])
        if 8 <= len(digits) <= 15 and digits[0] != "0":
            return "+" + digits
        return None
    if text.isdigit() and len(text) == 10 and text[0] == "0" and text[1] != "0":
        return _national(text[1:])
    return None


def _french(subscriber: str) -> str | None:
    """After +33: 9 digits, the first not 0 (a national 0 typed after +33 is dropped)."""
    if len(subscriber) == 10 and subscriber[0] == "0":
        subscriber = subscriber[1:]
    if len(subscriber) == 9 and subscriber.isdigit() and subscriber[0] != "0":
        return "+" + FRANCE + subscriber
    return None


def _national(subscriber: str) -> str:
    """The 9 digits after the national 0, with the country code they belong to."""
    code = _OVERSEAS.get(subscriber[:3], FRANCE)
    return "+" + code + subscriber


def contact_from(candidate: Candidate) -> Contact:
    """What notification needs of the candidate: a number it can text, or none, and
    then `phone_unusable` (the file is kept; staff see why no SMS is sent). Built
    without validating again what the portal's event was validated for (the email
    address's check was a tenth of candidature's CPU in a burst)."""
    phone = None if candidate.phone is None else normalize_phone(candidate.phone)
    return Contact.model_construct(
        candidate_id=candidate.candidate_id,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        email=candidate.email,
        phone=phone,
        sms_opt_in=candidate.sms_opt_in,
        phone_unusable=candidate.phone is not None and phone is None,
    )
