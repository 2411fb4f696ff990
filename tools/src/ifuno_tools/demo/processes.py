"""Each service as its own OS process, configured by environment like in production.

A fleet can run several instances of a service (`instances={"candidature": 2}`):
same database, same consumer group, each on its own HTTP port. The chaos season
kills, stops and restarts instances one by one (`kill`, `restart`).

`python -m ifuno_tools.demo.processes SERVICE migrate|run` runs one service like its
console script, with the consumers' Kafka session timeout read from
`IFUNO_KAFKA_SESSION_TIMEOUT_MS`: the fleet uses it when asked for short sessions,
because the local broker notices a member gone only when its session expires.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ifuno_tools.local.ports import free_ports

SERVICES = ("timeline", "candidature", "selection", "notification", "dashboard")
CONSUMERS = ("candidature", "selection", "notification", "dashboard")
"""The services whose consumers take a session timeout (the timeline only publishes)."""
TOKENS = {
    "demo-admin": ("demo.admin", "admin"),
    "demo-reviewer": ("demo.reviewer", "reviewer"),
    "demo-committee": ("demo.committee", "committee"),
    "demo-viewer": ("demo.dashboard", "viewer"),
}
"""token -> (name, role): IFUNO_API_TOKENS is `token:name:role,...`."""
SESSION_TIMEOUT_VARIABLE = "IFUNO_KAFKA_SESSION_TIMEOUT_MS"


def console_script(service: str) -> str | None:
    """The service's console script next to this Python (the project's virtualenv)."""
    candidate = Path(sys.executable).parent / f"ifuno-{service}"
    return str(candidate) if candidate.exists() else shutil.which(f"ifuno-{service}")


def _stop_with_parent() -> None:
    """Linux: the service gets SIGTERM if the demo dies without stopping it (no orphans)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _built(service: str) -> bool:
    try:
        return importlib.util.find_spec(f"ifuno_{service}.entrypoints.cli") is not None
    except ModuleNotFoundError:
        return False


def parse_instances(text: str) -> dict[str, int]:
    """`candidature=2,notification=2` → {"candidature": 2, "notification": 2}."""
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit() or int(count) < 1:
            raise ValueError(f"expected service=count among {', '.join(SERVICES)}: {item!r}")
        if name == "timeline" and int(count) > 1:
            raise ValueError("the timeline owns the platform clock: one instance only")
        counts[name] = int(count)
    return counts


@dataclass
class ServiceProcess:
    name: str
    """The instance's name: the service's own for the first one, then `service-2`..."""
    service: str
    port: int
    log_path: Path
    command: list[str]
    environment: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.command, "run"],
                env=self.environment,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )


@dataclass
class ServiceFleet:
    run_dir: Path
    environment: dict[str, str]
    instances: dict[str, int] = field(default_factory=dict)
    """How many instances of each service (one when not named)."""
    session_timeout_ms: int | None = None
    """The consumers' Kafka session timeout; None keeps the services' default (10 s)."""
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def available(self) -> list[str]:
        """The services installed here (a service not built yet is left out)."""
        return [name for name in SERVICES if console_script(name) and _built(name)]

    def _command(self, service: str) -> list[str]:
        if self.session_timeout_ms is None:
            script = console_script(service)
            assert script is not None
            return [script]
        return [sys.executable, "-m", "ifuno_tools.demo.processes", service]

    def start(self) -> None:
        """Migrate every service's database at once (each its own; starting Python and
        importing a service is most of a migration's time), then launch the instances."""
        tokens = ",".join(f"{token}:{name}:{role}" for token, (name, role) in TOKENS.items())
        planned: list[ServiceProcess] = []
        services = self.available()
        ports = iter(free_ports(sum(self.instances.get(service, 1) for service in services)))
        for service in services:
            command = self._command(service)
            for number in range(1, self.instances.get(service, 1) + 1):
                name = service if number == 1 else f"{service}-{number}"
                port = next(ports)
                env = {
                    **os.environ,
                    **self.environment,
                    "IFUNO_API_TOKENS": tokens,
                    f"IFUNO_{service.upper()}_HTTP_PORT": str(port),
                    "IFUNO_LOG_LEVEL": "WARNING",
                    # The staff workspace (in the dashboard, started last) calls the
                    # others, each through its first instance.
                    **{
                        f"IFUNO_DASHBOARD_{first.service.upper()}_URL": first.url
                        for first in planned
                        if first.name == first.service
                    },
                }
                if self.session_timeout_ms is not None:
                    env[SESSION_TIMEOUT_VARIABLE] = str(self.session_timeout_ms)
                log_path = self.run_dir / "logs" / f"{name}.log"
                log_path.parent.mkdir(parents=True, exist_ok=True)
                planned.append(ServiceProcess(name, service, port, log_path, command, env))
        self._migrate([instance for instance in planned if instance.name == instance.service])
        for instance in planned:
            instance.launch()
            self.services[instance.name] = instance

    @staticmethod
    def _migrate(firsts: list[ServiceProcess]) -> None:
        """`migrate` for each service (its first instance's settings), all at once."""
        running = []
        for instance in firsts:
            with instance.log_path.open("ab") as log:
                running.append(
                    (
                        instance,
                        subprocess.Popen(
                            [*instance.command, "migrate"],
                            env=instance.environment,
                            stdout=log,
                            stderr=log,
                        ),
                    )
                )
        failed = [instance.name for instance, process in running if process.wait() != 0]
        if failed:
            raise RuntimeError(f"migration failed for {', '.join(failed)}; see their logs")

    def of(self, service: str) -> list[ServiceProcess]:
        """Every instance of one service."""
        return [s for s in self.services.values() if s.service == service]

    async def wait_ready(self, timeout: float = 60.0, names: list[str] | None = None) -> None:
        """Wait until these instances (all by default) answer /ready with 200."""
        chosen = [self.services[n] for n in names] if names else list(self.services.values())
        async with httpx.AsyncClient(timeout=2.0) as http, asyncio.timeout(timeout):
            for service in chosen:
                while True:
                    assert service.process is not None
                    if service.process.poll() is not None:
                        raise RuntimeError(
                            f"{service.name} stopped at start; see {service.log_path}"
                        )
                    try:
                        if (await http.get(f"{service.url}/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Send `sig` to one instance and wait until it has exited (SIGKILL after
        `timeout` if it ignores a gentler signal)."""
        instance = self.services[name]
        if instance.process is None or instance.process.poll() is not None:
            return
        instance.process.send_signal(sig)
        try:
            instance.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            instance.process.kill()
            instance.process.wait()

    def restart(self, name: str) -> None:
        """Start one instance again, on its port, after `kill`."""
        instance = self.services[name]
        if not instance.running:
            instance.launch()

    def stop(self) -> None:
        for service in self.services.values():
            if service.process is not None and service.process.poll() is None:
                service.process.terminate()
        for service in self.services.values():
            if service.process is not None:
                try:
                    service.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    service.process.kill()
                    service.process.wait()

    def url(self, name: str) -> str:
        return self.services[name].url


def run_service(service: str, command: str) -> None:
    """One service's CLI, its consumers on the session timeout of the environment."""
    from ifuno_shared.runtime import load_settings, make_cli

    if service not in SERVICES:
        raise SystemExit(f"unknown service {service!r}")
    definitions = importlib.import_module(f"ifuno_{service}.entrypoints.service")
    config = importlib.import_module(f"ifuno_{service}.config")
    settings_class = getattr(config, f"{service.capitalize()}Settings")
    options: dict[str, object] = {}
    if service in CONSUMERS and os.environ.get(SESSION_TIMEOUT_VARIABLE):
        options["session_timeout_ms"] = int(os.environ[SESSION_TIMEOUT_VARIABLE])
    main = make_cli(
        lambda: definitions.build_definition(load_settings(settings_class), **options), service
    )
    sys.argv = [f"ifuno-{service}", command]
    main()


if __name__ == "__main__":
    run_service(*sys.argv[1:3])
