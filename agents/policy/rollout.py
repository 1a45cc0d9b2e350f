"""One batched rollout engine: a policy over a batch of given mazes, all stepped together.

Used by the training callbacks, evaluation, patching and playback alike. A policy is any
``act_fn(obs [B, C, H, W] uint8, idx [B]) -> action probabilities [B, A]``, where ``idx`` says
which of the rolled-out mazes the rows are (so per-maze patches can line up with them);
`net_act_fn` makes one from a torch network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from mazegen import MazeBatch, MazeConfig
from mazegen.actions import ACTION_DIRECTIONS
from mazegen.batch import Autoreset
from mazegen.render import observe
from mazegen.state import BatchState, MazeState

ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
F = TypeVar("F", bound=Callable[..., np.ndarray])


def pure(act_fn: F) -> F:
    """Marks ``act_fn`` as a function of its arguments alone: the same observation of the same
    maze index always gets the same probabilities (no state, no randomness, no side effect such
    as recording activations). `rollout` then computes each (maze, observation) pair once per
    episode: a mouse that wanders over squares it has seen costs no forward pass there (a
    failure's 500-step tail in a 15 x 15 maze visits a few dozen squares)."""
    act_fn.pure = True  # type: ignore[attr-defined]
    return act_fn


def is_pure(act_fn: ActFn) -> bool:
    """Whether ``act_fn`` was marked with `pure` (or is of a class that sets ``pure = True``)."""
    return bool(getattr(act_fn, "pure", False))


class _Memo:
    """A pure ``act_fn`` called only for the (maze index, observation) pairs not seen before in
    this rollout; the others get the probabilities computed then. Observations are keyed by a
    128-bit digest of their bytes (the chance that two of a million observations share one is
    under 10^-26)."""

    def __init__(self, act_fn: ActFn) -> None:
        self.act_fn = act_fn
        self.seen: dict[tuple[int, bytes], np.ndarray] = {}

    def __call__(self, obs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(obs).reshape(len(obs), -1)
        keys = [
            (int(i), hashlib.blake2b(row.tobytes(), digest_size=16).digest())
            for i, row in zip(idx, rows)
        ]
        new = [j for j, key in enumerate(keys) if key not in self.seen]
        if new:
            computed = self.act_fn(obs[new], idx[new])
            for j, p in zip(new, computed):
                self.seen.setdefault(keys[j], p)
        return np.stack([self.seen[key] for key in keys])


@dataclass
class Episodes:
    """Outcomes of one episode per maze (all arrays ``[N]`` unless noted).

    Attributes:
        states: The mazes at the start.
        success: Reached the cheese.
        steps: Steps taken (until the cheese or the time-out).
        visited_region: Entered the top-right region at some step (before the episode ended).
        region_first: Entered the top-right region before reaching the cheese (a failure that
            visited the region counts too).
        end_in_region: The episode ended with the mouse in the top-right region.
        end_square: ``[N, 2]`` where the mouse was when the episode ended.
        path: ``[T+1, N, 2]`` squares visited (only with ``record_path``); rows past an
            episode's end repeat its last square.
        directions: ``[T, N]`` direction index of each action taken (with ``record_path``).
        reached_goal: Reached the ``goal`` square given to `rollout` (else all False).
    """

    states: BatchState
    success: np.ndarray
    steps: np.ndarray
    visited_region: np.ndarray
    region_first: np.ndarray
    end_in_region: np.ndarray
    end_square: np.ndarray
    reached_goal: np.ndarray | None = None
    path: np.ndarray | None = None
    directions: np.ndarray | None = None


def sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probs [B, A]`` (inverse CDF, one uniform per row).

    The one sampler of the project: evaluation, analyses, the viewer and the recorder all draw
    with it, so the same seed gives the same trajectory in each.
    """
    cum = probs.cumsum(axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((cum < u).sum(axis=1), probs.shape[1] - 1)


def rollout(
    act_fn: ActFn,
    states: BatchState,
    config: MazeConfig,
    *,
    region: int,
    rng: np.random.Generator,
    deterministic: bool = False,
    max_steps: int | None = None,
    record_path: bool = False,
    chunk: int = 1024,
    goal: np.ndarray | None = None,
    step_limit: np.ndarray | None = None,
) -> Episodes:
    """Plays one episode from each state with ``act_fn``, all mazes stepped together.

    Args:
        act_fn: Policy: observations -> action probabilities.
        states: Starting mazes ``[N]``.
        config: Environment settings (observation and action modes, max_steps).
        region: n of the top-right n x n region whose visits are recorded.
        rng: Source of the sampled actions.
        deterministic: Take the most probable action instead of sampling.
        max_steps: Override ``config.max_steps``.
        record_path: Keep every square visited and every direction taken.
        chunk: Mazes stepped at once (memory bound).
        goal: ``[N, 2]`` target squares: an episode also ends when the mouse reaches its goal
            (recorded in ``reached_goal``); used to measure retargeting.
        step_limit: ``[N]`` a step budget per maze (ends that episode early, like a time-out).

    A `pure` ``act_fn`` is evaluated once per (maze, observation) seen: revisits reuse the
    probabilities (the sampled actions still come from ``rng``, one draw per active maze per
    step, as without the memo).
    """
    parts = [
        _rollout(
            act_fn,
            states.take(slice(s, s + chunk)),
            config,
            region,
            rng,
            deterministic,
            max_steps or config.max_steps,
            record_path,
            s,
            None if goal is None else np.asarray(goal)[s : s + chunk],
            None if step_limit is None else np.asarray(step_limit)[s : s + chunk],
        )
        for s in range(0, states.num, chunk)
    ]
    if len(parts) == 1:
        return parts[0]
    return _concat(parts, states)


def _rollout(
    act_fn: ActFn,
    states: BatchState,
    config: MazeConfig,
    region: int,
    rng: np.random.Generator,
    deterministic: bool,
    max_steps: int,
    record_path: bool,
    offset: int = 0,
    goal: np.ndarray | None = None,
    step_limit: np.ndarray | None = None,
) -> Episodes:
    n = states.num
    if step_limit is not None:
        max_steps = min(max_steps, int(np.max(step_limit)))
    env = MazeBatch(
        n, config.replace(max_steps=max_steps), autoreset=Autoreset.DISABLED, copy_obs=False
    )
    obs, _ = env.reset(seed=0, options={"state": states})
    mask = states.region_mask(region)
    ar = np.arange(n)
    active = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    at_goal = np.zeros(n, dtype=bool)
    steps = np.zeros(n, dtype=np.int64)
    visited = np.zeros(n, dtype=bool)
    first = np.zeros(n, dtype=bool)
    end = states.mouse.copy()
    dirs_of = ACTION_DIRECTIONS[config.action_mode]
    path = [states.mouse.copy()] if record_path else []
    dirs: list[np.ndarray] = []
    actions = np.zeros(n, dtype=np.int64)
    act = _Memo(act_fn) if is_pure(act_fn) else act_fn
    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        probs = act(obs[idx], idx + offset)
        actions[idx] = probs.argmax(axis=1) if deterministic else sample(probs, rng)
        obs, _, term, trunc, _ = env.step(actions)
        pos = env.mouse
        in_region = mask[ar, pos[:, 0], pos[:, 1]]
        now = active & in_region
        first |= now & ~success & ~term  # entering the region on the cheese itself is not "first"
        visited |= now
        steps[active] += 1
        success |= active & term
        done = active & (term | trunc)
        if step_limit is not None:
            done |= active & (steps >= step_limit)
        if goal is not None:
            hit = active & (pos == goal).all(axis=1)
            at_goal |= hit
            done |= hit
        end[done] = pos[done]
        if record_path:
            dirs.append(np.where(active, dirs_of[actions], -1))
            path.append(np.where(active[:, None], pos, path[-1]))
        active &= ~done
        if not active.any():
            break
    end_in = mask[ar, end[:, 0], end[:, 1]]
    return Episodes(
        states=states,
        success=success,
        steps=steps,
        visited_region=visited,
        region_first=first,
        end_in_region=end_in,
        end_square=end,
        reached_goal=at_goal,
        path=np.stack(path) if record_path else None,
        directions=np.stack(dirs) if record_path and dirs else None,
    )


def _concat(parts: list[Episodes], states: BatchState) -> Episodes:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    out = Episodes(
        states=states,
        success=cat("success"),
        steps=cat("steps"),
        visited_region=cat("visited_region"),
        region_first=cat("region_first"),
        end_in_region=cat("end_in_region"),
        end_square=cat("end_square"),
        reached_goal=cat("reached_goal"),
    )
    if parts[0].path is not None:
        t = max(p.path.shape[0] for p in parts)  # type: ignore[union-attr]
        out.path = np.concatenate([_pad_time(p.path, t) for p in parts], axis=1)
        out.directions = np.concatenate(
            [_pad_time(p.directions, t - 1, fill=-1) for p in parts], axis=1
        )
    return out


def _pad_time(x: np.ndarray | None, t: int, fill: int | None = None) -> np.ndarray:
    assert x is not None
    if x.shape[0] == t:
        return x
    extra = np.repeat(x[-1:], t - x.shape[0], axis=0)
    if fill is not None:
        extra[:] = fill
    return np.concatenate([x, extra])


def policy_at_squares(
    act_fn: ActFn,
    state: MazeState,
    squares: list[tuple[int, int]],
    config: MazeConfig,
    index: int = 0,
) -> np.ndarray:
    """``[K, A]`` action probabilities with the mouse placed on each of ``squares`` of ``state``
    (everything else unchanged); ``index`` is passed to ``act_fn`` as the maze's index."""
    obs = observe(BatchState.mouse_on(state, squares), config)
    return act_fn(obs, np.full(len(squares), index))


def net_act_fn(net: torch.nn.Module, device: str | torch.device = "cpu") -> ActFn:
    """An ``act_fn`` from a network returning ``(logits, value)`` (e.g. `MazeNet`)."""

    def act(obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        with torch.no_grad():
            logits, _ = net(torch.as_tensor(obs, device=device))
            return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    return pure(act)


def random_act_fn(num_actions: int) -> ActFn:
    """The uniform random policy (a baseline)."""

    def act(obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        return np.full((obs.shape[0], num_actions), 1.0 / num_actions)

    return act
