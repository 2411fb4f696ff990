"""SMS length rules: GSM-7 (160, then 153 per part) or UCS-2 (70, then 67 per part)."""

from __future__ import annotations

import pytest
from ifuno_notification.domain.sms import is_gsm7, split_sms

pytestmark = pytest.mark.unit


def test_french_accents_e_grave_e_acute_and_a_grave_are_gsm7() -> None:
    assert is_gsm7("Vous êtes") is False
    assert is_gsm7("Réponse à la proposition, è ù")


def test_160_gsm7_characters_are_one_message() -> None:
    assert split_sms("a" * 160) == ["a" * 160]


def test_161_gsm7_characters_are_two_parts_of_at_most_153() -> None:
    parts = split_sms("a" * 161)
    assert [len(p) for p in parts] == [153, 8]


def test_extension_characters_count_twice_and_are_never_cut() -> None:
    text = "€" * 80
    assert split_sms(text) == [text]
    parts = split_sms("€" * 81)
    assert "".join(parts) == "€" * 81
    assert all(2 * len(p) <= 153 for p in parts)


def test_a_non_gsm7_character_switches_to_ucs2_limits() -> None:
    assert len(split_sms("ê" * 70)) == 1
    parts = split_sms("ê" * 71)
    assert [len(p) for p in parts] == [67, 4]


def test_a_character_outside_the_bmp_counts_two_ucs2_units_and_is_never_cut() -> None:
    assert split_sms("😀" * 35) == ["😀" * 35]
    parts = split_sms("😀" * 36)
    assert parts == ["😀" * 33, "😀" * 3]
