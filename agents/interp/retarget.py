"""Retargeting: send the mouse to every open square with each intervention
(`agents.interp.interventions`) and measure how often it gets there (success within a step
budget, the 2023 normalized path probability, by distance from the path to the top-right)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.interp.activations import PatchedAct, Setting, play, same_net, stack_acts
from agents.policy.hooked import HookError
from agents.policy.metrics import rate
from agents.policy.rollout import ActFn, Episodes
from mazegen import MazeConfig
from mazegen.actions import DIRECTION_OF_STEP
from mazegen.queries import distances, distances_to_set, open_squares, shortest_path
from mazegen.render import observe
from mazegen.state import BatchState, MazeState


def check_target(state: MazeState, square: tuple[int, int]) -> None:
    """Raises `HookError` unless ``square`` is an open square of the maze."""
    w = state.world_size
    r, c = square
    if not (0 <= r < w and 0 <= c < w):
        raise HookError(f"target {square} is off the {w}x{w} grid")
    if state.walls[r, c]:
        raise HookError(f"target {square} is on a wall; pick an open square")


@dataclass
class Targets:
    """Target squares of a retargeting experiment, one row per (maze, target) pair.

    Attributes:
        maze: ``[K]`` index of the maze.
        squares: ``[K, 2]`` the target square.
        near: ``[K]`` the target lies in the inner top-right quadrant.
        path_distance: ``[K]`` steps from the target to the path from the start to the inner
            top-right corner (0: on it), the 2023 figure's x-axis.
        behind_cheese: ``[K]`` the cheese lies on a shortest path from the mouse to the target
            (in a tree maze, the only path): with the cheese present, an episode that goes
            there ends at the cheese first, so no intervention inside the network reaches it.
    """

    maze: np.ndarray
    squares: np.ndarray
    near: np.ndarray
    path_distance: np.ndarray
    behind_cheese: np.ndarray


def targets_of(
    states: BatchState, per_maze: int = 0, rng: np.random.Generator | None = None
) -> Targets:
    """Every open square of each maze but the start and the cheese (or ``per_maze`` of them,
    drawn with ``rng``)."""
    idx, sq = [], []
    for i, s in enumerate(states):
        cand = [t for t in open_squares(s.walls) if t not in (s.start, s.cheese)]
        if per_maze and len(cand) > per_maze:
            assert rng is not None
            cand = [cand[int(k)] for k in sorted(rng.choice(len(cand), per_maze, replace=False))]
        idx += [i] * len(cand)
        sq += cand
    return _targets(states, np.array(idx, dtype=np.int64), sq)


def targets_at(states: BatchState, squares: np.ndarray) -> Targets:
    """The target ``squares[k]`` (``[K, 2]``) on maze ``states[k]``, one each."""
    return _targets(states, np.arange(states.num), [(int(r), int(c)) for r, c in squares])


def _targets(states: BatchState, maze: np.ndarray, squares: list[tuple[int, int]]) -> Targets:
    """`Targets` of ``squares[k]`` on maze ``states[maze[k]]``."""
    # per maze: its state, half its inner size, the distances to its path to the top-right and
    # (with a cheese) from the mouse and through the cheese
    seen: dict[int, tuple[MazeState, int, np.ndarray, tuple[np.ndarray, np.ndarray] | None]] = {}
    near, pdist, behind = [], [], []
    for i, t in zip(maze.tolist(), squares):
        if i not in seen:
            s = states[i]
            to_path = distances_to_set(s.walls, shortest_path(s.walls, s.start, s.top_right))
            # from the mouse, and from the cheese: a square is behind the cheese when going
            # through it is no longer than the shortest path
            via: tuple[np.ndarray, np.ndarray] | None = None
            if s.cheese is not None:
                from_mouse = distances(s.walls, s.mouse)
                via = (from_mouse, from_mouse[s.cheese] + distances(s.walls, s.cheese))
            seen[i] = (s, (s.inner_size + 1) // 2, to_path, via)
        s, half, to_path, via = seen[i]
        near.append(s.in_region(t, half))
        pdist.append(int(to_path[t]))
        behind.append(via is not None and via[0][t] >= 0 and via[0][t] == via[1][t])
    return Targets(
        maze,
        np.array(squares, dtype=np.int64).reshape(-1, 2),
        np.array(near, dtype=bool),
        np.array(pdist, dtype=np.int64),
        np.array(behind, dtype=bool),
    )


def path_probability(
    act: ActFn, states: BatchState, targets: np.ndarray, config: MazeConfig, action_dirs: np.ndarray
) -> np.ndarray:
    """``[K]`` normalized path probability: geometric mean, along the shortest path from the
    mouse to the target, of the policy's probability of the direction of the path's next step
    (summed over the actions of that direction)."""
    rows: list[int] = []
    at: list[tuple[int, int]] = []
    want: list[int] = []
    for k in range(states.num):
        s = states[k]
        path = shortest_path(s.walls, s.mouse, tuple(targets[k]))
        for a, b in zip(path, path[1:]):
            if b == s.cheese:
                break
            at.append(a)
            rows.append(k)
            want.append(DIRECTION_OF_STEP[(b[0] - a[0], b[1] - a[1])])
    out = np.ones(states.num)
    if not rows:
        return out
    batch = states.take(np.array(rows)).placed(mouse=np.array(at, dtype=np.int64))
    rows_a = np.array(rows)
    logp = np.zeros(states.num)
    count = np.zeros(states.num)
    obs = observe(batch, config)
    for s0 in range(0, len(obs), 1024):
        sl = slice(s0, s0 + 1024)
        probs = act(obs[sl], rows_a[sl])
        dir_probs = np.stack([probs[:, action_dirs == d].sum(axis=1) for d in range(4)], axis=1)
        p = dir_probs[np.arange(len(probs)), np.array(want[sl])]
        np.add.at(logp, rows_a[sl], np.log(np.maximum(p, 1e-12)))
        np.add.at(count, rows_a[sl], 1)
    ok = count > 0
    out[ok] = np.exp(logp[ok] / count[ok])
    return out


DISTANCE_BINS = ((1, 2), (3, 4), (5, 8), (9, 12), (13, 10**6))
PATH_DISTANCE_BINS = ((0, 0), (1, 4), (5, 9), (10, 24), (25, 10**6))


def _binned(
    values: np.ndarray, by: np.ndarray, bins: tuple[tuple[int, int], ...]
) -> dict[str, Any]:
    """``rate(values)`` (bool) or the mean (float) within each ``[lo, hi]`` bin of ``by``."""
    out: dict[str, Any] = {}
    for lo, hi in bins:
        m = (by >= lo) & (by <= hi)
        if m.any():
            key = str(lo) if lo == hi else f"{lo}-{hi}" if hi < 10**6 else f"{lo}+"
            out[key] = rate(values[m]) if values.dtype == bool else float(values[m].mean())
    return out


def shortest_steps(states: BatchState, squares: np.ndarray) -> np.ndarray:
    """``[K]`` shortest-path steps from each maze's mouse to its square ``squares[k]``."""
    return np.array(
        [
            distances(states.walls[k], tuple(states.mouse[k]))[tuple(squares[k])]
            for k in range(states.num)
        ]
    )


def reached(
    act: ActFn,
    states: BatchState,
    squares: np.ndarray,
    s: Setting,
    budget_factor: float = 2.0,
    any_time: bool = False,
    shortest: np.ndarray | None = None,
) -> tuple[np.ndarray, Episodes]:
    """``[K]`` whether the mouse reaches ``squares[k]`` within ``budget_factor`` times its
    shortest path (the retargeting success; ``shortest``: those paths' steps when known), and
    the episodes (played to the budget unless ``any_time``)."""
    if shortest is None:
        shortest = shortest_steps(states, squares)
    budget = np.ceil(budget_factor * shortest).astype(np.int64)
    ep = play(act, states, s, goal=squares, step_limit=None if any_time else budget)
    assert ep.reached_goal is not None
    return ep.reached_goal & (ep.steps <= budget), ep


@dataclass
class Outcome:
    """How one intervention did: ``summary`` (JSON-able) and ``reached`` ``[K]`` per target."""

    summary: dict[str, Any]
    reached: np.ndarray


def retarget(
    interventions: dict[str, tuple[BatchState, ActFn]],
    targets: Targets,
    s: Setting,
    action_dirs: np.ndarray,
    budget_factor: float = 2.0,
    any_time: bool = False,
) -> dict[str, Outcome]:
    """Success and normalized path probability of each intervention: overall, near / far from
    the top-right, by distance from the start and by distance from the path to the top-right.

    ``success`` is reaching the target within ``budget_factor`` times its shortest-path distance
    from the start (directed navigation: in small mazes a long budget lets a wandering policy
    visit most squares); each rollout stops at that budget unless ``any_time``, which plays to
    the episode's ``max_steps`` and also reports ``success_any_time``. Interventions made by
    `patched_act_fn` on one network play as one batch (`stack_acts`), others one by one.
    """
    n = len(targets.maze)
    result: dict[str, Outcome] = {}
    for labels, states, act in _batches(interventions, n):
        squares = np.tile(targets.squares, (len(labels), 1))
        shortest = shortest_steps(states, squares)
        hit, ep = reached(act, states, squares, s, budget_factor, any_time, shortest)
        npp = path_probability(act, states, squares, s.config, action_dirs)
        for k, label in enumerate(labels):
            part = slice(k * n, (k + 1) * n)
            summary = _summary(hit[part], npp[part], shortest[part], targets, budget_factor)
            if any_time:
                assert ep.reached_goal is not None
                summary["success_any_time"] = rate(ep.reached_goal[part])
            result[label] = Outcome(summary, hit[part])
    return result


def _batches(
    interventions: dict[str, tuple[BatchState, ActFn]], n: int
) -> list[tuple[list[str], BatchState, ActFn]]:
    """The interventions as rollouts: one batch of ``len(interventions) x n`` episodes (one
    forward pass a step for every intervention) when each is made by `patched_act_fn` on one
    network, else one rollout each."""
    acts = [act for _, act in interventions.values() if isinstance(act, PatchedAct)]
    if 1 < len(acts) == len(interventions) and same_net(acts):
        states = BatchState.concat([states for states, _ in interventions.values()])
        return [(list(interventions), states, stack_acts(acts, n))]
    return [([label], states, act) for label, (states, act) in interventions.items()]


def reached_each(
    interventions: dict[str, tuple[BatchState, ActFn]],
    targets: Targets,
    s: Setting,
    budget_factor: float = 2.0,
) -> dict[str, np.ndarray]:
    """``[K]`` per intervention: whether the mouse reached the target within ``budget_factor``
    times its shortest path, played as `retarget` plays them (the same episodes and successes,
    without the path probability)."""
    n = len(targets.maze)
    result: dict[str, np.ndarray] = {}
    for labels, states, act in _batches(interventions, n):
        squares = np.tile(targets.squares, (len(labels), 1))
        hit, _ = reached(act, states, squares, s, budget_factor)
        for k, label in enumerate(labels):
            result[label] = hit[k * n : (k + 1) * n]
    return result


def _summary(
    hit: np.ndarray, npp: np.ndarray, shortest: np.ndarray, targets: Targets, budget_factor: float
) -> dict[str, Any]:
    near, pdist, behind = targets.near, targets.path_distance, targets.behind_cheese
    return {
        "success": rate(hit),
        "success_near_top_right": rate(hit[near]),
        "success_far_from_top_right": rate(hit[~near]),
        "budget_factor": budget_factor,
        "path_probability": float(npp.mean()),
        "path_probability_near": float(npp[near].mean()) if near.any() else None,
        "path_probability_far": float(npp[~near].mean()) if (~near).any() else None,
        # with the cheese present, no row reaches a target behind the cheese (`Targets`)
        "success_behind_cheese": rate(hit[behind]) if behind.any() else None,
        "success_not_behind_cheese": rate(hit[~behind]) if (~behind).any() else None,
        "success_by_distance": _binned(hit, shortest, DISTANCE_BINS),
        "success_by_path_distance": _binned(hit, pdist, PATH_DISTANCE_BINS),
        "path_probability_by_path_distance": _binned(npp, pdist, PATH_DISTANCE_BINS),
    }
