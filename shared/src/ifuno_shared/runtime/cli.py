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

QUIET_LIBRARIES = {"aiokafka": logging.ERROR, "httpx": logging.WARNING, "httpcore": logging.WARNING}
"""Libraries logged above INFO only: aiokafka's retries are noise, and httpx writes every
request's URL at INFO, where a staff search or an application id could end up."""


def configure_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=level, format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s"
    )
    for library, library_level in QUIET_LIBRARIES.items():
        logging.getLogger(library).setLevel(library_level)


def make_cli(build_definition: Callable[[], ServiceDefinition], name: str) -> Callable[[], None]:
    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=f"ifuno-{name}", description=f"The {name} service.")
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("migrate", help="bring the service's database to the latest schema")
        commands.add_parser("run", help="serve HTTP, publish the outbox, consume events")
        arguments = parser.parse_args(argv)
        definition = build_definition()
        configure_logging(definition.settings.log_level, name)
        if arguments.command == "migrate":
            upgrade(definition.settings.database_url, definition.migrations_dir)
            logging.getLogger(__name__).info("%s database migrated", name)
        else:
            runner = ServiceRunner(definition)
            tune_garbage_collection()
            uvloop.run(runner.serve_forever())

    return main
