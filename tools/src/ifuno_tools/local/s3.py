"""An S3 endpoint in this process (moto's threaded server): durable storage for Tansu.

Tansu keeps nothing on local disk; with S3 storage a broker can stop and start
again and still have its records and consumer offsets. moto is a development
dependency (root `dev` group), so this module imports it only when started.
Buckets live in moto's process-wide memory: give each broker its own bucket.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

from ifuno_tools.local.lifetime import forget, on_exit
from ifuno_tools.local.ports import free_port

ACCESS_KEY = "local"
SECRET_KEY = "local"
REGION = "eu-west-3"


class LocalS3:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise RuntimeError("durable broker storage needs moto[server] (dev group)") from error
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        on_exit(self)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        forget(self)

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one by default); return its name."""
        import boto3

        bucket = name or f"tansu-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        return bucket

    def __enter__(self) -> LocalS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
