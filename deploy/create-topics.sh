#!/bin/sh
# The public topics, with partitions and replication set (CONTRACTS.md).
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PARTITIONS="${PARTITIONS:-6}"
REPLICATION="${REPLICATION:-1}"
for topic in ifuno.portal.v1 ifuno.candidature.v1 ifuno.selection.v1 \
             ifuno.notification.v1 ifuno.timeline.v1 ifuno.deadletter.v1; do
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION"
done
# Contact details: compacted (latest per application; an erasure's tombstone removes it).
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
  --topic ifuno.contacts.v1 --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
  --config cleanup.policy=compact --config delete.retention.ms=86400000
