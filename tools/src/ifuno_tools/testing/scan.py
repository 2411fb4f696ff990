"""Proof that nothing is left: look for a person's data in every place the platform
keeps data (every text or JSON column of every table of every service's database,
the stored email copies, the topics read as a new consumer would after compaction).

`Found` names where a value was found (table and column, file, topic and key), never
the value itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ifuno_shared.events import Topic
from ifuno_shared.persistence.engine import create_engine
from sqlalchemy import text

from ifuno_tools.testing.kafka import Record, kafka_read_all

_TEXT_COLUMNS = text(
    "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = 'public'"
    " AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')"
    " ORDER BY table_name, column_name"
)

PLATFORM_TOPICS = [topic.value for topic in Topic if topic is not Topic.PORTAL]
"""Every topic the platform writes; the portal's is the portal's own, bounded by its
retention (docs/personal-data.md)."""


@dataclass(frozen=True)
class Found:
    where: str
    """`service/table.column`, a file's path, or `topic[key]`."""
    needle_index: int
    """Which of the needles (by position), so the value itself is never printed."""


def _hits(haystack: str, needles: Sequence[str], where: str) -> list[Found]:
    folded = haystack.casefold()
    return [Found(where, i) for i, needle in enumerate(needles) if needle.casefold() in folded]


async def scan_database(database_url: str, needles: Sequence[str], label: str) -> list[Found]:
    """Every text, varchar and JSON column of every table, with a case-insensitive
    substring search (JSON as its text, so keys and nested values are searched too)."""
    engine = create_engine(database_url)
    found: list[Found] = []
    try:
        async with engine.connect() as connection:
            columns = (await connection.execute(_TEXT_COLUMNS)).all()
            for table, column in columns:
                for index, needle in enumerate(needles):
                    hit = await connection.scalar(
                        text(
                            f'SELECT EXISTS (SELECT 1 FROM "{table}"'
                            f' WHERE strpos(lower("{column}"::text), lower(:needle)) > 0)'
                        ),
                        {"needle": needle},
                    )
                    if hit:
                        found.append(Found(f"{label}/{table}.{column}", index))
    finally:
        await engine.dispose()
    return found


def scan_files(folder: Path | None, needles: Sequence[str]) -> list[Found]:
    """Every file under `folder` (email copies), read as UTF-8 with its MIME encodings
    left as they are plus decoded: headers and bodies are searched as sent."""
    if folder is None or not folder.exists():
        return []
    found: list[Found] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        found += _hits(_readable(raw), needles, str(path))
    return found


def _readable(raw: bytes) -> str:
    """The file as text, and each MIME part decoded (quoted-printable, base64)."""
    from email import message_from_bytes, policy

    parts = [raw.decode(errors="replace")]
    message = message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(errors="replace"))
    parts += [str(value) for value in message.values()]
    return "\n".join(parts)


def compacted(records: Iterable[Record]) -> dict[tuple[int, bytes | None], Record]:
    """What a topic holds once compacted: the latest record per key (and partition),
    a tombstone (a key with no value) removing the key. Tansu does not compact, so the
    scan applies it as a consumer starting after compaction would see the topic.
    Records without a key are all kept (compaction cannot remove them)."""
    latest: dict[tuple[int, bytes | None], Record] = {}
    unkeyed: list[Record] = []
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is None:
            unkeyed.append(record)
        elif record.value is None:
            latest.pop((record.partition, record.key), None)
        else:
            latest[record.partition, record.key] = record
    for index, record in enumerate(unkeyed):
        latest[record.partition, f"\0unkeyed{index}".encode()] = record
    return latest


async def scan_topic(bootstrap: str, topic: str, needles: Sequence[str]) -> list[Found]:
    """The topic read from the beginning with compaction applied (`compacted`)."""
    found: list[Found] = []
    for (_, key), record in compacted(await kafka_read_all(bootstrap, topic)).items():
        assert record.value is not None
        where = f"{topic}[{(key or b'').decode(errors='replace')}]"
        found += _hits(record.value.decode(errors="replace"), needles, where)
    return found


async def scan_everywhere(
    *,
    databases: Mapping[str, str],
    bootstrap: str,
    topics: Sequence[str],
    folders: Sequence[Path | None],
    needles: Sequence[str],
) -> list[Found]:
    """Every database (by label), folder and topic given, for every needle."""
    found: list[Found] = []
    for label, url in databases.items():
        found += await scan_database(url, needles, label)
    for folder in folders:
        found += scan_files(folder, needles)
    for topic in topics:
        found += await scan_topic(bootstrap, topic, needles)
    return found
