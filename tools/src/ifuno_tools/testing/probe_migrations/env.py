from ifuno_shared.persistence.migrations import run_env
from ifuno_tools.testing.probe_service import metadata

run_env(metadata)
