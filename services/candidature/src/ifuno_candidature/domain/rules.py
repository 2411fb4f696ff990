"""The file's rules (RULES.md): documents, completeness, prerequisites. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ifuno_shared.events import DocumentKind, Level, Regime
from ifuno_shared.events.portal import Diploma, Document

ACCEPTED_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MIN_TRAINING_EXPERIENCE_YEARS = 1

# Fields the page calls "Sciences de l'Éducation, ou équivalent dans le domaine". Each
# stem starts a word: "information" or "transformation" is not "formation".
_EDUCATION_FIELD = re.compile(
    r"\b(?:[ée]ducation|formation|p[ée]dagog|enseignement|didactique|meef)",
    re.IGNORECASE,
)


def is_education_field(diploma: Diploma) -> bool:
    """The diploma's field or title names education or training. Accents may come
    composed or decomposed (NFC or NFD) from the portal: both read the same."""
    text = unicodedata.normalize("NFC", f"{diploma.field} {diploma.title}")
    return _EDUCATION_FIELD.search(text) is not None


def document_problem(document: Document) -> str | None:
    """Why a document cannot join the file (in French: staff and candidates read it),
    or None if it can. The sha256 is checked by the contract itself (portal.Document)."""
    if document.content_type.lower() not in ACCEPTED_TYPES:
        return f"type de fichier non accepté ({document.content_type}) : PDF, JPEG ou PNG"
    if document.size_bytes > MAX_DOCUMENT_BYTES:
        return f"fichier trop volumineux ({document.size_bytes} octets) : 10 Mo au plus"
    if document.size_bytes == 0:
        return "fichier vide"
    return None


def required_documents(
    employed: bool, vapp: bool, kinds: Iterable[DocumentKind]
) -> set[DocumentKind]:
    """CV and cover letter always; the job description only when employed; the copy of
    the highest diploma, or instead the VAPP decision: whichever of the two is there
    satisfies the rule (a declared VAPP with a diploma provided is complete). When
    neither is, the one asked for is the VAPP decision if a VAPP was declared."""
    provided = set(kinds)
    required = {DocumentKind.CV, DocumentKind.COVER_LETTER}
    if employed:
        required.add(DocumentKind.JOB_DESCRIPTION)
    if DocumentKind.VAPP_DECISION in provided:
        required.add(DocumentKind.VAPP_DECISION)
    elif DocumentKind.DIPLOMA in provided or not vapp:
        required.add(DocumentKind.DIPLOMA)
    else:
        required.add(DocumentKind.VAPP_DECISION)
    return required


def diploma_years(diploma: Diploma | None) -> int:
    """Years after the baccalauréat (`bac+3` -> 3); 0 without a diploma."""
    return 0 if diploma is None else int(diploma.level.removeprefix("bac+"))


@dataclass(frozen=True)
class Prerequisites:
    eligible: bool
    reasons: tuple[str, ...]


def check_prerequisites(
    level: Level,
    regime: Regime,
    diploma: Diploma | None,
    vapp: bool,
    training_experience_years: int,
) -> Prerequisites:
    """The automatic checks; each failure has a reason staff can read and override."""
    reasons: list[str] = []
    years = diploma_years(diploma)
    if level is Level.M1:
        if years < 3 and not vapp:
            reasons.append("m1_requires_bac3_or_vapp")
    elif regime is Regime.FORMATION_INITIALE:
        if years < 4:
            reasons.append("m2_initial_requires_m1")
        elif diploma is None or not is_education_field(diploma):
            reasons.append("m2_initial_requires_education_field")
    else:
        if years < 4 and not vapp:
            reasons.append("m2_requires_m1_or_vapp")
        if training_experience_years < MIN_TRAINING_EXPERIENCE_YEARS:
            reasons.append("m2_requires_training_experience")
    return Prerequisites(eligible=not reasons, reasons=tuple(reasons))
