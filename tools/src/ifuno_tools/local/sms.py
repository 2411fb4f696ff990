"""A fake SMS gateway over HTTP: the interface the notification service speaks.

The interface (what a real provider adapter must offer):

    POST {base_url}/messages
    Authorization: Bearer TOKEN
    Content-Type: application/json
    {"to": "+33612345678", "text": "...", "idempotency_key": "..."}

- 202 `{"id": "..."}`: accepted. A repeated `idempotency_key` is answered 202
  with the first message's id and sends nothing again, so a sender may retry
  any request whose answer it did not get.
- 401: wrong or missing token (permanent: a configuration error). A gateway
  without a token (`token=None`) takes requests without `Authorization`.
- 422: a body without `to`, `text` and `idempotency_key`, or a number the
  gateway refuses (permanent: do not retry).
- 503 (or 429): temporarily unavailable; retry later with the same key.
- 404: any other path.

The fake runs on a thread of the test process, keeps what it sent in
`messages`, can be told to fail (`fail_next`) or refuse numbers (`reject`),
and stops and starts again on the same port. It logs nothing: phone numbers
are personal data.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ifuno_tools.local.lifetime import forget, on_exit
from ifuno_tools.local.ports import free_port


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    idempotency_key: str
    id: str = ""
    authorization: str | None = None
    """The request's `Authorization` header, as sent (None: no header at all)."""


class FakeSmsGateway:
    def __init__(self, port: int | None = None, token: str | None = "sms-token") -> None:
        self.port = port or free_port()
        self.token = token
        self.messages: list[Sms] = []
        self.requests = 0
        self.rejected_patterns: list[str] = []
        self._by_key: dict[str, str] = {}
        self._failures_left = 0
        self._failure_status = 503
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next `count` requests with `status` (a transient error by default)."""
        with self._lock:
            self._failures_left = count
            self._failure_status = status

    def reject(self, pattern: str) -> None:
        """Refuse numbers matching a glob pattern (`+3399*`) with a permanent 422."""
        self.rejected_patterns.append(pattern)

    def _handle(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.requests += 1
            expected = None if self.token is None else f"Bearer {self.token}"
            if authorization != expected:
                return 401, {"error": "bad token"}
            if self._failures_left > 0:
                self._failures_left -= 1
                return self._failure_status, {"error": "gateway temporarily unavailable"}
            try:
                payload = json.loads(body)
                to, text = str(payload["to"]), str(payload["text"])
                key = str(payload["idempotency_key"])
            except (ValueError, KeyError, TypeError):
                return 422, {"error": "expected JSON with to, text, idempotency_key"}
            if any(fnmatch.fnmatch(to, pattern) for pattern in self.rejected_patterns):
                return 422, {"error": "number refused"}
            if key not in self._by_key:
                self._by_key[key] = str(uuid.uuid4())
                self.messages.append(Sms(to, text, key, self._by_key[key], authorization))
            return 202, {"id": self._by_key[key]}

    def start(self) -> None:
        """Start (or start again, on the same port)."""
        if self._server is not None:
            return
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") != "/messages":
                    self._answer(404, {"error": "not found"})
                else:
                    self._answer(*gateway._handle(self.headers.get("Authorization"), body))

            def _answer(self, status: int, answer: dict[str, str]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Phone numbers are personal data: no access log."""

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-sms", daemon=True
        ).start()  # a short poll interval: stop() waits for it
        self._server = server
        on_exit(self)

    def stop(self) -> None:
        """Stop listening: clients get "connection refused" until `start()`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        forget(self)

    def __enter__(self) -> FakeSmsGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
