"""Scripted policies with known behaviour, for baselines and for testing the metrics.

They read the symbolic grid observation (channels wall, mouse, cheese) and put probability 1
on one move.
"""

from __future__ import annotations

import numpy as np

from agents.policy.rollout import ActFn
from mazegen.actions import DIRECTION_ACTIONS, num_actions
from mazegen.queries import optimal_moves


def _decode(
    obs: np.ndarray,
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int] | None, tuple[int, int]]:
    """One grid observation -> (walls, mouse, cheese or None, inner top-right corner)."""
    walls = obs[0].astype(bool)
    mouse = tuple(int(x) for x in np.argwhere(obs[1])[0])
    cheese_at = np.argwhere(obs[2])
    cheese = tuple(int(x) for x in cheese_at[0]) if len(cheese_at) else None
    rows, cols = np.nonzero(~walls)
    return walls, mouse, cheese, (int(rows.min()), int(cols.max()))  # type: ignore[return-value]


def _toward(action_mode: str, pick_target) -> ActFn:  # type: ignore[no-untyped-def]
    n_actions = num_actions(action_mode)
    table = DIRECTION_ACTIONS[action_mode]

    def act(obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        if obs.ndim != 4 or obs.shape[1] != 3 or obs.max() > 1:
            raise ValueError("scripted policies read grid observations (obs_mode='grid')")
        probs = np.zeros((obs.shape[0], n_actions))
        for i in range(obs.shape[0]):
            walls, mouse, cheese, corner = _decode(obs[i])
            target = pick_target(cheese, corner)
            moves = optimal_moves(walls, target)[mouse] if target != mouse else np.zeros(4, bool)
            direction = int(np.argmax(moves)) if moves.any() else 0  # at the target: bump up
            probs[i, table[direction]] = 1.0
        return probs

    return act


def oracle_act_fn(action_mode: str) -> ActFn:
    """Follows the BFS shortest path to the cheese."""
    return _toward(action_mode, lambda cheese, corner: cheese if cheese is not None else corner)


def top_right_act_fn(action_mode: str) -> ActFn:
    """Always walks to the inner top-right corner, ignoring the cheese."""
    return _toward(action_mode, lambda cheese, corner: corner)
