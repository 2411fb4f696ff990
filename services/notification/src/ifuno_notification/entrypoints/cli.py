"""`ifuno-notification migrate|run`."""

from ifuno_shared.runtime import load_settings, make_cli

from ifuno_notification.config import NotificationSettings
from ifuno_notification.entrypoints.service import build_definition

main = make_cli(lambda: build_definition(load_settings(NotificationSettings)), "notification")
