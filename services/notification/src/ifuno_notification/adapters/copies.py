"""The copies of the emails sent, kept as `<message id>.eml` when a folder is set."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path


def forget_copies(folder: Path, message_ids: Sequence[str]) -> None:
    """Delete the copies of these messages (an erasure); one never written is no error."""
    for message_id in message_ids:
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{message_id}.eml").unlink()
