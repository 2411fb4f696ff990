"""One Kafka producer per process, configured for the guarantees we need."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer


def make_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """acks=all for durability. Idempotence stays off: the local broker (Tansu) lacks it,
    and duplicates are harmless because every consumer deduplicates by event id."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
    )
