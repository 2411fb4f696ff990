"""The demo's season end to end: every service its own process, real servers, fixed seed."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from ifuno_shared.calendar import default_calendar
from ifuno_shared.events import Topic
from ifuno_tools.demo.__main__ import CAPACITIES, play
from ifuno_tools.demo.population import population
from ifuno_tools.local.stack import LocalInfrastructure

pytestmark = pytest.mark.e2e

SEED, CANDIDATES, CAMPAIGN = 11, 60, 2027


async def read_all(bootstrap: str, topic: str) -> list[dict]:
    """Every record of a topic (up to its high watermark), decoded."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        records: list[dict] = []
        for _ in range(50):
            batches = await consumer.getmany(timeout_ms=200)
            records += [json.loads(r.value) for batch in batches.values() for r in batch]
            done = True
            for partition in partitions:
                end = consumer.highwater(partition)
                done = done and end is not None and await consumer.position(partition) >= end
            if done and not batches:
                break
        return records
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    run_dir: Path = tmp_path_factory.mktemp("season")
    infrastructure = LocalInfrastructure(run_dir / "infrastructure")
    infrastructure.start()
    args = argparse.Namespace(candidates=CANDIDATES, seed=SEED, campaign=CAMPAIGN)
    try:
        report, fleet = asyncio.run(play(args, infrastructure, run_dir))
        fleet.stop()
        selection = asyncio.run(read_all(infrastructure.broker.bootstrap, Topic.SELECTION.value))
        candidature = asyncio.run(
            read_all(infrastructure.broker.bootstrap, Topic.CANDIDATURE.value)
        )
        dead = asyncio.run(read_all_raw_count(infrastructure.broker.bootstrap))
        yield report, selection, candidature, dead, infrastructure
    finally:
        infrastructure.stop()


async def read_all_raw_count(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(Topic.DEADLETTER.value, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.getmany(timeout_ms=1000)
        return sum(consumer.highwater(p) or 0 for p in partitions)
    finally:
        await consumer.stop()


def test_every_level_ends_within_capacity(season) -> None:  # type: ignore[no-untyped-def]
    report, *_ = season
    for level, capacity in CAPACITIES.items():
        held = report.levels[level].accepted + report.levels[level].offered
        assert held <= capacity
    assert sum(r.accepted for r in report.levels.values()) > 0


def test_every_waitlist_promotion_filled_a_free_place(season) -> None:  # type: ignore[no-untyped-def]
    """A candidate leaves the waitlist only for a place free at that moment: left empty
    by the committee, or freed since (decline, expiry, withdrawal)."""
    _, selection, *_ = season
    timeline = sorted(selection, key=lambda e: e["time"])
    held: dict[str, int] = defaultdict(int)
    for event in timeline:
        kind = event["type"].split(".")[2]
        level = event["data"].get("level")
        if kind in ("offer_declined", "offer_expired", "place_released"):
            held[level] -= 1
        elif kind == "admitted":
            if event["data"]["from_waitlist"]:
                assert held[level] < CAPACITIES[level], f"a promotion in {level} without a place"
            held[level] += 1


def test_every_candidate_received_the_messages_their_path_implies(season) -> None:  # type: ignore[no-untyped-def]
    _, selection, candidature, _, infrastructure = season
    subjects: dict[str, list[str]] = defaultdict(list)
    for mail in infrastructure.smtp.messages:
        for recipient in mail.recipients:
            subjects[recipient].append(str(mail.message["Subject"]))
    profiles = {
        p.application_id: p for p in population(CANDIDATES, SEED, default_calendar(CAMPAIGN))
    }
    expected = {
        "application_received": "a bien été reçue",
        "application_refused": "Votre candidature au master IFUNO",
        "application_completed": "est complet",
        "interview_scheduled": "Convocation",
        "waitlisted": "liste complémentaire",
        "refused": "Décision de la commission",
        "offer_expired": "a expiré",
        "offer_accepted": "Confirmation de votre inscription",
        "offer_declined": "Confirmation de votre renoncement",
    }
    checked = 0
    for event in candidature + selection:
        kind = event["type"].split(".")[2]
        if kind == "admitted":
            words = (
                "place s'est libérée" if event["data"]["from_waitlist"] else "Vous êtes admis(e)"
            )
        elif kind in expected:
            words = expected[kind]
        else:
            continue
        profile = profiles[event["subject"]]
        assert any(words in s for s in subjects[profile.email]), (
            f"{profile.application_id} had {kind} but no message containing {words!r}"
        )
        checked += 1
    assert checked >= CANDIDATES


def test_no_dead_letters(season) -> None:  # type: ignore[no-untyped-def]
    *_, dead, _ = season
    assert dead == 0


def test_the_season_ran_on_the_simulated_clock_to_the_academic_year(season) -> None:  # type: ignore[no-untyped-def]
    _, selection, *_ = season
    admitted = [e for e in selection if e["type"].endswith("admitted.v1")]
    deadlines = {datetime.fromisoformat(e["data"]["offer_deadline"]).year for e in admitted}
    assert deadlines == {CAMPAIGN}
