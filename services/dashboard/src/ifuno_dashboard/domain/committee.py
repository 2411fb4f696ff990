"""What the committee will decide, from selection's ranking and rules, and the ties it
breaks: the same rules as selection's committee (best total first, ties to the file
completed first; the best at or above the admission threshold admitted within the free
places, the next at or above the waitlist threshold waitlisted, the rest refused; places
the admissions leave empty offered at once to the waitlist, in rank order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DECIDED = frozenset(
    {"offered", "accepted", "declined", "expired", "waitlisted", "waitlist_closed", "refused"}
)


@dataclass(frozen=True)
class Row:
    rank: int
    application_id: str
    file_score: float | None
    interview_score: float | None
    total: float | None
    status: str
    outcome: str
    """admitted, waitlisted or refused: the committee's decision, or the forecast."""
    waitlist_rank: int | None
    from_waitlist: bool
    tie_note: str | None
    review_notes: tuple[tuple[str, str], ...] = ()
    """Each reviewer's note (name, text), for the committee to read; never in the CSV."""
    interview_notes: str | None = None


def decided(ranking: list[dict[str, Any]]) -> bool:
    """The committee has decided once a ranked file has left `interviewed`."""
    return any(row["status"] in DECIDED for row in ranking)


def _outcome_of(status: str) -> str:
    if status in {"offered", "accepted", "declined", "expired"}:
        return "admitted"
    if status in {"waitlisted", "waitlist_closed"}:
        return "waitlisted"
    return "refused"


def rows(ranking: list[dict[str, Any]], rules: dict[str, Any], free_places: int) -> list[Row]:
    """The ranking in order with each file's outcome (decided, or forecast by the rules)
    and a note where its total ties the one before."""
    found: list[Row] = []
    is_decided = decided(ranking)
    admitted = waitlisted = 0
    for index, row in enumerate(ranking):
        total = row.get("total")
        promoted = False
        rank = None
        if is_decided:
            outcome = _outcome_of(row["status"])
            promoted = bool(row.get("from_waitlist")) and outcome == "admitted"
            rank = row.get("waitlist_rank")
        elif total is not None and total >= rules["admission_threshold"] and admitted < free_places:
            outcome, admitted = "admitted", admitted + 1
        elif total is not None and total >= rules["waitlist_threshold"]:
            if admitted < free_places:
                outcome, admitted, promoted = "admitted", admitted + 1, True
            else:
                outcome, waitlisted = "waitlisted", waitlisted + 1
                rank = waitlisted
        else:
            outcome = "refused"
        note = None
        if index and total is not None and ranking[index - 1].get("total") == total:
            note = (
                f"ex æquo avec {ranking[index - 1]['application_id']} ({total:g}/40) : "
                "départagé par la date du dossier complet, le plus ancien d'abord"
            )
        found.append(
            Row(
                rank=index + 1,
                application_id=row["application_id"],
                file_score=row.get("file_score"),
                interview_score=row.get("interview_score"),
                total=total,
                status=row["status"],
                outcome=outcome,
                waitlist_rank=rank,
                from_waitlist=promoted,
                tie_note=note,
                review_notes=tuple(
                    (given["reviewer"], given["note"]) for given in row.get("review_notes", [])
                ),
                interview_notes=row.get("interview_notes"),
            )
        )
    return found


OUTCOMES = {"admitted": "admis", "waitlisted": "liste complémentaire", "refused": "refusé"}


def csv_lines(level: str, table: list[Row]) -> list[list[str]]:
    """The outcome table for the jury's minutes: one line per ranked file."""
    lines = [
        [
            "rang",
            "dossier",
            "niveau",
            "note dossier /20",
            "note entretien /20",
            "total /40",
            "décision",
            "rang liste complémentaire",
            "admis depuis la liste complémentaire",
        ]
    ]
    for row in table:
        lines.append(
            [
                str(row.rank),
                row.application_id,
                level,
                _number(row.file_score),
                _number(row.interview_score),
                _number(row.total),
                OUTCOMES[row.outcome],
                "" if row.waitlist_rank is None else str(row.waitlist_rank),
                "oui" if row.from_waitlist else "",
            ]
        )
    return lines


def _number(value: float | None) -> str:
    """French decimals (a comma), as the minutes are read."""
    return "" if value is None else f"{value:.2f}".replace(".", ",")
