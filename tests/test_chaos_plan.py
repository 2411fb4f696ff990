"""The adversary's script and the fleet's instance counts, without running anything."""

from __future__ import annotations

import pytest
from ifuno_tools.chaos.adversary import plan
from ifuno_tools.demo.processes import SERVICES, parse_instances

pytestmark = pytest.mark.unit


def test_the_same_seed_plays_the_same_faults_on_distinct_days() -> None:
    first = plan(7, 140, short=False, fleet_names=list(SERVICES))
    again = plan(7, 140, short=False, fleet_names=list(SERVICES))
    assert [(f.kind, f.target, f.day, f.delay) for f in first] == [
        (f.kind, f.target, f.day, f.delay) for f in again
    ]
    assert len({f.day for f in first}) == len(first)
    kinds = [f.kind for f in first]
    assert sorted(f.target for f in first if f.kind == "sigkill") == sorted(SERVICES)
    assert {"sigterm", "postgres-restart", "broker-outage", "smtp-outage", "sms-errors"} <= set(
        kinds
    )
    assert next(f for f in first if f.kind == "broker-outage").duration == 20.0
    assert next(f for f in first if f.kind == "smtp-outage").duration == 30.0


def test_instances_are_read_per_service_and_the_clock_stays_single() -> None:
    assert parse_instances("candidature=2, notification=3") == {
        "candidature": 2,
        "notification": 3,
    }
    with pytest.raises(ValueError, match="one instance"):
        parse_instances("timeline=2")
    with pytest.raises(ValueError, match="service=count"):
        parse_instances("mailer=2")
