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
    DocumentKind.VAPP_DECISION: (
        "votre décision de VAPP (validation des acquis professionnels et personnels)"
    ),
}

CANDIDATURE_REFUSALS = {
    "campaign_closed": (
        "elle nous est parvenue en dehors des périodes de dépôt des candidatures "
        "de la campagne de recrutement"
    ),
    "incomplete_at_deadline": "votre dossier était encore incomplet à la date limite de dépôt",
    "duplicate_application": "vous avez déjà une candidature en cours pour cette campagne",
    "no_places_left": (
        "il ne reste plus de place disponible à ce niveau pour la session complémentaire"
    ),
}
"""Why candidature refused a file, as the end of « ne peut pas être examinée : ... »."""

SELECTION_REFUSALS = {
    "below_shortlist_threshold": (
        "après examen de votre dossier, la commission ne l'a pas retenu pour l'entretien "
        "de sélection"
    ),
    "absent_from_interview": "vous ne vous êtes pas présenté(e) à l'entretien de sélection",
    "below_admission_threshold": (
        "à l'issue des entretiens, votre classement ne permet ni une admission ni une "
        "inscription sur liste complémentaire"
    ),
    "not_ranked_in_time": (
        "votre dossier n'a pas pu être évalué avant la réunion de la commission de sélection"
    ),
    "ineligible": (
        "les conditions d'accès à ce niveau (diplôme, VAPP ou expérience en formation) "
        "ne sont pas réunies"
    ),
}
"""Why selection refused a candidate, as the end of « n'a pas été retenue : ... »."""

UNKNOWN_REFUSAL = "la commission n'a pas pu donner une suite favorable à votre candidature"


def date_fr(instant: datetime) -> str:
    """« vendredi 4 juin 2027 », « mardi 1er juin 2027 »: French writes the first of
    the month as an ordinal (Paris time)."""
    local = instant.astimezone(PARIS)
    day = "1er" if local.day == 1 else str(local.day)
    return f"{DAYS[local.weekday()]} {day} {MONTHS[local.month - 1]} {local.year}"


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
    """A reason code in French; a code this service does not know yet still reads well."""
    return table.get(reason, UNKNOWN_REFUSAL)
