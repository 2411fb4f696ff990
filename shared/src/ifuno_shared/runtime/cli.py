"""`ifuno-<service> migrate|run`: the console script of every service.

A service runs on uvloop: under load the standard event loop's own work (selectors,
callbacks, transports) took 13 to 17 % of a service's CPU."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

import uvloop

from ifuno_shared.persistence.migrations import upgrade
from ifuno_shared.runtime.collector import tune_garbage_collection
from ifuno_shared.runtime.service import ServiceDefinition, ServiceRunner


def make_cli(build_definition: Callable[[], ServiceDefinition], name: str) -> Callable[[], None]:
    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"ifuno-{name}", description=f"The {name} service.")
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("migrate", help="bring the service's database to the latest schema")
        commands.add_parser("run", help="serve HTTP, publish the outbox, consume events")
        arguments = parser.parse_args(argv)
        definition = build_definition()
        logging.basicConfig(
            level=definition.settings.log_level,
            format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("aiokafka").setLevel(logging.ERROR)
        if arguments.command == "migrate":
            upgrade(definition.settings.database_url, definition.migrations_dir)
            logging.getLogger(__name__).info("%s database migrated", name)
        else:
            runner = ServiceRunner(definition)
            tune_garbage_collection()
            uvloop.run(runner.serve_forever())

    return main
