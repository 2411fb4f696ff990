"""Prometheus metrics of the messaging kit (one process runs one service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "ifuno_events_consumed_total",
    "Records read by a consumer, by outcome (applied, duplicate, ignored, dead_lettered).",
    ["consumer", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "ifuno_handler_seconds", "Time to apply one event, transaction included.", ["consumer"]
)
HANDLER_RETRIES = Counter(
    "ifuno_handler_retries_total", "Failed attempts retried by a consumer.", ["consumer"]
)
DEAD_LETTERS = Counter(
    "ifuno_dead_letters_total", "Records sent to the dead-letter topic.", ["consumer"]
)
CONSUMER_LAG = Gauge(
    "ifuno_consumer_lag", "Records behind the high watermark.", ["consumer", "topic", "partition"]
)
OUTBOX_PUBLISHED = Counter(
    "ifuno_outbox_published_total", "Outbox rows published to the broker.", ["service"]
)
OUTBOX_FAILURES = Counter(
    "ifuno_outbox_publish_failures_total",
    "Relay batches that failed and will be retried.",
    ["service"],
)
HOUSEKEEPING_PRUNED = Counter(
    "ifuno_housekeeping_pruned_total",
    "Rows deleted by housekeeping: delivered outbox rows, inbox rows past their window.",
    ["service", "table"],
)
HOUSEKEEPING_OLDEST = Gauge(
    "ifuno_housekeeping_oldest_row_seconds",
    "Age of the oldest row left after a housekeeping pass (0: none); an outbox row older"
    " than its window is one still waiting to be published.",
    ["service", "table"],
)
HOUSEKEEPING_LAST_RUN = Gauge(
    "ifuno_housekeeping_last_run_timestamp_seconds",
    "When the last housekeeping pass finished (Unix time).",
    ["service"],
)
