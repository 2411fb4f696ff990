"""Base classes for event payloads and the shared value types they use."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    WithJsonSchema,
)
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

from ifuno_shared.events.topics import Topic


class EventData(BaseModel):
    """The `data` of a CloudEvent. Each subclass is one event type of the contract.

    Payloads from other services ignore unknown fields, so a producer may add a
    field (CONTRACTS.md: add, never rename or remove) without breaking readers.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    source: ClassVar[str]

    @property
    def subject_field(self) -> str:
        """The field whose value is the subject: `application_id`, else `campaign`."""
        for name in ("application_id", "campaign"):
            if getattr(self, name, None) is not None:
                return name
        raise ValueError(f"{type(self).__name__} names no application and no campaign")

    @property
    def subject(self) -> str:
        """The CloudEvents subject and Kafka key: the application id, or for events
        about a whole campaign (the timeline's, the complementary round's) the campaign."""
        return str(getattr(self, self.subject_field))


class PortalEventData(EventData):
    """The portal's events are accepted exactly as specified: extra fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    topic: ClassVar[Topic] = Topic.PORTAL
    source: ClassVar[str] = "/ifuno/portal"


class Level(StrEnum):
    M1 = "M1"
    M2 = "M2"


class Regime(StrEnum):
    FORMATION_INITIALE = "formation_initiale"
    FORMATION_CONTINUE = "formation_continue"
    REPRISE_ETUDES = "reprise_etudes"
    CONTRAT_PROFESSIONNALISATION = "contrat_professionnalisation"
    ALTERNANCE = "alternance"


class Round(StrEnum):
    MAIN = "main"
    COMPLEMENTARY = "complementary"


class DocumentKind(StrEnum):
    CV = "cv"
    COVER_LETTER = "cover_letter"
    JOB_DESCRIPTION = "job_description"
    DIPLOMA = "diploma"
    VAPP_DECISION = "vapp_decision"


class Phase(StrEnum):
    """Timeline phases, in calendar order."""

    MAIN_SUBMISSIONS_OPEN = "main_submissions_open"
    MAIN_SUBMISSIONS_CLOSED = "main_submissions_closed"
    MAIN_INTERVIEWS = "main_interviews"
    MAIN_COMMITTEE = "main_committee"
    COMPLEMENTARY_SUBMISSIONS_OPEN = "complementary_submissions_open"
    COMPLEMENTARY_SUBMISSIONS_CLOSED = "complementary_submissions_closed"
    COMPLEMENTARY_INTERVIEWS = "complementary_interviews"
    COMPLEMENTARY_COMMITTEE = "complementary_committee"
    ACADEMIC_YEAR_START = "academic_year_start"


_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")


def _lower_hex64(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise PydanticCustomError("sha256", "must be 64 hexadecimal characters")
    return value.lower()


_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _refusing(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if pattern.search(value):
            raise PydanticCustomError("control_character", what)
        return value

    return AfterValidator(check)


SingleLine = _refusing(_CONTROL, "must contain no control character (U+0000 to U+001F, U+007F)")
"""One line of text: no control character, NUL included, and no lone surrogate, so
that nothing a producer sends can be refused later by PostgreSQL or an SMTP server.
Put it after a `Field`'s length limits (`Annotated[str, Field(...), SingleLine]`): the
limits are then checked first, with their own message."""
MultiLine = _refusing(
    _CONTROL_BUT_LINE_BREAKS, "must contain no control character but tabs and line breaks"
)
"""Free text a person typed (a withdrawal reason): line breaks and tabs are kept."""
Text = Annotated[str, SingleLine]

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_RESERVED_LAST_LABELS = frozenset(name for name in SPECIAL_USE_DOMAIN_NAMES if "." not in name)
_RESERVED_DOMAINS = tuple(name for name in SPECIAL_USE_DOMAIN_NAMES if "." in name)


def _email_address(value: str) -> str:
    """An address as pydantic's `EmailStr` takes it (email-validator, no DNS), the same
    address normalized the same way, at a tenth of the cost for the common case.

    Every reader of a candidate's events checks the address again, and email-validator
    (IDNA tables, Unicode checks) was a tenth of a consumer's CPU. An ASCII dot-atom
    address on a plain domain needs none of it: it is valid unless a length limit or a
    reserved domain says otherwise, and normalizing it lowercases the domain. Anything
    else (Unicode, quotes, a display name, `--` as in IDNA's `xn--`, spaces) goes to
    email-validator itself; `test_event_properties` compares the two on tricky addresses."""
    plain = _PLAIN_ADDRESS.fullmatch(value)
    if plain is not None and len(value) <= 254 and len(plain["local"]) <= 64:
        domain = plain["domain"].lower()
        if (
            "--" not in domain
            and domain.rpartition(".")[2] not in _RESERVED_LAST_LABELS
            and not any(
                domain == reserved or domain.endswith("." + reserved)
                for reserved in _RESERVED_DOMAINS
            )
        ):
            return f"{plain['local']}@{domain}"
    return validate_email(value)[1]


Email = Annotated[
    str, AfterValidator(_email_address), WithJsonSchema({"type": "string", "format": "email"})
]
"""An email address, validated as `EmailStr` would (`_email_address`)."""

Sha256 = Annotated[str, AfterValidator(_lower_hex64)]
ApplicationId = Annotated[str, Field(min_length=1, max_length=64), SingleLine]
Campaign = Annotated[StrictInt, Field(ge=2000, le=2100)]
"""A year, as a JSON integer: `"2027"` or `2027.0` is refused, not converted."""


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339_text(value: object) -> object:
    """On the wire an instant is an RFC 3339 string (or, built in Python, a datetime):
    a number, or a digit string, is refused, never read as seconds since 1970; so is
    a time without its seconds or its offset."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "rfc3339_expected", "an RFC 3339 date-time string is expected (2027-05-02T14:03:00+02:00)"
    )


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]

__all__ = [
    "ApplicationId",
    "Campaign",
    "DocumentKind",
    "Email",
    "EventData",
    "Level",
    "MultiLine",
    "Phase",
    "PortalEventData",
    "Regime",
    "Round",
    "Sha256",
    "SingleLine",
    "Text",
    "Timestamp",
]
