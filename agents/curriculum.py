"""A curriculum over maze sizes inside the fixed world: train on small mazes first, then grow
the largest size in stages until it reaches the target distribution's ``env.max_size``.

The world (and so the observation) never changes, only which inner sizes are drawn; the last
stage is the target distribution itself, so held-out evaluation always measures the real task.
`agents.callbacks.CurriculumCallback` applies the schedule during training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mazegen import MazeConfig


@dataclass
class CurriculumConfig:
    """A size schedule. Empty ``max_sizes`` (the default) trains on the target distribution.

    Attributes:
        max_sizes: Largest inner maze size of each stage, increasing (odd, each <= env.max_size).
            Sizes in a stage are uniform over the odd values ``env.min_size..max_sizes[k]``;
            after the last stage training uses ``env.max_size``.
        advance_at: Advance when the rollout success rate (cheese reached before the time
            limit) over at least ``min_episodes`` finished episodes reaches this.
        min_episodes: Episodes that each success estimate covers.
        max_stage_steps: Advance after this many steps in a stage regardless (0: never), so a
            stage the agent cannot master does not stall the run.
    """

    max_sizes: list[int] = field(default_factory=list)
    advance_at: float = 0.8
    min_episodes: int = 500
    max_stage_steps: int = 0


def check_curriculum(cur: CurriculumConfig, env: MazeConfig) -> str | None:
    """A one-line problem with the schedule for ``env``, or None."""
    sizes = list(cur.max_sizes)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in sizes):
        return f"curriculum.max_sizes must be integers, got {sizes}"
    if any(s % 2 == 0 or s < env.min_size or s > env.max_size for s in sizes):
        return (
            f"curriculum.max_sizes must be odd sizes in [env.min_size, env.max_size] = "
            f"[{env.min_size}, {env.max_size}], got {sizes}"
        )
    if sizes != sorted(set(sizes)):
        return f"curriculum.max_sizes must be strictly increasing, got {sizes}"
    if not 0 < cur.advance_at <= 1:
        return f"curriculum.advance_at must be in (0, 1], got {cur.advance_at}"
    if cur.min_episodes < 1 or cur.max_stage_steps < 0:
        return "curriculum.min_episodes must be >= 1 and curriculum.max_stage_steps >= 0"
    return None


def stage_config(cur: CurriculumConfig, env: MazeConfig, stage: int) -> MazeConfig:
    """The maze distribution of ``stage`` (stages past the schedule: ``env`` itself)."""
    if stage >= len(cur.max_sizes):
        return env
    return env.replace(max_size=cur.max_sizes[stage])
