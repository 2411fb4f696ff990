"""CPU time and peak memory read from /proc text."""

from __future__ import annotations

import os

import pytest
from ifuno_tools.bench import procstat
from ifuno_tools.bench.procstat import (
    ProcessProbe,
    cpu_per_application_ms,
    parse_peak_rss_kib,
    parse_stat,
    read_cpu,
)

pytestmark = pytest.mark.unit

# A real line's shape; the command name holds a space and a parenthesis.
STAT = (
    "4242 (ifuno notif) x) S 1 4242 4242 0 -1 4194560 52013 0 0 0 "
    "1234 567 89 10 20 0 9 0 331245 912371712 25971 18446744073709551615 "
    "1 1 0 0 0 0 0 16781312 17642 0 0 0 17 1 0 0 0 0 0"
)

STATUS = """Name:\tifuno-notifica
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  912372 kB
VmSize:\t  891004 kB
VmHWM:\t  104168 kB
VmRSS:\t  103888 kB
Threads:\t9
"""


def test_cpu_times_are_read_after_the_command_name() -> None:
    times = parse_stat(STAT)
    assert (times.user, times.system) == (1234, 567)
    assert (times.children_user, times.children_system) == (89, 10)
    assert times.seconds == pytest.approx((1234 + 567) / procstat.CLOCK_TICKS)
    assert times.reaped_children_seconds == pytest.approx(99 / procstat.CLOCK_TICKS)


def test_peak_rss_is_vm_hwm_in_kib() -> None:
    assert parse_peak_rss_kib(STATUS) == 104_168
    assert parse_peak_rss_kib("Name:\tkworker/0:1\nState:\tI (idle)\n") == 0
    with pytest.raises(ValueError):
        parse_peak_rss_kib("VmHWM:\t 12 MB\n")


def test_cpu_per_application_is_the_difference_over_the_phase() -> None:
    before = {"notification": 10.0, "candidature": 4.0, "gone": 1.0}
    after = {"notification": 13.0, "candidature": 4.5, "new": 2.0}
    assert cpu_per_application_ms(before, after, 1000) == {
        "notification": 3.0,
        "candidature": 0.5,
    }
    assert cpu_per_application_ms(before, after, 0) == {}


def test_this_process_can_be_probed() -> None:
    probe = ProcessProbe({"self": os.getpid(), "gone": 2**22 + 1})
    assert read_cpu(os.getpid()).seconds >= 0
    assert set(probe.cpu()) == {"self"}  # a process that is gone is left out
    assert probe.peaks_mib()["self"] > 1
