"""A file's history: each public event about an application, kept as ids, type, times
and the fields that name no one (never a name, address, phone, free-text note or score),
and the file's current state told in French from its view."""

from __future__ import annotations

from typing import Any

from ifuno_shared.events import EventData

from ifuno_dashboard.domain.labels import label
from ifuno_dashboard.domain.projection import ApplicationView

SAFE_FIELDS = frozenset(
    {
        "campaign",
        "round",
        "level",
        "regime",
        "reason",
        "rank",
        "previous_rank",
        "attended",
        "channel",
        "template",
        "offer_deadline",
        "from_waitlist",
        "late_answer",
        "starts_at",
        "ends_at",
        "short_notice",
        "notice_days",
        "missing_documents",
        "kind",
        "submitted_at",
        "completed_at",
        "complete",
    }
)
"""What an event may leave in the dashboard's log: codes, times, ranks; nothing personal."""


def log_details(data: EventData) -> dict[str, Any]:
    """The event's non-personal fields (and the eligibility verdict, without who decided)."""
    values = data.model_dump(mode="json", include=set(SAFE_FIELDS))
    details = {key: value for key, value in values.items() if value not in (None, [], False)}
    eligibility = getattr(data, "eligibility", None)
    if eligibility is not None:
        details["eligible"] = eligibility.eligible
        details["eligibility_reasons"] = list(eligibility.reasons)
    return details


def describe(details: dict[str, Any]) -> list[str]:
    """The details of one event as short French phrases for the history page."""
    phrases = []
    if "level" in details:
        phrases.append(f"niveau {details['level']}")
    if "round" in details:
        phrases.append(label("round", details["round"]))
    if "regime" in details:
        phrases.append(label("regime", details["regime"]))
    if "reason" in details:
        phrases.append(f"motif : {label('refusal', details['reason'])}")
    if "rank" in details:
        phrases.append(f"rang {details['rank']}")
    if "attended" in details:
        phrases.append("présent")
    if "template" in details:
        phrases.append(f"« {label('template', details['template'])} »")
    if "channel" in details:
        phrases.append(f"par {label('channel', details['channel'])}")
    if details.get("missing_documents"):
        missing = ", ".join(label("document", kind) for kind in details["missing_documents"])
        phrases.append(f"pièces manquantes : {missing}")
    if "kind" in details:
        phrases.append(label("document", details["kind"]))
    if details.get("eligible") is False:
        phrases.append("prérequis non remplis")
    if details.get("short_notice"):
        phrases.append("convocation à moins de 7 jours")
    if details.get("late_answer"):
        phrases.append("réponse dans les temps lue après l'expiration")
    if details.get("from_waitlist"):
        phrases.append("depuis la liste complémentaire")
    return phrases


def current_state(view: ApplicationView) -> str:
    """Where the file is now, in French, from the dashboard's view of it."""
    if view.withdrawn:
        return "désisté"
    if view.accepted:
        return "a accepté sa place"
    if view.holding == "offered":
        return "admis, réponse attendue"
    if view.waitlist_closed:
        return "liste complémentaire close à la rentrée : aucune place proposée"
    if view.declined:
        return "a décliné la place"
    if view.expired:
        return "offre expirée sans réponse"
    if view.waitlist_rank is not None:
        return f"liste complémentaire, rang {view.waitlist_rank}"
    if view.refusal_reason:
        return f"refusé ({label('refusal', view.refusal_reason)})"
    if view.interviewed:
        return "entretien passé, en attente de la commission"
    if view.shortlisted:
        return "présélectionné, entretien à passer"
    if view.complete:
        return "complet, en cours d'examen"
    if view.received:
        return "reçu, incomplet"
    return "inconnu du tableau de bord"
