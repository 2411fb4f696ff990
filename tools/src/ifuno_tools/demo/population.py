"""A seeded, realistic mix of candidates and what each of them will do."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from ifuno_shared.calendar import PARIS, CampaignCalendar
from ifuno_shared.events import DocumentKind, Level, Regime, Round

FIRST_NAMES = [
    "Anne",
    "Hélène",
    "Zoé",
    "Léa",
    "Chloé",
    "Inès",
    "Maëlle",
    "Noémie",
    "Agnès",
    "Céline",
    "Jérôme",
    "François",
    "Loïc",
    "Benoît",
    "Raphaël",
    "Théo",
    "Mathéo",
    "Noël",
    "Aurélien",
    "Joël",
]
LAST_NAMES = [
    "Tual",
    "Lefèvre",
    "Gérard",
    "Hervé",
    "Brûlé",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Garnier",
    "Faure",
    "Rousseau",
    "Bonnet",
    "Chevalier",
    "Roux",
]
FIELDS = [
    "sciences de l'éducation",
    "lettres modernes",
    "psychologie",
    "gestion des ressources humaines",
    "informatique",
    "histoire",
    "ingénierie de formation",
    "langues étrangères appliquées",
]


@dataclass
class Profile:
    """One candidate: who they are, and how they will behave during the season."""

    index: int
    application_id: str
    round: Round
    level: Level
    regime: Regime
    first_name: str
    last_name: str
    email: str
    phone: str | None
    sms_opt_in: bool
    employed: bool
    diploma_years: int
    diploma_field: str
    vapp: bool
    experience_years: int
    submitted_at: datetime
    missing: list[DocumentKind] = field(default_factory=list)
    completes_on: datetime | None = None  # when the missing documents arrive, if ever
    withdraws_on: datetime | None = None
    file_points: int = 14  # out of 20, what reviewers will give
    interview_score: float | None = 12.0  # None: does not attend
    answer: str = "accept"  # accept, decline, or ignore (lets the offer expire)


def _at(day: datetime, rng: random.Random) -> datetime:
    return datetime.combine(day.date(), time(rng.randint(8, 22), rng.randint(0, 59)), tzinfo=PARIS)


def population(count: int, seed: int, calendar: CampaignCalendar) -> list[Profile]:
    """About 85 % in the main round (a tenth of them late, a fifth incomplete at first),
    the rest in the complementary round; both levels, every regime."""
    rng = random.Random(seed)
    regimes = list(Regime)
    main_open, main_close = calendar.submission_window(Round.MAIN)
    comp_open, comp_close = calendar.submission_window(Round.COMPLEMENTARY)
    profiles = []
    for index in range(count):
        complementary = index >= int(count * 0.85)
        level = Level.M1 if rng.random() < 0.55 else Level.M2
        regime = regimes[index % len(regimes)]
        if complementary:
            day = comp_open + timedelta(days=rng.randint(1, 30))
            round_ = Round.COMPLEMENTARY
        elif rng.random() < 0.08:
            day = main_close + timedelta(days=rng.randint(1, 4))  # late
            round_ = Round.MAIN
        else:
            span = (main_close - main_open).days
            day = main_open + timedelta(days=rng.randint(0, span - 1))
            round_ = Round.MAIN
        submitted_at = _at(day, rng)
        if submitted_at < main_open:
            submitted_at = main_open + timedelta(hours=1)
        employed = regime is not Regime.FORMATION_INITIALE and rng.random() < 0.8
        ineligible = rng.random() < 0.07
        diploma_years = (4 if level is Level.M2 else 3) + rng.randint(0, 1)
        if ineligible:
            diploma_years = 2
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        profile = Profile(
            index=index,
            application_id=f"P-{calendar.campaign}-{index:06d}",
            round=round_,
            level=level,
            regime=regime,
            first_name=first,
            last_name=last,
            email=f"candidat{index:04d}@example.org",
            phone=f"+3361{index:07d}" if rng.random() < 0.6 else None,
            sms_opt_in=rng.random() < 0.5,
            employed=employed,
            diploma_years=diploma_years,
            diploma_field="sciences de l'éducation" if level is Level.M2 else rng.choice(FIELDS),
            vapp=False,
            experience_years=rng.randint(1, 15) if regime is not Regime.FORMATION_INITIALE else 0,
            submitted_at=submitted_at,
            file_points=rng.choice([6, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
            interview_score=None if rng.random() < 0.05 else float(rng.randint(6, 19)),
            answer=rng.choices(["accept", "decline", "ignore"], [0.7, 0.2, 0.1])[0],
        )
        if rng.random() < 0.2:
            profile.missing = [DocumentKind.DIPLOMA]
            if rng.random() < 0.7:
                close = comp_close if complementary else main_close
                completes = submitted_at + timedelta(days=rng.randint(1, 6))
                completes = min(completes, close - timedelta(hours=2))
                profile.completes_on = completes if completes > submitted_at else None
        if rng.random() < 0.04:
            profile.withdraws_on = submitted_at + timedelta(days=rng.randint(2, 20))
        profiles.append(profile)
    return profiles
