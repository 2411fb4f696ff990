"""Who signs a candidate's messages: the contact office of their regime (RULES.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ifuno_shared.events import Regime


@dataclass(frozen=True)
class Office:
    name: str
    email: str
    phone: str


SCOLARITE = Office(
    "Scolarité UFR LLSH, Le Mans Université", "scola-let@univ-lemans.fr", "02 43 83 31 90"
)
SFC = Office(
    "Service Formation Continue (SFC), Le Mans Université", "sfc@univ-lemans.fr", "02 43 83 32 00"
)
PROGRAMME_EMAIL = "contacts.ifuno@univ-lemans.fr"


def office_for(regime: Regime) -> Office:
    return SCOLARITE if regime is Regime.FORMATION_INITIALE else SFC
