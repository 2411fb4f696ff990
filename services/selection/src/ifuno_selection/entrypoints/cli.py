"""`ifuno-selection migrate|run`."""

from ifuno_shared.runtime import load_settings, make_cli

from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints.service import build_definition

main = make_cli(lambda: build_definition(load_settings(SelectionSettings)), "selection")
