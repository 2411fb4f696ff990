"""`python -m ifuno_tools.local [DIR]`: start the local servers, print their settings
as `export NAME=value` lines (for `eval` or a shell to source), serve until Ctrl-C."""

from __future__ import annotations

import argparse
import shlex
import tempfile
from pathlib import Path

from ifuno_tools.local.signals import StopSignals
from ifuno_tools.local.stack import LocalInfrastructure


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ifuno_tools.local", description=__doc__)
    parser.add_argument("base_dir", nargs="?", type=Path, help="data, logs, mail (default: temp)")
    parser.add_argument("--kafka-port", type=int, help="default: a free port")
    parser.add_argument("--smtp-port", type=int, help="default: a free port")
    parser.add_argument("--sms-port", type=int, help="default: a free port")
    parser.add_argument(
        "--durable-kafka", action="store_true", help="broker log in an in-process S3 (moto)"
    )
    parser.add_argument("--env-file", type=Path, help="also write the settings to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    base = args.base_dir or Path(tempfile.mkdtemp(prefix="ifuno-"))
    infrastructure = LocalInfrastructure(
        base,
        kafka_port=args.kafka_port,
        smtp_port=args.smtp_port,
        sms_port=args.sms_port,
        durable_kafka=args.durable_kafka,
    )
    environment = infrastructure.start()
    try:
        stop = StopSignals()
        lines = [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]
        if args.env_file is not None:
            args.env_file.write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        print(f"# mail captured in {infrastructure.smtp.folder}; Ctrl-C stops", flush=True)
        stop.wait()
    finally:
        infrastructure.stop()


if __name__ == "__main__":
    main()
