#!/bin/sh
# The platform's topics, with partitions, replication and retention (CONTRACTS.md;
# docs/messaging.md, Housekeeping). The retention of each topic is the kit's table
# `ifuno_shared.events.topics.RETENTION`: tests/test_topic_retention.py checks that
# this script sets the same. Run again, it creates nothing twice and sets each
# topic's configs again (a topic made before it had a retention gets one).
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PARTITIONS="${PARTITIONS:-6}"
REPLICATION="${REPLICATION:-1}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"

# topic NAME KEY=VALUE...: create it with these configs if missing, then set them.
topic() {
  name="$1"
  shift
  created=""
  altered=""
  for config in "$@"; do
    created="$created --config $config"
    key="${config%%=*}"
    value="${config#*=}"
    case "$value" in
      *,*) value="[$value]" ;;  # kafka-configs.sh reads a list value in brackets
    esac
    altered="${altered:+$altered,}$key=$value"
  done
  # shellcheck disable=SC2086 # one word per option
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$name" --partitions "$PARTITIONS" --replication-factor "$REPLICATION" $created
  "$KAFKA_BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter \
    --entity-type topics --entity-name "$name" --add-config "$altered"
}

# 13 months = 395 days = 34128000000 ms; 30 days = 2592000000 ms; a day = 86400000 ms.
topic ifuno.portal.v1 retention.ms=34128000000 segment.ms=86400000
topic ifuno.candidature.v1 retention.ms=34128000000 segment.ms=86400000
topic ifuno.selection.v1 retention.ms=34128000000 segment.ms=86400000
topic ifuno.notification.v1 retention.ms=34128000000 segment.ms=86400000
topic ifuno.timeline.v1 retention.ms=34128000000 segment.ms=86400000
# Dead letters compacted too: an erasure's tombstone removes an application's.
topic ifuno.deadletter.v1 retention.ms=2592000000 segment.ms=86400000 \
  cleanup.policy=compact,delete delete.retention.ms=2592000000 max.compaction.lag.ms=86400000
# Contact details: the latest per application; an erasure's tombstone removes it.
topic ifuno.contacts.v1 retention.ms=34128000000 segment.ms=86400000 \
  cleanup.policy=compact,delete delete.retention.ms=2592000000 max.compaction.lag.ms=86400000
