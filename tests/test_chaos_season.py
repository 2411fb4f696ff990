"""The chaos season, short: a killed selection and notification, a PostgreSQL restart
and an SMTP outage during a season; nothing lost, capacity kept, every view agreeing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ifuno_tools.chaos.report import judge
from ifuno_tools.chaos.season import SeasonOptions, run_season

pytestmark = pytest.mark.e2e


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Not under pytest's tmp_path: PostgreSQL runs as its own system user when the
    tests run as root, and `pg_ctl restart` must reach the data directory."""
    folder = Path(tempfile.mkdtemp(prefix="ifuno-chaos-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_short_chaos_season_loses_nothing_and_keeps_capacity(run_dir: Path) -> None:
    evidence = run_season(
        SeasonOptions(seed=11, candidates=30, short=True, quiet=True), run_dir / "chaos"
    )
    verdict = judge(evidence, None)
    report = "\n".join(verdict.lines)
    assert len(evidence.faults) == 4
    assert all(fault.recovered for fault in evidence.faults), report
    assert evidence.audit.lost == [], report
    assert evidence.pending_at_end == 0, report
    assert not evidence.capacity.breaches, report
    assert evidence.dead_letters == 0, report
    failures = [f for f in verdict.failures if "duplicated" not in f and "> 30 s" not in f]
    assert failures == [], report
    # A SIGKILLed dispatcher resends at most one message per SMTP connection (the one
    # accepted and not yet recorded); notification is killed once in the short season.
    assert len(evidence.audit.duplicated) <= 1, report
