"""Which SAE features track the cheese (the tracking measure of find-channels, on features),
which ones the cheese turns on (the erasure's pick), and resampling them against random ones.

- `find_cheese_features`: for each test maze, ``diff = f(with cheese) - f(without)`` per
  feature map; a feature's *tracking accuracy* is the share of mazes where its |diff| peaks at
  the cheese's position (`agents.interp.channels.find_cheese_channels`' measure).
- `cheese_features`: the features ranked by how much the cheese adds to them over the whole
  map (mean positive part of ``diff``, its size for a signed SAE, summed over positions): those
  an erasure removes, picked apart from the tracking ones that are set at the target.
- `cheese_maps`: each feature's change around the cheese (aligned on it, averaged over the
  mazes) within a radius: what a "map" row writes around the target.
- `resample_features`: the 2023 resampling test on the top features' contribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.interp.activations import activations, map_position, without_cheese
from agents.interp.channels import donors_for, resample_effect
from agents.interp.features.dictionary import Sae
from agents.policy.hooked import HookedMazeNet, PatchFn
from mazegen import MazeConfig
from mazegen.state import BatchState


@dataclass
class FoundFeatures:
    """Features ranked by tracking: ``ranked`` (best first), their ``tracking`` accuracy,
    ``largest`` activation seen, ``diff`` ``[N, F, h, w]`` (with minus without cheese) and
    ``pattern`` ``[F, 3, 3]``, each feature's mean change over the 3 x 3 around the cheese."""

    ranked: list[int]
    tracking: np.ndarray
    largest: np.ndarray
    diff: np.ndarray
    pattern: np.ndarray

    def top(self, n: int = 8) -> list[dict[str, Any]]:
        return [
            {"feature": j, "tracking_accuracy": float(self.tracking[j])} for j in self.ranked[:n]
        ]


def feature_maps(
    net: HookedMazeNet, hook: str, sae: Sae, states: BatchState, config: MazeConfig
) -> torch.Tensor:
    """``[N, F, h, w]`` feature activations at ``hook`` for the mazes."""
    with torch.no_grad():
        return sae.encode_map(activations(net, hook, states, config).float())


def find_cheese_features(
    net: HookedMazeNet, hook: str, sae: Sae, states: BatchState, config: MazeConfig
) -> FoundFeatures:
    """The features ranked by tracking accuracy (then by mean change at the cheese)."""
    with_c = feature_maps(net, hook, sae, states, config)
    diff = (with_c - feature_maps(net, hook, sae, without_cheese(states), config)).numpy()
    n, f, h, w = diff.shape
    pos = map_position(states.cheese, config.world_size, diff.shape)
    at = diff[np.arange(n), :, pos[:, 0], pos[:, 1]]  # [N, F]
    peak = np.abs(diff).reshape(n, f, -1).argmax(axis=2)
    moved = np.abs(diff).reshape(n, f, -1).max(axis=2) > 0
    tracking = ((peak == (pos[:, 0] * w + pos[:, 1])[:, None]) & moved).mean(axis=0)
    order = np.lexsort((-at.mean(axis=0), -tracking))
    largest = with_c.abs().amax(dim=(0, 2, 3)).numpy()  # a signed feature's size
    pattern = aligned_mean(diff, pos, 1)
    return FoundFeatures([int(j) for j in order], tracking, largest, diff, pattern)


def aligned_mean(diff: np.ndarray, pos: np.ndarray, radius: int) -> np.ndarray:
    """``[F, 2r+1, 2r+1]``: the maps ``diff`` ``[N, F, h, w]`` aligned on each maze's cheese
    ``pos`` ``[N, 2]`` and averaged over the mazes where each offset falls inside the map."""
    h, w = diff.shape[2:]
    side = 2 * radius + 1
    out = np.zeros((diff.shape[1], side, side))
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, c = pos[:, 0] + dr, pos[:, 1] + dc
            ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            if ok.any():
                out[:, dr + radius, dc + radius] = diff[np.flatnonzero(ok), :, r[ok], c[ok]].mean(0)
    return out


def cheese_maps(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    states: BatchState,
    config: MazeConfig,
    radii: list[int],
) -> dict[int, np.ndarray]:
    """Each radius' ``[F, 2r+1, 2r+1]`` map of the cheese's own feature change (with minus
    without the cheese) around it, aligned on the cheese and averaged over the mazes."""
    with_c = feature_maps(net, hook, sae, states, config)
    diff = (with_c - feature_maps(net, hook, sae, without_cheese(states), config)).numpy()
    pos = map_position(states.cheese, config.world_size, diff.shape)
    return {r: aligned_mean(diff, pos, r) for r in radii}


def cheese_features(
    net: HookedMazeNet, hook: str, sae: Sae, states: BatchState, config: MazeConfig
) -> list[int]:
    """Features by how much the cheese turns them on over the map, most first (only those it
    turns on at all); of a signed SAE, by how much it changes them either way."""
    with_c = feature_maps(net, hook, sae, states, config)
    diff = with_c - feature_maps(net, hook, sae, without_cheese(states), config)
    gain = (diff.abs() if sae.signed else diff.clamp(min=0)).sum(dim=(2, 3)).mean(0)  # [F]
    order = torch.argsort(gain, descending=True)
    return [int(j) for j in order if gain[j] > 0]


def feature_resampler(sae: Sae, features: list[int]) -> Any:
    """``donor layer -> patch``: the ``features``' contribution swapped for the donor's."""

    def make(donor: torch.Tensor) -> PatchFn:
        def patch(x: torch.Tensor) -> torch.Tensor:
            dec = sae.w_dec[features].to(x.dtype)  # [k, C]
            change = sae.encode_map(donor)[:, features] - sae.encode_map(x)[:, features]
            return x + torch.einsum("bkhw,kc->bchw", change.to(x.dtype), dec)

        return patch

    return make


def resample_features(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    states: BatchState,
    pool: BatchState,
    config: MazeConfig,
    features: list[int],
    rng: np.random.Generator,
    per: int = 20,
    randoms: int = 3,
) -> dict[str, Any]:
    """Mean action-probability change when the ``features`` come from a maze with the cheese on
    the same square or elsewhere, against random feature sets (among those that fire)."""
    out: dict[str, Any] = {"features": features}
    for label, same in (("cheese_same_place", True), ("cheese_elsewhere", False)):
        donors, keep = donors_for(states, pool, same)
        eff = resample_effect(
            net, hook, states.take(keep), donors, config, [], per, rng,
            feature_resampler(sae, features),
        )  # fmt: skip
        out[label] = float(eff.mean())
    sizes = feature_maps(net, hook, sae, states, config).abs().amax(dim=(0, 2, 3))
    alive = np.flatnonzero(sizes > 0)
    donors, keep = donors_for(states, pool, False)
    out["random_elsewhere"] = []
    for _ in range(randoms):
        chosen = sorted(int(j) for j in rng.choice(alive, len(features), replace=False))
        eff = resample_effect(
            net, hook, states.take(keep), donors, config, [], per, rng,
            feature_resampler(sae, chosen),
        )  # fmt: skip
        out["random_elsewhere"].append(float(eff.mean()))
    return out
