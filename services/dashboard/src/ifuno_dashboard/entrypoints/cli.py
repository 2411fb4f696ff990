"""`ifuno-dashboard migrate|run`."""

from ifuno_shared.runtime import load_settings, make_cli

from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints.service import build_definition

main = make_cli(lambda: build_definition(load_settings(DashboardSettings)), "dashboard")
