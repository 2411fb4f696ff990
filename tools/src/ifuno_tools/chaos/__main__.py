"""`python -m ifuno_tools.chaos`: the demo's season while an adversary breaks things.

First the same seed's season without faults (the reference), then the season under
the adversary; then the checks and the chaos table. Exit status 1 if anything was
lost, sent twice, over capacity, disagreeing, dead-lettered, or not recovered in 30 s.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ifuno_tools.chaos.report import judge
from ifuno_tools.chaos.season import SeasonOptions, run_season
from ifuno_tools.demo.processes import parse_instances


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=2027, help="seed of the season and faults")
    parser.add_argument("--candidates", type=int, default=120, help="how many candidates apply")
    parser.add_argument(
        "--short",
        action="store_true",
        help="two-day steps and four faults (selection, notification, PostgreSQL, SMTP)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the faultless reference season"
    )
    parser.add_argument(
        "--instances",
        type=parse_instances,
        default={},
        help="instances per service, e.g. candidature=2,notification=2",
    )
    parser.add_argument("--run-dir", type=Path, help="where logs and the report go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ifuno-chaos-"))
    options = SeasonOptions(
        seed=args.seed, candidates=args.candidates, short=args.short, instances=args.instances
    )
    print(f"IFUNO chaos season: {args.candidates} candidates, seed {args.seed}, in {run_dir}")
    baseline = None
    if not args.no_baseline:
        print("The reference season, without faults:", flush=True)
        reference = SeasonOptions(**{**vars(options), "faults": False, "quiet": True})
        baseline = run_season(reference, run_dir / "baseline")
        print(f"  done in {baseline.seconds:.0f} s", flush=True)
    print("The season under the adversary:", flush=True)
    evidence = run_season(options, run_dir / "chaos")
    verdict = judge(evidence, baseline)
    table = "\n".join(verdict.lines)
    print(f"\nChaos season done in {evidence.seconds:.0f} s\n\n{table}\n")
    (run_dir / "chaos-report.md").write_text(table + "\n")
    if verdict.ok:
        print("Target met: nothing lost, nothing sent twice, capacity kept, every fault recovered.")
        return 0
    print("Target NOT met:")
    for failure in verdict.failures:
        print(f"  - {failure}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
