"""Phone numbers as candidates type them, made E.164 (or found unusable)."""

from __future__ import annotations

import pytest
from ifuno_candidature.domain.contacts import contact_from, normalize_phone
from ifuno_shared.events.portal import Candidate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "typed",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33612345678",
        "+33 (0)6 12 34 56 78",
        "+33 06 12 34 56 78",
        "0033 6 12 34 56 78",
        "0033612345678",
        " 06\u00a012\u00a034\u00a056\u00a078 ",
    ],
)
def test_french_forms_become_e164(typed: str) -> None:
    assert normalize_phone(typed) == "+33612345678"


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("0690 12 34 56", "+590690123456"),  # Guadeloupe
        ("06 92 12 34 56", "+262692123456"),  # La Réunion
        ("02 43 83 31 90", "+33243833190"),
        ("+44 7911 123456", "+447911123456"),
        ("0049 170 1234567", "+491701234567"),
    ],
)
def test_overseas_landlines_and_other_countries(typed: str, e164: str) -> None:
    assert normalize_phone(typed) == e164


@pytest.mark.parametrize(
    "typed",
    [
        "06 12 34",
        "6 12 34 56 78",
        "00 06 12 34 56 78",
        "+33 6 12 34 56 7",
        "+33 0 12 34 56 78",
        "+0612345678",
        "+1234567",
        "+1234567890123456",
        "06 12 34 56 78 90",
        "tél. 06 12 34 56 78",
        "inconnu",
        "+",
    ],
)
def test_what_cannot_be_a_number_is_unusable(typed: str) -> None:
    assert normalize_phone(typed) is None


def candidate(phone: str | None) -> Candidate:
    return Candidate(
        candidate_id="C-1",
        first_name="Zoé",
        last_name="Gérard",
        email="zoe@example.org",
        phone=phone,
        sms_opt_in=True,
    )


def test_an_unusable_number_is_dropped_and_flagged() -> None:
    contact = contact_from(candidate("06 12"))
    assert (contact.phone, contact.phone_unusable, contact.sms_opt_in) == (None, True, True)


def test_no_number_is_not_an_unusable_one() -> None:
    contact = contact_from(candidate(None))
    assert (contact.phone, contact.phone_unusable) == (None, False)
