"""The chaos table, and the verdict: did the platform meet its target?"""

from __future__ import annotations

from dataclasses import dataclass, field

from ifuno_tools.chaos.checks import compare_with_baseline, disagreements, message_multiset
from ifuno_tools.chaos.mail import message_id_of
from ifuno_tools.chaos.season import Evidence

RECOVERY_TARGET = 30.0


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _duplicates_in(evidence: Evidence, start: float, end: float) -> int:
    """Second copies the SMTP server accepted within [start, end) (perf_counter)."""
    seen: set[str] = set()
    count = 0
    for mail in evidence.smtp_log:
        message_id = message_id_of(mail.content)
        if message_id in seen and start <= mail.received_at < end:
            count += 1
        if message_id is not None:
            seen.add(message_id)
    return count


def judge(evidence: Evidence, baseline: Evidence | None) -> Verdict:
    verdict = Verdict()
    audit = evidence.audit
    rows = [
        "| # | fault | season day | recovered | time to recover (s) | duplicated while it lasted |",
        "|---|---|---|---|---|---|",
    ]
    for number, fault in enumerate(evidence.faults, 1):
        start, end = fault.window()
        seconds = fault.recovery_seconds
        shown = "-" if seconds is None else f"{seconds:.1f}"
        rows.append(
            f"| {number} | {fault.label} | {fault.day} | {'yes' if fault.recovered else 'no'} | "
            f"{shown} | {_duplicates_in(evidence, start, end)} |"
        )
        if not fault.recovered:
            verdict.failures.append(f"{fault.label}: not recovered")
        elif seconds is not None and seconds > RECOVERY_TARGET:
            verdict.failures.append(f"{fault.label}: recovered in {seconds:.0f} s (> 30 s)")
    emails = [r for r in audit.recorded.values() if r.channel == "email"]
    copies = sum(audit.received.values())
    duplicated = sum(n - 1 for n in audit.received.values() if n > 1)
    problems = disagreements(evidence.views)
    summary = [
        "",
        "| check | result |",
        "|---|---|",
        f"| emails recorded / received (distinct) / copies | {len(emails)} / "
        f"{sum(1 for n in audit.received.values() if n)} / {copies} |",
        f"| emails lost (recorded, never received) | {len(audit.lost)} |",
        f"| emails duplicated (same message received twice) | {duplicated} |",
        f"| messages still pending at the end | {evidence.pending_at_end} |",
        f"| SMS accepted by the gateway | {evidence.sms_sent} |",
        "| capacity: peak held / capacity | "
        + ", ".join(
            f"{level} {evidence.capacity.peak.get(level, 0)}/{cap}"
            for level, cap in sorted(evidence.capacity.capacity.items())
        )
        + (" (exceeded!)" if evidence.capacity.breaches else " (never exceeded)")
        + " |",
        f"| services disagreeing on an application | {len(problems)} |",
        f"| dead letters | {evidence.dead_letters} |",
    ]
    if baseline is not None:
        missing, extra = compare_with_baseline(
            message_multiset(audit), message_multiset(baseline.audit)
        )
        differing = sum(
            1
            for application, outcome in baseline.views.outcomes().items()
            if evidence.views.outcomes().get(application) != outcome
        )
        summary += [
            f"| messages vs the same seed without faults: missing / extra | {missing} / {extra} |",
            f"| applications whose outcome differs from the faultless season | {differing} |",
        ]
        if missing or extra:
            verdict.failures.append(f"{missing} messages missing, {extra} extra vs the baseline")
        if differing:
            verdict.failures.append(f"{differing} applications end differently than without faults")
    if audit.lost:
        verdict.failures.append(f"{len(audit.lost)} emails lost")
    if duplicated:
        verdict.failures.append(f"{duplicated} emails duplicated")
    if evidence.capacity.breaches:
        verdict.failures.append("capacity exceeded: " + "; ".join(evidence.capacity.breaches[:3]))
    if problems:
        verdict.failures.append(f"{len(problems)} disagreements, e.g. {problems[0]}")
    if evidence.dead_letters:
        verdict.failures.append(f"{evidence.dead_letters} dead letters")
    verdict.lines = rows + summary
    return verdict
