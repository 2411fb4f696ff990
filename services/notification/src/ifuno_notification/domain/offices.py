"""Who signs a candidate's messages: the contact office of their regime (RULES.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ifuno_shared.events import Regime


@dataclass(frozen=True)
class Office:
    name: str
    email: str
    phone: str
    by: str
    """The office in a sentence: « communiquées par {by} »."""
    sms: str
    """The signature of a text message: short, and GSM-7 (one SMS holds 160 of them)."""


SCOLARITE = Office(
    "Scolarité UFR LLSH, Le Mans Université",
    "scola-let@univ-lemans.fr",
    "02 43 83 31 90",
    "la scolarité de l'UFR LLSH",
    "Scolarité UFR LLSH",
)
SFC = Office(
    "Service Formation Continue (SFC), Le Mans Université",
    "sfc@univ-lemans.fr",
    "02 43 83 32 00",
    "le Service Formation Continue (SFC)",
    "SFC Le Mans Université",
)
PROGRAMME_EMAIL = "contacts.ifuno@univ-lemans.fr"


def office_for(regime: Regime) -> Office:
    return SCOLARITE if regime is Regime.FORMATION_INITIALE else SFC
