from ifuno_shared.persistence.migrations import run_env
from ifuno_timeline.adapters.tables import metadata

run_env(metadata)
