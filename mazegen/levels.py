"""The level-number table: which levels each part of the project plays, kept apart.

Training draws levels below `HELD_OUT_START` (procgen's ``num_levels`` / ``start_level``
inside that range). Everything held out lies at or above it, each user at its own offset, so a
maze seen by one never doubles as another's:

==========================  ====================================================
levels                      used by
==========================  ====================================================
[0, 2**31)                  training (``env.num_levels`` / ``env.start_level``)
eval.start_level + [0, n)   evaluation during training and ``experiments.evaluate``
+ `ANALYSIS_OFFSET`         ``experiments.patch`` analyses
  (its end) + `FIT_OFFSET`  mazes goal fields are fitted on
+ `VIEWER_OFFSET`           the viewer's mazes
+ `VIEWER_FIT_OFFSET`       the viewer's channel discovery
==========================  ====================================================
"""

from __future__ import annotations

HELD_OUT_START = 2**31  # the default eval.start_level
ANALYSIS_OFFSET = 10**6
FIT_OFFSET = 10**5
VIEWER_OFFSET = 2 * 10**6
VIEWER_FIT_OFFSET = 3 * 10**6
