"""Action tables: procgen's 15-action layout and a 4-action cardinal mode.

Procgen maze: for a in 0..8, ``(vx, vy) = (a // 3 - 1, a % 3 - 1)`` and diagonals collapse to
the horizontal move, so LEFT = {0, 1, 2}, DOWN = {3}, UP = {5}, RIGHT = {6, 7, 8} and
NO-OP = {4, 9..14}. Cardinal mode has the four moves in procgen's order: LEFT, DOWN, UP, RIGHT.
"""

from __future__ import annotations

import numpy as np

#: Directions, in the order every per-direction array of this package uses.
DIRECTIONS = ("up", "down", "left", "right", "noop")
UP, DOWN, LEFT, RIGHT, NOOP = range(5)
#: (d_row, d_col) of each direction.
DIRECTION_DELTAS = np.array([(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)], dtype=np.int64)
#: The four moves as (d_row, d_col) tuples, in direction order (up, down, left, right).
MOVES: tuple[tuple[int, int], ...] = tuple(
    (int(r), int(c)) for r, c in DIRECTION_DELTAS[:4].tolist()
)
#: Direction index of a one-square step (d_row, d_col).
DIRECTION_OF_STEP: dict[tuple[int, int], int] = {m: k for k, m in enumerate(MOVES)}

#: Direction of each action, per action mode.
ACTION_DIRECTIONS: dict[str, np.ndarray] = {
    "procgen": np.array(
        [LEFT, LEFT, LEFT, DOWN, NOOP, UP, RIGHT, RIGHT, RIGHT, NOOP, NOOP, NOOP, NOOP, NOOP, NOOP],
        dtype=np.int64,
    ),
    "cardinal": np.array([LEFT, DOWN, UP, RIGHT], dtype=np.int64),
}

#: A canonical action for each direction (up, down, left, right), per action mode.
DIRECTION_ACTIONS: dict[str, np.ndarray] = {
    "procgen": np.array([5, 3, 0, 6], dtype=np.int64),
    "cardinal": np.array([2, 1, 0, 3], dtype=np.int64),
}


def num_actions(action_mode: str) -> int:
    return int(ACTION_DIRECTIONS[action_mode].size)


def direction_probs(action_probs: np.ndarray, action_mode: str) -> np.ndarray:
    """Sums action probabilities ``[..., A]`` into direction probabilities ``[..., 5]``."""
    dirs = ACTION_DIRECTIONS[action_mode]
    onehot = np.zeros((dirs.size, len(DIRECTIONS)), dtype=action_probs.dtype)
    onehot[np.arange(dirs.size), dirs] = 1
    return action_probs @ onehot
