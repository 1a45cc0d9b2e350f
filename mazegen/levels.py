"""The line between training and held-out levels.

Training draws levels below `HELD_OUT_START` (procgen's ``num_levels`` / ``start_level``
inside that range: `training_levels`, which `MazeConfig` enforces and the env's level stream
draws from, so no setting can put a held-out maze into training). Every level at or above it is
held out: no training env draws it, and code that evaluates or analyses a policy picks its mazes
there.
"""

from __future__ import annotations

import numpy as np

HELD_OUT_START = 2**31  # the default eval.start_level
_MAX_SPAN = 2**31 - 1  # the widest range drawn from (what existing seeds were drawn with)


def training_levels(start_level: int, num_levels: int) -> tuple[int, int]:
    """``[first, end)``: the levels a training env with these settings draws from.

    ``num_levels = 0`` (unlimited) means every level from ``start_level`` up to, not
    including, `HELD_OUT_START`.
    """
    return start_level, (start_level + num_levels if num_levels > 0 else HELD_OUT_START)


def draw_training_level(rng: np.random.Generator, start_level: int, num_levels: int) -> int:
    """A level uniform over `training_levels` (the env's level stream: never a held-out one)."""
    first, end = training_levels(start_level, num_levels)
    return first + int(rng.integers(min(end - first, _MAX_SPAN)))
