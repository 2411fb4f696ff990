"""What the portal sends, for the cross-service tests: a file's required documents, and
a candidate with data that no other test uses (so a scan for it finds only them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, DocumentKind, new_event, portal

REQUIRED = (DocumentKind.CV, DocumentKind.COVER_LETTER, DocumentKind.DIPLOMA)
SUBMITTED_AT = datetime(2027, 5, 3, 10, 0, tzinfo=PARIS)


def documents(application_id: str) -> list[portal.Document]:
    """The documents that make a file complete (PDFs, their metadata only)."""
    return [
        portal.Document(
            kind=kind,
            document_id=f"{application_id}-{kind.value}",
            filename=f"{kind.value}.pdf",
            content_type="application/pdf",
            size_bytes=120_000,
            sha256="3" * 64,
        )
        for kind in REQUIRED
    ]


@dataclass
class Person:
    application_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    """E.164 (`+33...`); the portal sends it in the national form, spaced."""
    diploma: str

    @property
    def national_phone(self) -> str:
        return "0" + self.phone.removeprefix("+33")

    @property
    def needles(self) -> list[str]:
        """What must be gone after an erasure: names, address, the number in both forms,
        the diploma's title."""
        return [
            self.first_name,
            self.last_name,
            self.email,
            self.phone,
            self.national_phone,
            self.diploma,
        ]

    def submitted(
        self,
        campaign: int = 2027,
        *,
        complete: bool = False,
        submitted_at: datetime = SUBMITTED_AT,
    ) -> CloudEvent:
        """The portal's event of their M1 application, SMS opted in; `complete`: with the
        required documents."""
        national = self.national_phone
        submission = portal.ApplicationSubmitted(
            application_id=self.application_id,
            campaign=campaign,
            level="M1",
            regime="formation_initiale",
            candidate=portal.Candidate(
                candidate_id=f"C-{self.application_id}",
                first_name=self.first_name,
                last_name=self.last_name,
                email=self.email,
                phone=" ".join(national[i : i + 2] for i in range(0, 10, 2)),
                sms_opt_in=True,
            ),
            employed=False,
            highest_diploma=portal.Diploma(
                level="bac+3", field="sciences de l'éducation", title=self.diploma
            ),
            vapp=False,
            training_experience_years=1,
            documents=documents(self.application_id) if complete else [],
            submitted_at=submitted_at,
        )
        return new_event(submission, subject=self.application_id)


def person(tag: str, phone: str) -> Person:
    """A candidate whose names, address and diploma carry a random word."""
    word = uuid.uuid4().hex[:6]
    return Person(
        application_id=f"P-{tag}-{word}",
        first_name=f"Ysaline{word}",
        last_name=f"Quenouille{word}",
        email=f"ysaline.{word}@example.org",
        phone=phone,
        diploma=f"Licence Humanités {word}",
    )
