"""The demo's season end to end: every service its own process, real servers, fixed seed."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from ifuno_shared.calendar import default_calendar
from ifuno_shared.events import PUBLIC_TOPICS, Topic
from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.persistence import create_engine
from ifuno_tools.demo.__main__ import CAPACITIES, play
from ifuno_tools.demo.population import population
from ifuno_tools.local.stack import LocalInfrastructure
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.e2e

SEED, CANDIDATES, CAMPAIGN = 11, 60, 2027
OUTBOX_KEEP, INBOX_KEEP, PASS_EVERY, SLACK = 2.0, 8.0, 1.0, 5.0
"""Housekeeping windows and interval of the season, in seconds: each service prunes all
season long (the inbox's window still outlives any redelivery here: offsets are committed
within a batch's time); a pass may run late by `SLACK` on a busy machine."""
HOUSEKEEPING = {
    "IFUNO_OUTBOX_KEEP_DAYS": str(OUTBOX_KEEP / 86400),
    "IFUNO_INBOX_KEEP_DAYS": str(INBOX_KEEP / 86400),
    "IFUNO_HOUSEKEEPING_INTERVAL": str(PASS_EVERY),
}
SIZES = """
SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM inbox),
       (SELECT coalesce(max(id), 0) FROM outbox),
       (SELECT extract(epoch FROM now() - min(published_at)) FROM outbox),
       (SELECT extract(epoch FROM now() - min(processed_at)) FROM inbox)
"""


class TableSizes:
    """Every half second while the season plays, each service's outbox and inbox: the
    most rows each held at once, the oldest delivered row or inbox id seen (seconds), and
    the outbox rows ever written (its last id); then the records of each topic."""

    def __init__(self, infrastructure: LocalInfrastructure) -> None:
        self._infrastructure = infrastructure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._sample()))
        self.peak: dict[tuple[str, str], int] = defaultdict(int)
        self.oldest: dict[tuple[str, str], float] = defaultdict(float)
        self.written: dict[str, int] = defaultdict(int)
        self.records: dict[str, int] = {}

    def __enter__(self) -> TableSizes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _sample(self) -> None:
        engines = {
            name: create_engine(url) for name, url in self._infrastructure.database_urls.items()
        }
        try:
            while not self._stop.wait(0.5):
                for name, engine in engines.items():
                    try:
                        async with engine.connect() as connection:
                            row = (await connection.execute(text(SIZES))).one()
                    except DBAPIError:
                        continue  # not migrated yet
                    outbox, inbox, written, oldest_sent, oldest_applied = row
                    self.peak[name, "outbox"] = max(self.peak[name, "outbox"], outbox)
                    self.peak[name, "inbox"] = max(self.peak[name, "inbox"], inbox)
                    self.written[name] = max(self.written[name], written)
                    for table, age in (("outbox", oldest_sent), ("inbox", oldest_applied)):
                        self.oldest[name, table] = max(self.oldest[name, table], float(age or 0))
            self.records = await records_per_topic(self._infrastructure.broker.bootstrap)
        finally:
            for engine in engines.values():
                await engine.dispose()


async def records_per_topic(bootstrap: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(t.value, p) for t in PUBLIC_TOPICS for p in range(3)]
        ends = await consumer.end_offsets(partitions)
        return {t.value: sum(ends[p] for p in partitions if p.topic == t.value) for t in Topic}
    finally:
        await consumer.stop()


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
        with pytest.MonkeyPatch.context() as environment, TableSizes(infrastructure) as sizes:
            for name, value in HOUSEKEEPING.items():
                environment.setenv(name, value)
            report, fleet = asyncio.run(play(args, infrastructure, run_dir))
        fleet.stop()
        selection = asyncio.run(read_all(infrastructure.broker.bootstrap, Topic.SELECTION.value))
        candidature = asyncio.run(
            read_all(infrastructure.broker.bootstrap, Topic.CANDIDATURE.value)
        )
        dead = asyncio.run(read_all_raw_count(infrastructure.broker.bootstrap))
        yield report, selection, candidature, dead, infrastructure, sizes
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


def test_the_report_shows_no_empty_place_while_a_waitlist_remains(season) -> None:  # type: ignore[no-untyped-def]
    report, *_ = season
    for level in report.levels.values():
        assert not level.empty_places_while_waiting, level
    assert "Empty places while a waitlist remains: none" in report.render()


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
    _, selection, candidature, _, infrastructure, _ = season
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
        "offer_accepted": "Confirmation de votre acceptation",
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
    _, _, _, dead, *_ = season
    assert dead == 0


def test_the_season_ran_on_the_simulated_clock_to_the_academic_year(season) -> None:  # type: ignore[no-untyped-def]
    _, selection, *_ = season
    admitted = [e for e in selection if e["type"].endswith("admitted.v1")]
    deadlines = {datetime.fromisoformat(e["data"]["offer_deadline"]).year for e in admitted}
    assert deadlines == {CAMPAIGN}


def test_housekeeping_kept_the_outbox_and_inbox_small_all_season(season) -> None:  # type: ignore[no-untyped-def]
    """With windows of seconds, no table ever held more than a fraction of what went through
    it, and no row outlived its window by more than a pass or two, yet the season above lost
    nothing and applied nothing twice."""
    *_, sizes = season
    assert sum(sizes.written.values()) > 500
    for service, written in sizes.written.items():
        if written >= 100:
            assert sizes.peak[service, "outbox"] <= written / 2, service
        assert sizes.oldest[service, "outbox"] <= OUTBOX_KEEP + PASS_EVERY + SLACK, service
    for service in ("candidature", "selection", "notification", "dashboard"):
        read = sum(
            sizes.records[topic]
            for group, topics in CONSUMER_GROUPS.items()
            if group.split("-")[0] == service
            for topic in topics
        )
        assert read >= 300, service
        assert 0 < sizes.peak[service, "inbox"] <= read / 2, service
        assert sizes.oldest[service, "inbox"] <= INBOX_KEEP + PASS_EVERY + SLACK, service
