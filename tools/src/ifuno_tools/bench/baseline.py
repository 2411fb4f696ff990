"""The baseline: three chained hops as close to the machine's limit as we can write them.

Each hop is its own process and keeps the platform's guarantees at the lowest
cost: take a batch (`getmany`), insert it with asyncpg in one transaction
(skipping event ids already seen), produce one event per input, wait for the
broker's acknowledgement, then commit the offsets. The last hop sends one email
per input instead of producing, over as many SMTP connections as the platform's
dispatcher uses (BENCH_SMTP_CONNECTIONS, the platform's
IFUNO_NOTIFICATION_SMTP_CONNECTIONS), all at once, each application's mail on
one connection, with the platform's own SMTP client (`MAIL`, `RCPT` and `DATA`
pipelined where the server offers it; `smtp-sink` does). The message is
preformatted bytes, which costs less CPU than any MIME builder. Each hop runs on
uvloop, as the services do.

    python -m ifuno_tools.bench.baseline HOP   (HOP = 1, 2 or 3)

configured by BENCH_KAFKA_BOOTSTRAP, BENCH_DATABASE_DSN (asyncpg DSN),
BENCH_SMTP_HOST, BENCH_SMTP_PORT, BENCH_SMTP_CONNECTIONS (default 8).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import zlib

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from ifuno_notification.adapters.smtp import SmtpSession, to_wire

TOPICS = ("bench.portal", "bench.hop1", "bench.hop2")

SCHEMA = """
CREATE TABLE IF NOT EXISTS hop{n} (
    event_id text PRIMARY KEY,
    application_id text NOT NULL,
    payload text NOT NULL
)
"""


async def _insert_new(
    connection: asyncpg.Connection, hop: int, rows: list[tuple[str, str, str]]
) -> list[str]:
    """Insert the batch; return the event ids not seen before (the inbox rule)."""
    inserted = await connection.fetch(
        f"""INSERT INTO hop{hop} (event_id, application_id, payload)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
            ON CONFLICT DO NOTHING RETURNING event_id""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )
    return [record["event_id"] for record in inserted]


SENDER = "contacts.ifuno@univ-lemans.fr"
_SUBJECT = "=?utf-8?q?Votre_candidature_au_master_IFUNO_a_bien_=C3=A9t=C3=A9_re=C3=A7ue?="
_BODY = (
    "Bonjour,\r\n\r\nNous avons bien reçu votre candidature au master IFUNO. "
    "Elle sera examinée par la commission pédagogique.\r\n"
) * 12


def _email(document: dict[str, str]) -> bytes:
    """About 2 KB, like the platform's acknowledgement, formatted without a builder."""
    return (
        f"From: {SENDER}\r\n"
        f"To: {document['email']}\r\n"
        f"Subject: {_SUBJECT}\r\n"
        f"X-Application-Id: {document['application_id']}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{_BODY}"
    ).encode()


class Mailer:
    """`connections` SMTP sessions, opened once; a batch is spread over them."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self._host, self._port, self._connections = host, port, connections
        self._sessions: list[SmtpSession] = []

    async def connect(self) -> None:
        self._sessions = list(
            await asyncio.gather(
                *(SmtpSession.open(self._host, self._port) for _ in range(self._connections))
            )
        )

    async def send(self, documents: list[dict[str, str]]) -> None:
        shares: list[list[dict[str, str]]] = [[] for _ in self._sessions]
        for document in documents:
            slot = zlib.crc32(document["application_id"].encode()) % len(self._sessions)
            shares[slot].append(document)
        await asyncio.gather(
            *(
                self._send_all(session, share)
                for session, share in zip(self._sessions, shares, strict=True)
            )
        )

    @staticmethod
    async def _send_all(session: SmtpSession, documents: list[dict[str, str]]) -> None:
        for document in documents:
            await session.begin(SENDER, document["email"], to_wire(_email(document)))
            await session.end()

    async def close(self) -> None:
        for session in self._sessions:
            await session.quit()


async def run_hop(hop: int) -> None:
    bootstrap = os.environ["BENCH_KAFKA_BOOTSTRAP"]
    pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_DSN"], min_size=1, max_size=2)
    async with pool.acquire() as connection:
        await connection.execute(SCHEMA.format(n=hop))
    consumer = AIOKafkaConsumer(
        TOPICS[hop - 1],
        bootstrap_servers=bootstrap,
        group_id=f"baseline-hop{hop}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_records=2000,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=10, max_batch_size=512 * 1024
    )
    mailer = Mailer(
        os.environ.get("BENCH_SMTP_HOST", "127.0.0.1"),
        int(os.environ.get("BENCH_SMTP_PORT", "25")),
        int(os.environ.get("BENCH_SMTP_CONNECTIONS", "8")),
    )
    await consumer.start()
    await producer.start()
    if hop == 3:
        await mailer.connect()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            records: list[ConsumerRecord[bytes, bytes]] = [r for b in batches.values() for r in b]
            if not records:
                continue
            documents = {}
            rows = []
            for record in records:
                document = json.loads(record.value)
                documents[document["id"]] = document
                rows.append((document["id"], document["application_id"], record.value.decode()))
            async with pool.acquire() as connection, connection.transaction():
                fresh = await _insert_new(connection, hop, rows)
            if hop < 3:
                deliveries = []
                for event_id in fresh:
                    document = documents[event_id]
                    forwarded = {**document, "id": f"{event_id}-h{hop}"}
                    deliveries.append(
                        await producer.send(
                            TOPICS[hop],
                            json.dumps(forwarded).encode(),
                            key=document["application_id"].encode(),
                        )
                    )
                await asyncio.gather(*deliveries)
            else:
                await mailer.send([documents[event_id] for event_id in fresh])
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        await mailer.close()
        await pool.close()


def main() -> None:
    hop = int(sys.argv[1])
    if hop not in (1, 2, 3):
        raise SystemExit("usage: python -m ifuno_tools.bench.baseline 1|2|3")
    uvloop.run(run_hop(hop))  # the event loop the platform's services run on


if __name__ == "__main__":
    main()
