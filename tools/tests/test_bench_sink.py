"""Reading smtp-sink's dumps: the first acceptance of each recipient, finished files only."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from ifuno_tools.bench.sink import SETTLE, SinkMailbox, parse_dump

pytestmark = pytest.mark.unit


def _dump(recipient: str, body: bytes = b"Bonjour\n") -> bytes:
    return (
        b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: localhost\n"
        b"X-Mail-Args: <contacts.ifuno@univ-lemans.fr>\n"
        + f"X-Rcpt-Args: <{recipient}>\n".encode()
        + b"Received: from localhost ([127.0.0.1])\n\tby localhost (smtp-sink) with ESMTP id 1;"
        b"\n\tSun, 29 Nov 2026 21:55:46 +0000 (UTC)\nSubject: x\n\n" + body + b"\n"
    )


def _write(folder: Path, name: str, content: bytes, accepted: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    os.utime(path, (accepted, accepted))
    return path


def test_the_recipients_are_read_from_the_dump_head() -> None:
    head = _dump("Candidat.7@Bench.example.org") + b"X-Rcpt-Args: <b@x.org> NOTIFY=NEVER\n"
    assert parse_dump(head) == ["candidat.7@bench.example.org", "b@x.org"]


def test_finished_dumps_give_each_recipient_its_first_acceptance(tmp_path: Path) -> None:
    second = tmp_path / "20261129215546"
    _write(second, "a1", _dump("candidat.1@bench.example.org"), 1_000.25)
    _write(second, "a2", _dump("candidat.1@bench.example.org"), 1_000.10)  # the first email
    _write(second, "b", _dump("candidat.2@bench.example.org", b"x" * 5000 + b"\n"), 1_000.5)
    empty = _write(second, "c", b"", 1_000.0)  # MAIL FROM only, so far
    mailbox = SinkMailbox(tmp_path)
    assert mailbox.collect() == 3
    assert mailbox.first == {
        "candidat.1@bench.example.org": pytest.approx(1_000.10),
        "candidat.2@bench.example.org": pytest.approx(1_000.5),
    }
    assert mailbox.messages == 3
    assert sorted(p.name for p in second.iterdir()) == ["c"]  # read dumps are deleted
    assert empty.exists()
    assert mailbox.cpu_seconds >= 0


def test_a_dump_still_being_written_waits(tmp_path: Path) -> None:
    now = time.time()
    folder = tmp_path / "20261129215547"
    # Cut mid-message: no final empty line.
    partial = _write(folder, "p", _dump("c@x.org")[:-10], now - 60)
    # A full buffer ending on a blank line by chance: read only once it has settled.
    chunk = _dump("d@x.org")
    chunk = chunk + b"y" * (4096 - len(chunk) - 2) + b"\n\n"
    assert len(chunk) == 4096
    fresh = _write(folder, "q", chunk, now)
    mailbox = SinkMailbox(tmp_path)
    assert mailbox.collect() == 0
    assert partial.exists() and fresh.exists()
    os.utime(fresh, (now - SETTLE - 1, now - SETTLE - 1))
    assert mailbox.collect() == 1
    assert "d@x.org" in mailbox.first


def test_folders_of_seconds_long_past_are_removed_once_read(tmp_path: Path) -> None:
    for second in ("20261129235958", "20261129235959", "20261130000000", "20261130000001"):
        _write(tmp_path / second, "m", _dump(f"{second}@x.org"), 1.0)
    mailbox = SinkMailbox(tmp_path)
    assert mailbox.collect() == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261130000000", "20261130000001"]
    assert SinkMailbox(tmp_path / "absent").collect() == 0
