"""`ifuno-timeline migrate|run`."""

from ifuno_shared.runtime import load_settings, make_cli

from ifuno_timeline.config import TimelineSettings
from ifuno_timeline.entrypoints.service import build_definition

main = make_cli(lambda: build_definition(load_settings(TimelineSettings)), "timeline")
