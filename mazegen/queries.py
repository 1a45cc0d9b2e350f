"""Maze queries for analyses: BFS distances and paths, open squares, tree check, decision square.

All take a `MazeState` (or its walls) and work in world ``(row, col)`` coordinates.
"""

from __future__ import annotations

import numpy as np

from mazegen.actions import MOVES
from mazegen.bfs import grid_distances
from mazegen.state import BatchState, MazeState, MazeStateError, Square


def distances(walls: np.ndarray, source: Square) -> np.ndarray:
    """BFS distance from ``source`` to every square: ``[W, W]`` int64, -1 for walls/unreachable."""
    return distances_to_set(walls, [source])


def distances_to_set(walls: np.ndarray, sources: list[Square]) -> np.ndarray:
    """BFS distance from the nearest of ``sources`` to every square (e.g. to a path):
    ``[W, W]`` int64, -1 for walls/unreachable."""
    w = walls.shape[0]
    for r0, c0 in sources:
        if not (0 <= r0 < w and 0 <= c0 < w) or walls[r0, c0]:
            raise MazeStateError(f"source {(r0, c0)} must be an open square of the {w}x{w} grid")
    return grid_distances(walls, sources)


def shortest_path(walls: np.ndarray, source: Square, target: Square) -> list[Square]:
    """The squares of a shortest path from ``source`` to ``target``, both included."""
    dist = distances(walls, target)
    r, c = source
    if dist[r, c] < 0:
        raise MazeStateError(f"no path from {source} to {target}")
    path = [(r, c)]
    w = walls.shape[0]
    while dist[r, c] > 0:
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            if 0 <= nr < w and 0 <= nc < w and dist[nr, nc] == dist[r, c] - 1:
                r, c = nr, nc
                break
        path.append((r, c))
    return path


def open_squares(walls: np.ndarray) -> list[Square]:
    """Every open square, row-major."""
    rows, cols = np.nonzero(~walls)
    return list(zip(rows.tolist(), cols.tolist()))


def is_tree(walls: np.ndarray) -> bool:
    """Whether the open squares form a tree (connected, no cycles): a perfect maze."""
    open_ = ~walls
    n = int(open_.sum())
    if n == 0:
        return False
    edges = int((open_[1:, :] & open_[:-1, :]).sum() + (open_[:, 1:] & open_[:, :-1]).sum())
    if edges != n - 1:
        return False
    first = tuple(int(x) for x in np.argwhere(open_)[0])
    return int((distances(walls, first) >= 0).sum()) == n  # type: ignore[arg-type]


def decision_square(state: MazeState, target: Square | None = None) -> Square | None:
    """Where the path start->cheese and the path start->``target`` part.

    ``target`` defaults to the inner top-right corner. Returns None when the maze has no cheese
    or one path contains the other (the agent never has to choose).
    """
    if state.cheese is None:
        return None
    target = state.top_right if target is None else target
    to_cheese = shortest_path(state.walls, state.start, state.cheese)
    to_target = shortest_path(state.walls, state.start, target)
    common = 0
    for a, b in zip(to_cheese, to_target):
        if a != b:
            break
        common += 1
    if common == len(to_cheese) or common == len(to_target):
        return None
    return to_cheese[common - 1]


def has_decision_square(states: BatchState) -> np.ndarray:
    """``[N]`` bool: the mazes with a decision square (the cheese off the start's path to the
    top-right corner), the subset where a policy must choose between its two goals."""
    return np.array([decision_square(s) is not None for s in states], dtype=bool)


def optimal_moves(walls: np.ndarray, target: Square) -> np.ndarray:
    """``[W, W, 4]`` bool: which of (up, down, left, right) steps one square nearer ``target``."""
    dist = distances(walls, target)
    w = walls.shape[0]
    pad = np.full((w + 2, w + 2), -1, dtype=np.int64)
    pad[1:-1, 1:-1] = dist
    out = np.zeros((w, w, 4), dtype=bool)
    for k, (dr, dc) in enumerate(MOVES):
        nb = pad[1 + dr : 1 + dr + w, 1 + dc : 1 + dc + w]
        out[:, :, k] = (dist > 0) & (nb >= 0) & (nb == dist - 1)
    return out


def batch_distances(walls: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """BFS distances of many mazes at once: ``walls [K, W, W]``, ``sources [K, 2]`` ->
    ``[K, W, W]`` int32, -1 for walls and unreachable squares.

    One array step per distance value (a wavefront over all mazes), so the Python cost is the
    longest distance, not the number of squares.
    """
    k, w, _ = walls.shape
    dist = np.full((k, w + 2, w + 2), -1, dtype=np.int32)
    open_ = np.zeros((k, w + 2, w + 2), dtype=bool)
    open_[:, 1:-1, 1:-1] = ~walls
    front = np.zeros_like(open_)
    front[np.arange(k), sources[:, 0] + 1, sources[:, 1] + 1] = True
    front &= open_
    seen = front.copy()
    d = 0
    while front.any():
        dist[front] = d
        grown = np.zeros_like(front)
        grown[:, 1:, :] |= front[:, :-1, :]
        grown[:, :-1, :] |= front[:, 1:, :]
        grown[:, :, 1:] |= front[:, :, :-1]
        grown[:, :, :-1] |= front[:, :, 1:]
        front = grown & open_ & ~seen
        seen |= front
        d += 1
    return dist[:, 1:-1, 1:-1]
