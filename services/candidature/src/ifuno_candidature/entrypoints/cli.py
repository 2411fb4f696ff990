"""`ifuno-candidature migrate|run`."""

from ifuno_shared.runtime import load_settings, make_cli

from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints.service import build_definition

main = make_cli(lambda: build_definition(load_settings(CandidatureSettings)), "candidature")
