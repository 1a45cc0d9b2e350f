"""A curriculum over maze sizes inside the fixed world: train on small mazes first, then grow
the largest size in stages until it reaches the target distribution's ``env.max_size``.

The world (and so the observation) never changes, only which inner sizes are drawn; the last
stage is the target distribution itself, so held-out evaluation always measures the real task.
`agents.train.callbacks.CurriculumCallback` applies the schedule during training; its settings
are `agents.settings.train.CurriculumConfig`.
"""

from __future__ import annotations

from agents.settings.train import CurriculumConfig
from mazegen import MazeConfig


def stage_config(cur: CurriculumConfig, env: MazeConfig, stage: int) -> MazeConfig:
    """The maze distribution of ``stage`` (stages past the schedule: ``env`` itself)."""
    if stage >= len(cur.max_sizes):
        return env
    return env.replace(max_size=cur.max_sizes[stage])
