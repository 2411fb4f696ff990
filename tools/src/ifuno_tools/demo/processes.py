"""Each service as its own OS process, configured by environment like in production."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ifuno_tools.local.ports import free_port

SERVICES = ("timeline", "candidature", "selection", "notification", "dashboard")
TOKENS = {
    "demo-admin": ("demo.admin", "admin"),
    "demo-reviewer": ("demo.reviewer", "reviewer"),
    "demo-committee": ("demo.committee", "committee"),
    "demo-viewer": ("demo.dashboard", "viewer"),
}
"""token -> (name, role): IFUNO_API_TOKENS is `token:name:role,...`."""


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


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ServiceFleet:
    run_dir: Path
    environment: dict[str, str]
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def available(self) -> list[str]:
        """The services installed here (a service not built yet is left out)."""
        return [name for name in SERVICES if console_script(name) and _built(name)]

    def start(self) -> None:
        tokens = ",".join(f"{token}:{name}:{role}" for token, (name, role) in TOKENS.items())
        for name in self.available():
            port = free_port()
            script = console_script(name)
            assert script is not None
            env = {
                **os.environ,
                **self.environment,
                "IFUNO_API_TOKENS": tokens,
                f"IFUNO_{name.upper()}_HTTP_PORT": str(port),
                "IFUNO_LOG_LEVEL": "WARNING",
                # The staff workspace (in the dashboard, started last) calls the others.
                **{
                    f"IFUNO_DASHBOARD_{other.upper()}_URL": started.url
                    for other, started in self.services.items()
                },
            }
            log_path = self.run_dir / "logs" / f"{name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as log:
                subprocess.run([script, "migrate"], env=env, stdout=log, stderr=log, check=True)
                process = subprocess.Popen(
                    [script, "run"],
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=_stop_with_parent,
                )
            self.services[name] = ServiceProcess(name, port, log_path, process)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http, asyncio.timeout(timeout):
            for service in self.services.values():
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
