"""Running a service: settings, definition, in-process runner, console script."""

from ifuno_shared.runtime.cli import make_cli
from ifuno_shared.runtime.service import (
    ServiceContext,
    ServiceDefinition,
    ServiceRunner,
)
from ifuno_shared.runtime.settings import ConfigurationError, ServiceSettings, load_settings

__all__ = [
    "ConfigurationError",
    "ServiceContext",
    "ServiceDefinition",
    "ServiceRunner",
    "ServiceSettings",
    "load_settings",
    "make_cli",
]
