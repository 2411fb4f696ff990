"""What the SMTP capture received, matched with what notification recorded.

Each email carries `Message-ID: <message id@...>`, the id of notification's
`message` row, which is unique per (application, cause event, channel, template).
So a Message-ID seen twice at the server is a message sent twice, and a row marked
sent whose Message-ID never arrived is a message lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from ifuno_tools.local.smtp import CapturingSmtpServer


@dataclass(frozen=True)
class Recorded:
    message_id: str
    application_id: str
    template: str
    cause_event_id: str
    channel: str
    status: str


@dataclass
class MailAudit:
    recorded: dict[str, Recorded]
    received: Counter[str]
    """Message-IDs (the notification message id) as often as the server accepted them."""
    duplicated: list[Recorded] = field(default_factory=list)
    lost: list[Recorded] = field(default_factory=list)
    """Email rows the server never received (not yet sent, failed, or sent and gone)."""
    unknown: int = 0
    """Emails whose Message-ID matches no recorded message."""

    def templates(self, application_id: str) -> list[str]:
        return sorted(
            r.template for r in self.recorded.values() if r.application_id == application_id
        )


def message_id_of(content: bytes) -> str | None:
    for line in content.split(b"\r\n\r\n", 1)[0].splitlines():
        if line.lower().startswith(b"message-id:"):
            value = line.split(b":", 1)[1].strip().decode()
            return value.strip("<>").split("@", 1)[0]
    return None


async def recorded_messages(dsn: str) -> dict[str, Recorded]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, application_id, template, cause_event_id, channel, status FROM message"
        )
    finally:
        await connection.close()
    return {
        row["id"]: Recorded(
            row["id"],
            row["application_id"],
            row["template"],
            row["cause_event_id"],
            row["channel"],
            row["status"],
        )
        for row in rows
    }


async def audit_mail(smtp: CapturingSmtpServer, notification_dsn: str) -> MailAudit:
    recorded = await recorded_messages(notification_dsn)
    received: Counter[str] = Counter()
    unknown = 0
    for mail in list(smtp.messages):
        message_id = message_id_of(mail.content)
        if message_id is None or message_id not in recorded:
            unknown += 1
        else:
            received[message_id] += 1
    audit = MailAudit(recorded, received, unknown=unknown)
    for message_id, row in recorded.items():
        if row.channel != "email":
            continue
        if received[message_id] > 1:
            audit.duplicated.append(row)
        elif received[message_id] == 0:
            audit.lost.append(row)
    return audit
