"""The level-number table: which levels each part of the project plays, kept apart.

Training draws levels below `HELD_OUT_START` (procgen's ``num_levels`` / ``start_level``
inside that range: `training_levels`, which `MazeConfig` enforces and the env's level stream
draws from, so no setting can put a held-out maze into training). Everything held out lies at
or above it, each user at its own offset, so a maze seen by one never doubles as another's:

==========================  ====================================================
levels                      used by
==========================  ====================================================
[0, 2**31)                  training (``env.num_levels`` / ``env.start_level``)
eval.start_level + [0, n)   evaluation during training and ``experiments.evaluate``
+ `ANALYSIS_OFFSET`         ``experiments.patch`` analyses, ``experiments.study``'s channels
  (its end) + `FIT_OFFSET`  mazes goal fields are fitted on
  + `STUDY_RETARGET_OFFSET` ``experiments.study``'s retargeting mazes
  + `STUDY_SEARCH_OFFSET`   mazes for searching a patch's value (study, ``patch retarget``)
  (each of the study's, and its held-out P(cheese)'s, + k `STUDY_MAZE_SET_STRIDE`: the
  study's ``maze_set=k``, the same measurements on another set of mazes)
+ `VIEWER_OFFSET`           the viewer's mazes
+ `VIEWER_FIT_OFFSET`       the viewer's channel discovery
==========================  ====================================================
"""

from __future__ import annotations

import numpy as np

HELD_OUT_START = 2**31  # the default eval.start_level
_MAX_SPAN = 2**31 - 1  # the widest range drawn from (what existing seeds were drawn with)
ANALYSIS_OFFSET = 10**6
FIT_OFFSET = 10**5
STUDY_RETARGET_OFFSET = 4 * 10**5
STUDY_SEARCH_OFFSET = 6 * 10**5
STUDY_MAZE_SET_STRIDE = 10**4
STUDY_MAZE_SETS = 10  # k < 10: every shifted range stays inside its own part of the table
VIEWER_OFFSET = 2 * 10**6
VIEWER_FIT_OFFSET = 3 * 10**6


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
