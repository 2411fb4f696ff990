"""A fake SMS gateway over HTTP, the interface the notification service speaks.

The interface: `POST {base_url}/messages` with `Authorization: Bearer TOKEN`
and JSON `{"to": "+33612345678", "text": "...", "idempotency_key": "..."}`.
Answers 202 `{"id": "..."}` when accepted (a repeated idempotency key is
accepted again without a second message), 401 for a wrong token, 422 for a bad
body, 503 while told to fail (a transient error the sender retries).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ifuno_shared.local.ports import free_port


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    idempotency_key: str


class FakeSmsGateway:
    def __init__(self, port: int | None = None, token: str = "sms-token") -> None:
        self.port = port or free_port()
        self.token = token
        self.messages: list[Sms] = []
        self.requests = 0
        self._by_key: dict[str, str] = {}
        self._failures_left = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures_left = count

    def _handle(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.requests += 1
            if authorization != f"Bearer {self.token}":
                return 401, {"error": "bad token"}
            if self._failures_left > 0:
                self._failures_left -= 1
                return 503, {"error": "gateway temporarily unavailable"}
            try:
                payload = json.loads(body)
                sms = Sms(str(payload["to"]), str(payload["text"]), str(payload["idempotency_key"]))
            except (ValueError, KeyError, TypeError):
                return 422, {"error": "expected JSON with to, text, idempotency_key"}
            if sms.idempotency_key not in self._by_key:
                self._by_key[sms.idempotency_key] = str(uuid.uuid4())
                self.messages.append(sms)
            return 202, {"id": self._by_key[sms.idempotency_key]}

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/messages":
                    status, answer = 404, {"error": "not found"}
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    status, answer = gateway._handle(
                        self.headers.get("Authorization"), self.rfile.read(length)
                    )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Phone numbers are personal data: no access log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSmsGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
