"""Activation plumbing shared by the analyses: observations of given mazes, activations at a
hook, where a maze square sits in an activation map, and policies with patches applied.

Activations are taken with the mouse where the maze puts it (the start, unless stated). A maze
square (r, c) of a W x W world sits at position ``floor((r + 0.5) * h / W)`` (likewise for c) of
an h x w activation map, which is the identity for full-resolution maps and the procgen pixel
geometry for IMPALA's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.analysis.hooks import Patches, check_names, hooks
from agents.analysis.metrics import summarize
from agents.analysis.patches import add_vector
from agents.rollout import ActFn, Episodes, rollout
from mazegen import MazeConfig
from mazegen.render import make_obs_renderer, square_kinds
from mazegen.state import BatchState, MazeState


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


def transformed(states: BatchState, fn: Callable[[MazeState], MazeState]) -> BatchState:
    out = BatchState.stack([fn(s) for s in states])
    out.level[:] = states.level
    return out


def without_cheese(states: BatchState) -> BatchState:
    return transformed(states, lambda s: s.without_cheese())


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
