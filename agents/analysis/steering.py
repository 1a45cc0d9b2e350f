"""Steering: cheese and top-right vectors, cheese-channel discovery, retargeting — and how well
each works, measured by rollouts on held-out mazes.

Activations are taken with the mouse where the maze puts it (the start, unless stated). A maze
square (r, c) of a W x W world sits at position ``floor((r + 0.5) * h / W)`` (likewise for c) of
an h x w activation map, which is the identity for the small network's full-resolution maps and
the procgen pixel geometry for IMPALA's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.analysis.hooks import HookError, Patches, check_names, hooks
from agents.analysis.metrics import rate, summarize
from agents.analysis.patches import add_vector, set_channels
from agents.rollout import ActFn, Episodes, rollout
from mazegen import MazeConfig
from mazegen.queries import distances, open_squares, shortest_path
from mazegen.render import make_obs_renderer, square_kinds
from mazegen.state import BatchState, MazeState

DIRECTION_OF_STEP = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}  # up, down, left, right


def default_hook(net: nn.Module) -> str:
    """The layer analysed by default: IMPALA ``block2.res1.resadd_out`` (as in the 2023 work),
    else the small network's second ReLU (where its cheese vector works best)."""
    names = dict(net.named_modules())
    if "embedder.block2.res1.resadd_out" in names:
        return "embedder.block2.res1.resadd_out"
    return "embedder.relu2_out"


def observations(states: BatchState, config: MazeConfig) -> np.ndarray:
    renderer = make_obs_renderer(config.obs_mode, config.world_size, config.obs_size)
    return renderer.draw(square_kinds(states.walls, states.mouse, states.cheese))


def activations(
    net: nn.Module,
    hook: str,
    states: BatchState,
    config: MazeConfig,
    patches: Patches | None = None,
    batch: int = 512,
) -> torch.Tensor:
    """``[N, ...]`` activations at ``hook`` for the given mazes."""
    check_names(net, [hook])
    obs = observations(states, config)
    device = next(net.parameters()).device
    parts = []
    for s in range(0, len(obs), batch):
        with torch.no_grad(), hooks(net, cache=[hook], patches=patches) as cache:
            net(torch.as_tensor(obs[s : s + batch], device=device))
        parts.append(cache[hook])
    return torch.cat(parts)


def map_position(squares: np.ndarray, world_size: int, shape: tuple[int, ...]) -> np.ndarray:
    """``[K, 2]`` maze squares -> ``[K, 2]`` positions in an activation map ``[C, h, w]``."""
    h, w = shape[-2:]
    sq = np.asarray(squares, dtype=float).reshape(-1, 2)
    return np.stack(
        [np.floor((sq[:, 0] + 0.5) * h / world_size), np.floor((sq[:, 1] + 0.5) * w / world_size)],
        axis=1,
    ).astype(np.int64)


def _map(states: BatchState, fn: Callable[[MazeState], MazeState]) -> BatchState:
    out = BatchState.stack([fn(s) for s in states])
    out.level[:] = states.level
    return out


def without_cheese(states: BatchState) -> BatchState:
    return _map(states, lambda s: s.without_cheese())


def cheese_vector(
    net: nn.Module, hook: str, states: BatchState, config: MazeConfig
) -> torch.Tensor:
    """``[N, ...]``: activations with the cheese minus without it, same maze, mouse at start."""
    return activations(net, hook, states, config) - activations(
        net, hook, without_cheese(states), config
    )


def open_top_right_path(state: MazeState) -> MazeState:
    """The maze with a corridor opened from its inner top-right corner up and right to the
    world's top-right corner (unchanged when the maze fills the world)."""
    r0, c0 = state.top_right
    walls = state.walls.copy()
    walls[0 : r0 + 1, c0] = False
    walls[0, c0:] = False
    return state.with_walls(walls)


def top_right_vector(
    net: nn.Module, hook: str, states: BatchState, config: MazeConfig
) -> torch.Tensor:
    """``[N, ...]``: activations of the maze with the top-right corridor minus the original."""
    return activations(net, hook, _map(states, open_top_right_path), config) - activations(
        net, hook, states, config
    )


def patched_act_fn(net: nn.Module, patches_for: Callable[[np.ndarray], Patches]) -> ActFn:
    """An ``act_fn`` that applies ``patches_for(maze indices)`` during each forward pass."""
    device = next(net.parameters()).device

    def act(obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else idx
        with torch.no_grad(), hooks(net, patches=patches_for(index)):
            logits, _ = net(torch.as_tensor(obs, device=device))
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    return act


def per_maze_vector(
    hook: str, vectors: torch.Tensor, coeff: float
) -> Callable[[np.ndarray], Patches]:
    """Patches adding ``coeff * vectors[i]`` to maze i's activation at ``hook``."""
    return lambda idx: {hook: add_vector(vectors[torch.as_tensor(idx)], coeff)}


# ---- cheese / top-right vector effects --------------------------------------------------------
@dataclass
class Setting:
    """Where and how episodes are measured."""

    config: MazeConfig
    region: int
    rng: np.random.Generator
    deterministic: bool = False


def _play(act: ActFn, states: BatchState, s: Setting, goal: np.ndarray | None = None) -> Episodes:
    return rollout(
        act, states, s.config, region=s.region, rng=s.rng, deterministic=s.deterministic, goal=goal
    )


def _brief(ep: Episodes) -> dict[str, Any]:
    full = summarize(ep)
    return {k: full[k] for k in ("p_cheese", "p_region_first", "p_end_in_region", "steps")}


def vector_effects(
    net: nn.Module,
    hook: str,
    states: BatchState,
    s: Setting,
    coeffs: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    """Rollouts of test-distribution mazes under combinations of the two vectors.

    Args:
        coeffs: label -> (cheese-vector coefficient, top-right-vector coefficient).
    """
    cv = cheese_vector(net, hook, states, s.config)
    tv = top_right_vector(net, hook, states, s.config)
    out = {}
    for label, (a, b) in coeffs.items():
        vec = a * cv + b * tv

        def patches(idx: np.ndarray, vec: torch.Tensor = vec) -> Patches:
            return {hook: add_vector(vec[torch.as_tensor(idx)], 1.0)}

        out[label] = _brief(_play(patched_act_fn(net, patches), states, s))
    return out


def cheese_vector_transfer(
    net: nn.Module,
    hook: str,
    states: BatchState,
    s: Setting,
    shifts: tuple[int, ...] = (0, 1, 2, 3, 5),
) -> dict[str, Any]:
    """Subtracting a maze's cheese vector after the cheese moved ``d`` squares (path distance):
    P(cheese) patched vs. unpatched for each shift d; and the vector of another maze (d = 0)."""
    vectors = cheese_vector(net, hook, states, s.config)
    plain = patched_act_fn(net, lambda idx: {})
    rows: dict[str, Any] = {}
    for d in shifts:
        keep, moved = [], []
        for i, st in enumerate(states):
            assert st.cheese is not None
            dist = distances(st.walls, st.cheese)
            cand = [
                sq
                for sq in zip(*np.nonzero(dist == d))
                if sq != st.start and not st.in_region(sq, s.region)
            ]
            if cand:
                sq = cand[int(s.rng.integers(len(cand)))]
                keep.append(i)
                moved.append(st.with_cheese((int(sq[0]), int(sq[1]))))
        if not keep:
            continue
        sub = BatchState.stack(moved)
        vec = vectors[torch.as_tensor(keep)]
        act = patched_act_fn(net, per_maze_vector(hook, vec, -1.0))
        rows[str(d)] = {
            "n": len(keep),
            "unpatched": rate(_play(plain, sub, s).success),
            "patched": rate(_play(act, sub, s).success),
        }
    other = torch.roll(vectors, 1, dims=0)
    act = patched_act_fn(net, per_maze_vector(hook, other, -1.0))
    return {"by_shift": rows, "other_maze_vector": _brief(_play(act, states, s))}


# ---- channel discovery ------------------------------------------------------------------------
def find_cheese_channels(
    net: nn.Module, hook: str, states: BatchState, config: MazeConfig, top: int = 8
) -> dict[str, Any]:
    """Ranks the channels of a ``[C, h, w]`` layer by how well they track the cheese.

    For each maze, ``diff = act(with cheese) - act(without)``. A channel's *tracking accuracy*
    is the share of mazes where its |diff| peaks at the cheese's position; its *score* is the
    mean diff at the cheese's position minus elsewhere, over the std across mazes.
    """
    with_c = activations(net, hook, states, config)
    if with_c.ndim != 4:
        raise HookError(
            f"channel discovery needs a [C, h, w] layer; {hook} gives {tuple(with_c.shape[1:])}"
        )
    diff = (with_c - activations(net, hook, without_cheese(states), config)).cpu().numpy()
    n, c, h, w = diff.shape
    pos = map_position(states.cheese, config.world_size, diff.shape)
    at = diff[np.arange(n), :, pos[:, 0], pos[:, 1]]  # [N, C]
    elsewhere = (diff.sum(axis=(2, 3)) - at) / (h * w - 1)
    local = at - elsewhere
    score = local.mean(axis=0) / (local.std(axis=0) + 1e-6)
    peak = np.abs(diff).reshape(n, c, -1).argmax(axis=2)
    tracking = (peak == (pos[:, 0] * w + pos[:, 1])[:, None]).mean(axis=0)
    order = np.lexsort((-score, -tracking))
    ranked = [
        {
            "channel": int(k),
            "tracking_accuracy": float(tracking[k]),
            "score": float(score[k]),
            "mean_diff_at_cheese": float(at[:, k].mean()),
            "mean_activation_at_cheese": float(
                with_c.cpu().numpy()[np.arange(n), k, pos[:, 0], pos[:, 1]].mean()
            ),
        }
        for k in order[:top]
    ]
    return {
        "hook": hook,
        "channels_in_layer": c,
        "mazes": n,
        "top": ranked,
        "_diff": diff,
        "_with": with_c.cpu().numpy(),
    }


# ---- retargeting ------------------------------------------------------------------------------
def check_target(state: MazeState, square: tuple[int, int]) -> None:
    """Raises `HookError` unless ``square`` is an open square of the maze."""
    w = state.world_size
    r, c = square
    if not (0 <= r < w and 0 <= c < w):
        raise HookError(f"target {square} is off the {w}x{w} grid")
    if state.walls[r, c]:
        raise HookError(f"target {square} is on a wall; pick an open square")


def targets_of(states: BatchState, region: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (maze, open square) pair but the start and the cheese: ``maze index [K]``,
    ``target squares [K, 2]``, ``near_top_right [K]`` (target in the inner top-right quadrant)."""
    idx, sq, near = [], [], []
    for i, s in enumerate(states):
        half = (s.inner_size + 1) // 2
        for t in open_squares(s.walls):
            if t in (s.start, s.cheese):
                continue
            idx.append(i)
            sq.append(t)
            near.append(s.in_region(t, half))
    return np.array(idx), np.array(sq).reshape(-1, 2), np.array(near, dtype=bool)


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
    obs = observations(batch, config)
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


def retarget_interventions(
    net: nn.Module,
    hook: str,
    channels: list[int],
    value: float,
    base: BatchState,
    maze_idx: np.ndarray,
    targets: np.ndarray,
    config: MazeConfig,
    amplify: float = 3.0,
) -> dict[str, tuple[BatchState, ActFn]]:
    """The interventions compared by `retarget`: label -> (start states, policy).

    - ``none``: the unpatched policy (the cheese where the maze has it).
    - ``cheese_moved``: the real cheese moved to the target.
    - ``channels``: ``channels`` set to ``value`` at the target's position in ``hook``.
    - ``cheese_vector_xN``: the activation difference of moving the cheese to the target
      (at ``hook``), added ``amplify`` times — a stronger, fully spatial "virtual cheese".
    """
    states = base.take(maze_idx)
    moved = states.placed(cheese=targets.copy())
    shape = tuple(activations(net, hook, states.take([0]), config).shape[1:])
    pos = map_position(targets, config.world_size, shape)
    plain = patched_act_fn(net, lambda idx: {})
    delta = activations(net, hook, moved, config) - activations(net, hook, states, config)
    out: dict[str, tuple[BatchState, ActFn]] = {
        "none": (states, plain),
        "cheese_moved": (moved, plain),
        "channels": (
            states,
            patched_act_fn(net, lambda idx: {hook: set_channels(channels, pos[idx], value)}),
        ),
        f"cheese_vector_x{amplify:g}": (
            states,
            patched_act_fn(net, per_maze_vector(hook, delta, amplify)),
        ),
    }
    return out


DISTANCE_BINS = ((1, 2), (3, 4), (5, 8), (9, 12), (13, 10**6))


def _by_distance(hit: np.ndarray, shortest: np.ndarray) -> dict[str, Any]:
    """Success by the target's shortest-path distance from the start."""
    out = {}
    for lo, hi in DISTANCE_BINS:
        m = (shortest >= lo) & (shortest <= hi)
        if m.any():
            out[f"{lo}-{hi}" if hi < 10**6 else f"{lo}+"] = rate(hit[m])
    return out


def retarget(
    interventions: dict[str, tuple[BatchState, ActFn]],
    targets: np.ndarray,
    near: np.ndarray,
    s: Setting,
    action_dirs: np.ndarray,
    budget_factor: float = 2.0,
) -> dict[str, Any]:
    """Success and normalized path probability of each intervention, overall and near / far
    from the top-right, plus per-target outcomes.

    Success is measured with two step budgets from the same rollouts: ``success``, reaching the
    target within ``budget_factor`` times its shortest-path distance from the start (directed
    navigation: in small mazes a long budget lets a wandering policy visit most squares), and
    ``success_any_time``, within the episode's ``max_steps``.
    """
    result: dict[str, Any] = {}
    for label, (states, act) in interventions.items():
        ep = _play(act, states, s, goal=targets)
        assert ep.reached_goal is not None
        shortest = np.array(
            [
                distances(states.walls[k], tuple(states.mouse[k]))[tuple(targets[k])]
                for k in range(states.num)
            ]
        )
        hit = ep.reached_goal & (ep.steps <= np.ceil(budget_factor * shortest))
        npp = path_probability(act, states, targets, s.config, action_dirs)
        result[label] = {
            "success": rate(hit),
            "success_near_top_right": rate(hit[near]),
            "success_far_from_top_right": rate(hit[~near]),
            "success_any_time": rate(ep.reached_goal),
            "success_any_time_near": rate(ep.reached_goal[near]),
            "success_any_time_far": rate(ep.reached_goal[~near]),
            "budget_factor": budget_factor,
            "path_probability": float(npp.mean()),
            "path_probability_near": float(npp[near].mean()) if near.any() else None,
            "path_probability_far": float(npp[~near].mean()) if (~near).any() else None,
            "success_by_distance": _by_distance(hit, shortest),
            "_reached": hit,
        }
    return result
