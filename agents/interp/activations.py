"""Activation plumbing shared by the analyses: activations at a hook for given mazes, where a
maze square sits in an activation map, and policies with patches applied.

Activations are taken with the mouse where the maze puts it (the start, unless stated). A maze
square (r, c) of a W x W world sits at position ``floor((r + 0.5) * h / W)`` (likewise for c) of
an h x w activation map, which is the identity for full-resolution maps and the procgen pixel
geometry for IMPALA's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from agents.interp.patches import add_vector
from agents.policy.hooked import HookedMazeNet, Patches
from agents.policy.metrics import summarize
from agents.policy.rollout import ActFn, Episodes, rollout
from mazegen import MazeConfig
from mazegen.render import observe
from mazegen.state import BatchState, MazeState


def activations(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    config: MazeConfig,
    patches: Patches | None = None,
    batch: int = 512,
) -> torch.Tensor:
    """``[N, ...]`` activations at ``hook`` for the given mazes."""
    net.check([hook])
    obs = observe(states, config)
    device = net.device
    parts = []
    for s in range(0, len(obs), batch):
        with torch.no_grad(), net.hooks(cache=[hook], patches=patches) as cache:
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


def transformed(states: BatchState, fn: Callable[[MazeState], MazeState]) -> BatchState:
    out = BatchState.stack([fn(s) for s in states])
    out.level[:] = states.level
    return out


def without_cheese(states: BatchState) -> BatchState:
    return transformed(states, lambda s: s.without_cheese())


@dataclass(frozen=True)
class PatchedAct:
    """An ``act_fn`` that applies ``patches_for(maze indices)`` during each forward pass. It
    keeps both, so that several can play as one batch (`stack_acts`)."""

    net: HookedMazeNet
    patches_for: Callable[[np.ndarray], Patches]
    #: `agents.policy.rollout.pure`: a patch is a function of the activation and the maze
    #: index (every patch of the project is), so a maze's repeated observation is computed once
    pure: ClassVar[bool] = True

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else idx
        with torch.no_grad(), self.net.hooks(patches=self.patches_for(index)):
            logits, _ = self.net(torch.as_tensor(obs, device=self.net.device))
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def patched_act_fn(net: HookedMazeNet, patches_for: Callable[[np.ndarray], Patches]) -> PatchedAct:
    """An ``act_fn`` that applies ``patches_for(maze indices)`` during each forward pass."""
    return PatchedAct(net, patches_for)


def _fns(given: Any) -> list[Any]:
    return list(given) if isinstance(given, (list, tuple)) else [given]


def same_net(acts: list[PatchedAct]) -> bool:
    """Whether every act patches one network (so that they can be stacked)."""
    return len({id(a.net) for a in acts}) == 1


def stack_acts(acts: list[PatchedAct], n: int) -> PatchedAct:
    """One ``act_fn`` for ``len(acts)`` interventions on one network played as one batch: row
    ``k * n + i`` is maze ``i`` under ``acts[k]``, so each step is one forward pass instead of
    ``len(acts)``. Each patch must act row by row (every patch of the project does)."""
    if not same_net(acts):
        raise ValueError("stack_acts needs acts of one network")

    def patches_for(idx: np.ndarray) -> Patches:
        part = idx // n
        groups = []  # (rows of the batch, that intervention's patches for them)
        for k in np.unique(part):
            rows = np.flatnonzero(part == k)
            groups.append((torch.as_tensor(rows), acts[int(k)].patches_for(idx[rows] - k * n)))

        def patch_for(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
            def patch(x: torch.Tensor) -> torch.Tensor:
                out = x.clone()
                for rows, patches in groups:
                    if name in patches:
                        y = x[rows]
                        for fn in _fns(patches[name]):
                            y = fn(y)
                        out[rows] = y
                return out

            return patch

        names = dict.fromkeys(name for _, patches in groups for name in patches)
        return {name: patch_for(name) for name in names}

    return PatchedAct(acts[0].net, patches_for)


def per_maze_vector(
    hook: str, vectors: torch.Tensor, coeff: float
) -> Callable[[np.ndarray], Patches]:
    """Patches adding ``coeff * vectors[i]`` to maze i's activation at ``hook``."""
    return lambda idx: {hook: add_vector(vectors[torch.as_tensor(idx)], coeff)}


@dataclass
class Setting:
    """Where and how episodes are measured."""

    config: MazeConfig
    region: int
    rng: np.random.Generator
    deterministic: bool = False


def play(
    act: ActFn,
    states: BatchState,
    s: Setting,
    goal: np.ndarray | None = None,
    step_limit: np.ndarray | None = None,
) -> Episodes:
    return rollout(
        act,
        states,
        s.config,
        region=s.region,
        rng=s.rng,
        deterministic=s.deterministic,
        goal=goal,
        step_limit=step_limit,
    )


def brief(ep: Episodes) -> dict[str, Any]:
    full = summarize(ep)
    return {k: full[k] for k in ("p_cheese", "p_region_first", "p_end_in_region", "steps")}
