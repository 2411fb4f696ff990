"""The compose file refers only to things the project has (no Docker engine needed)."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from ifuno_tools.contracts import SERVICES, variables_read

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def console_scripts() -> set[str]:
    scripts = set()
    for pyproject in ROOT.glob("services/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text())["project"]["scripts"])
    return scripts


def test_every_platform_service_is_in_the_compose_file() -> None:
    assert set(SERVICES) <= set(COMPOSE["services"])
    assert {"kafka", "postgres", "mailpit", "topics"} <= set(COMPOSE["services"])


@pytest.mark.parametrize("service", SERVICES)
def test_build_command_ports_and_variables_exist(service: str) -> None:
    definition = COMPOSE["services"][service]
    build = definition["build"]
    assert (ROOT / build["context"]).is_dir()
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    command = " ".join(definition["command"])
    scripts = set(re.findall(r"ifuno-[a-z]+", command))
    assert scripts == {f"ifuno-{service}"} and scripts <= console_scripts()
    environment = definition["environment"]
    unknown = {name for name in environment if name.startswith("IFUNO_")} - variables_read(service)
    assert not unknown, f"{service} sets variables its code does not read: {unknown}"
    port = environment[f"IFUNO_{service.upper()}_HTTP_PORT"]
    assert definition["ports"] == [f"{port}:{port}"]
    assert f":{port}/health" in " ".join(definition["healthcheck"]["test"])
    assert importlib.import_module(f"ifuno_{service}.entrypoints.cli").main


def test_mounted_files_exist_and_no_secret_is_written_down() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for definition in COMPOSE["services"].values():
        for volume in definition.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert "POSTGRES_PASSWORD: ${IFUNO_POSTGRES_PASSWORD:?" in text
    assert not re.search(r"(PASSWORD|TOKEN)S?: (?!\$\{)[^\s]+", text)


def test_topics_are_created_with_partitions_and_replication() -> None:
    script = (ROOT / "deploy" / "create-topics.sh").read_text()
    for topic in ("portal", "candidature", "selection", "notification", "timeline", "deadletter"):
        assert f"ifuno.{topic}.v1" in script
    assert "--partitions" in script and "--replication-factor" in script
