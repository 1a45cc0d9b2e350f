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
#: procgen-faithful mode: levels are procgen's (0 .. 2**31 - 2, what procgen's own level
#: stream draws), so the held-out levels are the top 2**24 of that space,
#: ``[PROCGEN_HELD_OUT_START, PROCGEN_LEVEL_END)``, and training draws below them.
PROCGEN_HELD_OUT_START = 2**31 - 2**24
PROCGEN_LEVEL_END = 2**31 - 1


def held_out_start(procgen: bool = False) -> int:
    """The first held-out level of the default (``procgen=False``) or procgen-faithful mode."""
    return PROCGEN_HELD_OUT_START if procgen else HELD_OUT_START


def training_levels(start_level: int, num_levels: int, procgen: bool = False) -> tuple[int, int]:
    """``[first, end)``: the levels a training env with these settings draws from.

    ``num_levels = 0`` (unlimited) means every level from ``start_level`` up to, not
    including, `held_out_start` of the mode.
    """
    end = held_out_start(procgen)
    return start_level, (start_level + num_levels if num_levels > 0 else end)


def draw_training_level(
    rng: np.random.Generator, start_level: int, num_levels: int, procgen: bool = False
) -> int:
    """A level uniform over `training_levels` (the env's level stream: never a held-out one)."""
    first, end = training_levels(start_level, num_levels, procgen)
    return first + int(rng.integers(min(end - first, _MAX_SPAN)))
