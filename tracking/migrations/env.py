from shared.migrations import run_env
from tracking.models import metadata

run_env(metadata)
