from ifuno_dashboard.adapters.tables import metadata
from ifuno_shared.persistence.migrations import run_env

run_env(metadata)
