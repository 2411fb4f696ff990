"""Dates and reasons in French, without depending on the system's locales."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.calendar import PARIS
from ifuno_shared.events import DocumentKind

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

DOCUMENTS = {
    DocumentKind.CV: "votre CV",
    DocumentKind.COVER_LETTER: "votre lettre de motivation",
    DocumentKind.JOB_DESCRIPTION: "votre fiche de poste",
    DocumentKind.DIPLOMA: "la copie de votre diplôme le plus élevé",
    DocumentKind.VAPP_DECISION: "la décision de VAPP",
}

CANDIDATURE_REFUSALS = {
    "campaign_closed": (
        "votre candidature nous est parvenue en dehors des périodes de dépôt "
        "de la campagne de recrutement"
    ),
    "incomplete_at_deadline": ("votre dossier était encore incomplet à la date limite de dépôt"),
    "duplicate_application": ("vous avez déjà une candidature en cours pour cette campagne"),
    "no_places_left": (
        "il ne reste plus de place disponible pour ce niveau lors de la sélection complémentaire"
    ),
}

SELECTION_REFUSALS = {
    "below_shortlist_threshold": (
        "l'examen de votre dossier ne nous a pas permis de retenir votre candidature "
        "pour l'entretien"
    ),
    "absent_from_interview": "vous ne vous êtes pas présenté(e) à l'entretien de sélection",
    "below_admission_threshold": (
        "à l'issue de l'entretien, la commission de sélection n'a pas retenu votre candidature"
    ),
    "ineligible": "les conditions d'accès à ce niveau ne sont pas réunies",
}


def date_fr(instant: datetime) -> str:
    """« vendredi 4 juin 2027 » (Paris time)."""
    local = instant.astimezone(PARIS)
    return f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}"


def time_fr(instant: datetime) -> str:
    """« 9 h 30 », « 23 h 59 » (Paris time)."""
    local = instant.astimezone(PARIS)
    return f"{local.hour} h {local.minute:02d}"


def datetime_fr(instant: datetime) -> str:
    """« vendredi 4 juin 2027 à 23 h 59 »."""
    return f"{date_fr(instant)} à {time_fr(instant)}"


def short_date_fr(instant: datetime) -> str:
    """« 04/06/2027 23h59 » for texts that must stay short (SMS)."""
    local = instant.astimezone(PARIS)
    return f"{local:%d/%m/%Y} {local.hour}h{local.minute:02d}"


def reason_fr(reason: str, table: dict[str, str]) -> str:
    return table.get(reason, "votre candidature n'a pas pu être retenue")
