"""The checklist and prerequisite rules of RULES.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ifuno_candidature.domain.rules import check_prerequisites, document_problem, required_documents
from ifuno_candidature.domain.windows import RoundWindow, round_for
from ifuno_shared.calendar import PARIS, default_calendar, late_from
from ifuno_shared.events import DocumentKind, Level, Regime, Round
from ifuno_shared.events.portal import Diploma, Document
from pydantic import ValidationError

pytestmark = pytest.mark.unit

K = DocumentKind


def doc(content_type: str = "application/pdf", size: int = 1000) -> Document:
    return Document(
        kind="cv",
        document_id="D-1",
        filename="f",
        content_type=content_type,
        size_bytes=size,
        sha256="0" * 64,
    )


@pytest.mark.parametrize(
    "content_type", ["application/pdf", "image/jpeg", "image/png", "IMAGE/PNG"]
)
def test_pdf_jpeg_and_png_are_accepted(content_type: str) -> None:
    assert document_problem(doc(content_type)) is None


@pytest.mark.parametrize("content_type", ["application/zip", "application/msword", "image/gif"])
def test_other_types_are_rejected_with_the_reason(content_type: str) -> None:
    assert (
        document_problem(doc(content_type))
        == f"type de fichier non accepté ({content_type}) : PDF, JPEG ou PNG"
    )


def test_ten_megabytes_is_the_limit_inclusive() -> None:
    assert document_problem(doc(size=10 * 1024 * 1024)) is None
    assert document_problem(doc(size=10 * 1024 * 1024 + 1)) == (
        "fichier trop volumineux (10485761 octets) : 10 Mo au plus"
    )


def test_an_empty_file_is_rejected() -> None:
    assert document_problem(doc(size=0)) == "fichier vide"


def test_cv_cover_letter_and_diploma_are_always_required() -> None:
    assert required_documents(False, False, []) == {K.CV, K.COVER_LETTER, K.DIPLOMA}


def test_the_job_description_is_required_only_when_employed() -> None:
    assert K.JOB_DESCRIPTION in required_documents(True, False, [])
    assert K.JOB_DESCRIPTION not in required_documents(False, False, [])


def test_a_declared_vapp_replaces_the_diploma_by_the_vapp_decision() -> None:
    assert required_documents(False, True, []) == {K.CV, K.COVER_LETTER, K.VAPP_DECISION}


def test_a_provided_vapp_decision_replaces_the_diploma() -> None:
    assert K.DIPLOMA not in required_documents(False, False, [K.VAPP_DECISION])


def test_a_declared_vapp_is_satisfied_by_the_diploma_as_well() -> None:
    """Diploma OR VAPP decision: a candidate who declared a VAPP and sent the diploma
    has a complete file in that respect."""
    required = required_documents(False, True, [K.CV, K.COVER_LETTER, K.DIPLOMA])
    assert required == {K.CV, K.COVER_LETTER, K.DIPLOMA}


def test_both_the_diploma_and_the_vapp_decision_are_fine() -> None:
    provided = [K.CV, K.COVER_LETTER, K.DIPLOMA, K.VAPP_DECISION]
    assert required_documents(False, True, provided) <= set(provided)
    assert required_documents(False, False, provided) <= set(provided)


LICENCE = Diploma(level="bac+3", field="lettres modernes", title="Licence")
M1_EDUCATION = Diploma(level="bac+4", field="Sciences de l'éducation", title="Master 1")
M1_HISTORY = Diploma(level="bac+4", field="histoire", title="Master 1")
BTS = Diploma(level="bac+2", field="commerce", title="BTS")


def test_m1_needs_a_licence() -> None:
    assert check_prerequisites(Level.M1, Regime.FORMATION_INITIALE, LICENCE, False, 0).eligible


def test_m1_without_licence_needs_a_vapp() -> None:
    failed = check_prerequisites(Level.M1, Regime.FORMATION_CONTINUE, BTS, False, 10)
    assert failed.reasons == ("m1_requires_bac3_or_vapp",)
    assert check_prerequisites(Level.M1, Regime.FORMATION_CONTINUE, BTS, True, 10).eligible
    assert check_prerequisites(Level.M1, Regime.REPRISE_ETUDES, None, True, 0).eligible
    assert not check_prerequisites(Level.M1, Regime.REPRISE_ETUDES, None, False, 0).eligible


def test_direct_m2_in_initial_training_needs_an_m1_in_education_sciences() -> None:
    assert check_prerequisites(Level.M2, Regime.FORMATION_INITIALE, M1_EDUCATION, False, 0).eligible
    assert check_prerequisites(
        Level.M2, Regime.FORMATION_INITIALE, M1_HISTORY, False, 0
    ).reasons == ("m2_initial_requires_education_field",)
    assert check_prerequisites(Level.M2, Regime.FORMATION_INITIALE, LICENCE, True, 5).reasons == (
        "m2_initial_requires_m1",
    )


@pytest.mark.parametrize(
    ("field", "title"),
    [
        ("Sciences de l'éducation", "Master 1"),
        ("SCIENCES DE L'ÉDUCATION", "M1"),
        ("Sciences de l'e\u0301ducation", "Master 1"),
        ("ingénierie de formation", "Master 1"),
        ("formation d'adultes", "M1"),
        ("didactique des langues", "Master 1"),
        ("Sciences humaines", "Master MEEF"),
        ("lettres", "Master 1 Pédagogie"),
        ("lettres", "Master enseignement"),
    ],
)
def test_education_fields_are_recognised_however_written(field: str, title: str) -> None:
    diploma = Diploma(level="bac+4", field=field, title=title)
    assert check_prerequisites(Level.M2, Regime.FORMATION_INITIALE, diploma, False, 0).eligible


@pytest.mark.parametrize(
    "field",
    [
        "Sciences de l'information et de la communication",
        "Transformation numérique des entreprises",
        "Désinformation et médias",
        "informatique",
    ],
)
def test_a_word_that_contains_formation_is_not_an_education_field(field: str) -> None:
    diploma = Diploma(level="bac+4", field=field, title="Master 1")
    assert check_prerequisites(Level.M2, Regime.FORMATION_INITIALE, diploma, False, 0).reasons == (
        "m2_initial_requires_education_field",
    )


@pytest.mark.parametrize(
    "regime",
    [
        Regime.FORMATION_CONTINUE,
        Regime.REPRISE_ETUDES,
        Regime.CONTRAT_PROFESSIONNALISATION,
        Regime.ALTERNANCE,
    ],
)
def test_direct_m2_in_other_regimes_needs_any_m1_or_vapp_and_a_year_of_training(
    regime: Regime,
) -> None:
    assert check_prerequisites(Level.M2, regime, M1_HISTORY, False, 1).eligible
    assert check_prerequisites(Level.M2, regime, LICENCE, True, 3).eligible
    assert check_prerequisites(Level.M2, regime, M1_HISTORY, False, 0).reasons == (
        "m2_requires_training_experience",
    )
    assert check_prerequisites(Level.M2, regime, LICENCE, False, 0).reasons == (
        "m2_requires_m1_or_vapp",
        "m2_requires_training_experience",
    )


WINDOWS = [
    RoundWindow(r, *default_calendar(2027).submission_window(r))
    for r in (Round.MAIN, Round.COMPLEMENTARY)
]


def test_a_file_sent_during_the_deadline_minute_is_on_time_in_paris_summer_time() -> None:
    on_time = datetime(2027, 5, 15, 23, 59, 59, tzinfo=PARIS)
    window = round_for(WINDOWS, on_time)
    assert window is not None and window.round is Round.MAIN
    assert round_for(WINDOWS, datetime(2027, 5, 16, 0, 0, 0, tzinfo=PARIS)) is None


def test_lateness_is_judged_in_paris_time_whatever_the_offset_sent() -> None:
    # 22:00 UTC on 15 May is 00:00 on 16 May in Paris (summer time): late.
    assert round_for(WINDOWS, datetime(2027, 5, 15, 22, 0, tzinfo=UTC)) is None
    assert round_for(WINDOWS, datetime(2027, 5, 15, 21, 59, 30, tzinfo=UTC)) is not None


def test_nothing_is_open_before_the_last_monday_of_april_at_nine() -> None:
    opening = default_calendar(2027).main_submissions_open
    assert round_for(WINDOWS, opening - timedelta(seconds=1)) is None
    assert round_for(WINDOWS, opening) is not None


def test_july_belongs_to_the_complementary_round() -> None:
    window = round_for(WINDOWS, datetime(2027, 7, 14, 10, 0, tzinfo=PARIS))
    assert window is not None and window.round is Round.COMPLEMENTARY


def test_the_main_round_opens_at_nine_paris_summer_time_which_is_seven_utc() -> None:
    opening = datetime(2027, 4, 26, 7, 0, tzinfo=UTC)  # last Monday of April 2027
    assert round_for(WINDOWS, opening - timedelta(microseconds=1)) is None
    assert round_for(WINDOWS, opening) is not None


def test_a_deadline_moved_into_winter_time_is_judged_at_utc_plus_one() -> None:
    closes_at = datetime(2027, 11, 15, 23, 59, tzinfo=PARIS)
    window = RoundWindow(Round.MAIN, datetime(2027, 11, 1, 9, 0, tzinfo=PARIS), closes_at)
    assert window.contains(datetime(2027, 11, 15, 22, 59, 59, tzinfo=UTC))
    assert not window.contains(datetime(2027, 11, 15, 23, 0, tzinfo=UTC))


def test_the_deadline_minute_ends_at_midnight_even_for_an_odd_second() -> None:
    assert late_from(datetime(2027, 5, 15, 23, 59, 30, tzinfo=PARIS)) == datetime(
        2027, 5, 16, 0, 0, tzinfo=PARIS
    )


@pytest.mark.parametrize("sha256", [None, "", "abc", "z" * 64])
def test_a_document_without_a_valid_sha256_is_not_a_document(sha256: str | None) -> None:
    """The contract's own check: such an event is dead-lettered by the consumer."""
    fields = doc().model_dump() | {"sha256": sha256}
    with pytest.raises(ValidationError, match="sha256"):
        Document.model_validate(fields)
