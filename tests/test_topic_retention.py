"""One retention per topic (`events.topics.RETENTION`), set alike by the deployment script
and the local broker, and never longer than personal data may lawfully be kept."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import PUBLIC_TOPICS
from ifuno_shared.events.topics import RETENTION, SEGMENT, Retention
from ifuno_shared.persistence.housekeeping import Windows
from ifuno_tools.local.kafka import new_topic

ROOT = Path(__file__).resolve().parents[1]
TABLE = {topic: retention.configs() for topic, retention in RETENTION.items()}
LONGEST = max(retention.keep for retention in RETENTION.values())


def run_script(tmp_path: Path) -> list[list[str]]:
    """deploy/create-topics.sh against stand-ins of Kafka's tools that write down their
    arguments: each call as its list of words."""
    calls = tmp_path / "calls"
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        stub = tmp_path / tool
        stub.write_text(f"#!/bin/sh\nprintf '%s\\t' {tool} \"$@\" >> {calls}\necho >> {calls}\n")
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    subprocess.run(
        ["sh", str(ROOT / "deploy" / "create-topics.sh")],
        env={**os.environ, "KAFKA_BIN": str(tmp_path), "BOOTSTRAP": "kafka:9092"},
        check=True,
        timeout=30,
    )
    return [line.rstrip("\t").split("\t") for line in calls.read_text().splitlines() if line]


def option(words: list[str], name: str) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words) if word == name]


@pytest.mark.unit
def test_the_deployment_script_creates_and_sets_each_topic_as_the_table_says(
    tmp_path: Path,
) -> None:
    calls = run_script(tmp_path)
    created = {
        option(words, "--topic")[0]: dict(c.split("=", 1) for c in option(words, "--config"))
        for words in calls
        if words[0] == "kafka-topics.sh"
    }
    assert created == TABLE
    for words in calls:
        if words[0] == "kafka-topics.sh":
            assert "--if-not-exists" in words and option(words, "--partitions") == ["6"]
    altered = {
        option(words, "--entity-name")[0]: parse_added(option(words, "--add-config")[0])
        for words in calls
        if words[0] == "kafka-configs.sh"
    }
    assert altered == TABLE, "an existing topic gets the same configs"


def parse_added(text: str) -> dict[str, str]:
    """`k=v,k=[a,b]` as kafka-configs.sh reads it (a list value in brackets)."""
    configs: dict[str, str] = {}
    rest = text
    while rest:
        key, _, rest = rest.partition("=")
        if rest.startswith("["):
            value, _, rest = rest[1:].partition("]")
            rest = rest.removeprefix(",")
        else:
            value, _, rest = rest.partition(",")
        configs[key] = value
    return configs


@pytest.mark.unit
def test_the_local_broker_creates_each_topic_with_the_table_configs() -> None:
    for topic, configs in TABLE.items():
        assert new_topic(topic, 3).topic_configs == configs
    assert new_topic("test-topic-of-a-test", 3).topic_configs == {}


@pytest.mark.unit
def test_every_public_topic_has_a_retention_within_the_lawful_keeping() -> None:
    """Personal data of campaign Y is kept until 1 September of Y+1 at the latest, counted
    from the campaign's opening: no topic keeps a record longer (a day of segment aside)."""
    assert {topic.value for topic in PUBLIC_TOPICS} <= set(RETENTION)
    for year in range(2026, 2041):
        opening = default_calendar(year).main_submissions_open
        keeping = datetime(year + 1, 9, 1, tzinfo=PARIS) - opening
        assert keeping >= LONGEST + SEGMENT, year
    assert RETENTION["ifuno.portal.v1"] == Retention(timedelta(days=395))  # 13 months
    assert TABLE["ifuno.portal.v1"]["retention.ms"] == "34128000000"
    assert RETENTION["ifuno.deadletter.v1"].keep == timedelta(days=30)
    contacts = TABLE["ifuno.contacts.v1"]
    assert contacts["cleanup.policy"] == "compact,delete"  # a contact is erased, or expires
    assert contacts["retention.ms"] == TABLE["ifuno.portal.v1"]["retention.ms"]
    assert int(contacts["delete.retention.ms"]) >= Windows().inbox.total_seconds() * 1000


@pytest.mark.unit
def test_consumer_offsets_are_kept_as_long_as_the_records() -> None:
    """An idle consumer group's offsets must not expire before the records they point into:
    else it would start again from the earliest record, past what the inbox remembers."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    minutes = int(compose["services"]["kafka"]["environment"]["KAFKA_OFFSETS_RETENTION_MINUTES"])
    assert timedelta(minutes=minutes) >= LONGEST


@pytest.mark.integration
async def test_the_local_broker_keeps_the_configs_of_each_topic(kafka) -> None:  # type: ignore[no-untyped-def]
    """Tansu accepts and returns the configs (whether it enforces them is not relied on)."""
    await kafka.create_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in RETENTION]
        )
    finally:
        await admin.close()
    found = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
    }
    assert {topic: {k: found[topic][k] for k in configs} for topic, configs in TABLE.items()} == (
        TABLE
    )
