"""Breadth-first distances on a wall grid: the one search that the maze state's checks and the
analyses' queries (`mazegen.queries`) share. numpy and the move table only, so that
`mazegen.state` can use it without importing the queries built on top of it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from mazegen.actions import MOVES

#: Distance of a wall or a square no source reaches.
UNREACHABLE = -1


def grid_distances(walls: np.ndarray, sources: Iterable[tuple[int, int]]) -> np.ndarray:
    """``[W, W]`` int64: the step distance from the nearest of ``sources`` (open squares of
    ``walls`` ``[W, W]``, not checked here) to every square, `UNREACHABLE` for walls and
    squares cut off from them."""
    w = walls.shape[0]
    # The search runs on Python lists of the grid framed by a border of walls (flat indices,
    # no bounds checks): indexing the numpy arrays one square at a time cost 2-3x as much.
    side = w + 2
    framed = np.zeros((side, side), dtype=bool)
    framed[1:-1, 1:-1] = ~walls
    free = framed.ravel().tolist()
    dist = [UNREACHABLE] * (side * side)
    todo: deque[int] = deque()
    for r0, c0 in sources:
        i = (int(r0) + 1) * side + int(c0) + 1
        dist[i] = 0
        todo.append(i)
    steps = [dr * side + dc for dr, dc in MOVES]
    while todo:
        i = todo.popleft()
        d = dist[i] + 1
        for step in steps:
            j = i + step
            if free[j] and dist[j] < 0:
                dist[j] = d
                todo.append(j)
    return np.array(dist, dtype=np.int64).reshape(side, side)[1:-1, 1:-1].copy()
