"""Which held-out levels each part of the project plays, kept apart.

`mazegen.levels` draws the one line the environment knows: training levels lie below
`mazegen.levels.HELD_OUT_START`, and everything at or above it is held out. This table shares
the held-out levels out among the commands, each at its own offset from a run's
``eval.start_level`` (`mazegen.levels.HELD_OUT_START` by default), so a maze seen by one never
doubles as another's. The values are those every committed result was measured with: changing one
changes which mazes a command draws.

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

ANALYSIS_OFFSET = 10**6
FIT_OFFSET = 10**5
STUDY_RETARGET_OFFSET = 4 * 10**5
STUDY_SEARCH_OFFSET = 6 * 10**5
STUDY_MAZE_SET_STRIDE = 10**4
STUDY_MAZE_SETS = 10  # k < 10: every shifted range stays inside its own part of the table
VIEWER_OFFSET = 2 * 10**6
VIEWER_FIT_OFFSET = 3 * 10**6
