"""SMS length: GSM-7 (160 characters, 153 per part) or UCS-2 (70, 67 per part)."""

from __future__ import annotations

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _gsm7_length(text: str) -> int:
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


def _ucs2_length(text: str) -> int:
    """UTF-16 code units: a character outside the BMP (an emoji) takes two."""
    return len(text.encode("utf-16-le")) // 2


def split_sms(text: str) -> list[str]:
    """The parts an operator would send: one if it fits, else concatenated parts, never
    cutting a GSM-7 escape pair or a UTF-16 surrogate pair."""
    if is_gsm7(text):
        if _gsm7_length(text) <= 160:
            return [text]
        limit, measure = 153, _gsm7_length
    else:
        if _ucs2_length(text) <= 70:
            return [text]
        limit, measure = 67, _ucs2_length
    parts, current = [], ""
    for character in text:
        if measure(current + character) > limit:
            parts.append(current)
            current = ""
        current += character
    parts.append(current)
    return parts
