"""CPU time and peak memory of the measured processes, read from Linux's /proc.

CPU: utime + stime of /proc/<pid>/stat (fields 14 and 15, in clock ticks), read
before and after a phase, plus what its descendants used (cutime + cstime of
those it reaped, utime + stime of those still alive: PostgreSQL's backends).
Memory: VmHWM of /proc/<pid>/status, the process's peak resident set, which
writing "5" to /proc/<pid>/clear_refs resets at the start of a phase.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuTimes:
    user: int
    system: int
    children_user: int
    children_system: int

    @property
    def seconds(self) -> float:
        """The process's own CPU time."""
        return (self.user + self.system) / CLOCK_TICKS

    @property
    def reaped_children_seconds(self) -> float:
        return (self.children_user + self.children_system) / CLOCK_TICKS


def parse_stat(text: str) -> CpuTimes:
    """/proc/<pid>/stat. The command name (field 2) is in parentheses and may hold
    spaces or parentheses itself: the fields are counted after its last ")"."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): field n is fields[n - 3].
    user, system, children_user, children_system = (int(fields[n - 3]) for n in (14, 15, 16, 17))
    return CpuTimes(user, system, children_user, children_system)


def parse_peak_rss_kib(text: str) -> int:
    """VmHWM from /proc/<pid>/status, in KiB (0 for a kernel thread, which has none)."""
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            if unit != "kB":
                raise ValueError(f"unexpected VmHWM unit {unit!r}")
            return int(value)
    return 0


def read_cpu(pid: int) -> CpuTimes:
    return parse_stat((PROC / str(pid) / "stat").read_text())


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of the process and of every descendant, living or reaped."""
    own = read_cpu(pid)
    total = own.seconds + own.reaped_children_seconds
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(OSError):
                total += read_cpu(child.pid).seconds
    return total


def peak_rss_kib(pid: int) -> int:
    return parse_peak_rss_kib((PROC / str(pid) / "status").read_text())


def reset_peak_rss(pid: int) -> bool:
    """Start a new peak (Linux 4.0+; the process's owner or root): False if refused."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


class ProcessProbe:
    """The measured processes by name: CPU time between two snapshots, peak RSS."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def cpu(self) -> dict[str, float]:
        seconds = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                seconds[name] = tree_cpu_seconds(pid)
        return seconds

    def reset_peaks(self) -> None:
        for pid in self.pids.values():
            reset_peak_rss(pid)

    def peaks_mib(self) -> dict[str, float]:
        peaks = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                peaks[name] = round(peak_rss_kib(pid) / 1024, 1)
        return peaks


def cpu_per_application_ms(
    before: dict[str, float], after: dict[str, float], applications: int
) -> dict[str, float]:
    """CPU milliseconds per application for each process, over a phase."""
    if applications <= 0:
        return {}
    return {
        name: round((after[name] - before[name]) * 1000 / applications, 3)
        for name in after
        if name in before
    }
