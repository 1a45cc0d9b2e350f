"""The value a channel patch is set to, searched: the multiple of the channels' largest
activation at which setting them at the target retargets best, on mazes of its own (the study,
and ``python -m experiments.patch retarget multiples=[...]``).

A value that is too small leaves the policy as it was; one that is too large is no code the
network ever saw (`easy_spread`'s channel steers at 1x and does nothing at 2x), so no fixed
multiple fits every agent."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agents.interp.activations import Setting, patched_act_fn
from agents.interp.patches import set_channels
from agents.interp.retarget import Targets, retarget
from agents.policy.hooked import HookedMazeNet, Patches
from agents.policy.rollout import ActFn
from mazegen.state import BatchState


def set_at(
    net: HookedMazeNet,
    hook: str,
    channels: list[int],
    pos: np.ndarray,
    value: float,
    radius: int = 0,
) -> ActFn:
    """The policy with ``channels`` of ``hook`` set to ``value`` at ``pos[i]`` (``[K, 2]``) in
    episode ``i``, and within ``radius`` of it: the 2023 channel-55 intervention."""

    def patches(idx: np.ndarray) -> Patches:
        return {hook: set_channels(channels, pos[idx], value, radius)}

    return patched_act_fn(net, patches)


def search_multiples(
    net: HookedMazeNet,
    hook: str,
    conditions: dict[str, BatchState],
    targets: Targets,
    pos: np.ndarray,
    channels: list[int],
    largest: float,
    multiples: Sequence[float],
    setting: Setting,
    directions: np.ndarray,
    budget_factor: float = 2.0,
    radius: int = 0,
) -> dict[str, dict[str, float]]:
    """Retargeting success of ``channels`` set to each multiple of ``largest`` at the targets.

    Args:
        net: The network patched.
        hook: The layer the channels belong to.
        conditions: Name -> start states ``[K]``, one per target (e.g. the cheese present and
            removed); every condition plays every multiple, all in one batched rollout.
        targets: The targets ``[K]``.
        pos: ``[K, 2]`` each target's position in ``hook``'s map.
        channels: The channels set.
        largest: The largest activation those channels reach (the unit of the multiples).
        multiples: The multiples tried.
        setting: Where and how the episodes are played.
        directions: The action table's move directions.
        budget_factor: Success is reaching the target within this many times its shortest path.
        radius: Also set every position within this many of the target's.

    Returns:
        Condition -> ``{f"{multiple:g}": success}``.
    """
    tries: dict[str, tuple[BatchState, ActFn]] = {}
    for m in multiples:
        act = set_at(net, hook, channels, pos, m * largest, radius)
        for name, states in conditions.items():
            tries[f"{m:g}/{name}"] = (states, act)
    out = retarget(tries, targets, setting, directions, budget_factor)
    return {
        name: {f"{m:g}": float(out[f"{m:g}/{name}"].summary["success"]["p"]) for m in multiples}
        for name in conditions
    }


def pick_multiple(tried: dict[str, float], multiples: Sequence[float]) -> float:
    """The multiple with the highest success in ``tried`` (the smallest on a tie: the least
    unlike the activations the network saw)."""
    return min(multiples, key=lambda m: (-tried[f"{m:g}"], m))
