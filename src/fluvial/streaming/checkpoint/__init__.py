"""Streaming checkpoints: verified metadata checkpoint files
(:mod:`.store`) and what goes into them (:mod:`.metadata`)."""
from .store import CheckpointError, CheckpointStore

__all__ = ["CheckpointError", "CheckpointStore"]
