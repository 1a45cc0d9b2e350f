"""Settings for a bare 2023 checkpoint (``run=model_rand_region_5.pth``): the environment it runs
in, and how large its analyses are.

A checkpoint of Langosco et al.'s training code has no config beside it, so the environment
comes from here: ``pth.distribution`` (``hard`` or ``easy``) and ``pth.rand_region`` (the
cheese's top-right region in training, as procgenAISC's ``rand_region``), defaulting to hard
with the 5 x 5 region (the analysed agent). Every command that writes results records it.

The environment is the procgen-faithful mode (`mazegen` ``MazeConfig(procgen=True)``: procgen's
levels and its 64 x 64 frames, pixel for pixel), the observations the 2023 agent was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.settings.base import ConfigError

#: procgen ``maze``'s world side per distribution mode.
WORLD_SIZES = {"hard": 25, "easy": 15}


@dataclass
class PthConfig:
    """Settings of a bare 2023 checkpoint (ignored for run folders and this project's files).

    Attributes:
        distribution: procgen's distribution mode: ``hard`` (25 x 25 world, inner sizes
            3..25) or ``easy`` (15 x 15, 3..15).
        rand_region: The cheese's region in training: the top-right n x n of the inner maze
            (procgenAISC's ``rand_region``; 0 is the top-right square itself, as 1).
        full: Run the analyses at the sizes given on the command line; by default a 2023
            checkpoint (16x slower per observation than the shipped agents) runs them at
            smaller sizes that finish in minutes, and prints how long the full size would take.
    """

    distribution: str = "hard"
    rand_region: int = 5
    full: bool = False


def validate_pth(cfg: PthConfig) -> None:
    """Raises `ConfigError` (one line) for a distribution or region that does not exist."""
    if cfg.distribution not in WORLD_SIZES:
        raise ConfigError(
            f"pth.distribution must be one of {', '.join(WORLD_SIZES)}, got {cfg.distribution!r}"
        )
    world = WORLD_SIZES[cfg.distribution]
    if isinstance(cfg.rand_region, bool) or not 0 <= cfg.rand_region <= world:
        raise ConfigError(f"pth.rand_region must be 0..{world}, got {cfg.rand_region!r}")


def env_settings(cfg: PthConfig) -> dict[str, Any]:
    """The `mazegen.MazeConfig` fields of the environment a 2023 checkpoint runs in."""
    validate_pth(cfg)
    world = WORLD_SIZES[cfg.distribution]
    fields: dict[str, Any] = dict(
        world_size=world,
        min_size=3,
        max_size=world,
        cheese_region=max(1, cfg.rand_region),
        obs_mode="rgb",
        action_mode="procgen",
        obs_size=64,
        max_steps=500,
        reward=10.0,
        procgen=True,
    )
    return fields
