"""The cheese erased before the layer that is written: a row's write at its layer, and at an
earlier layer everything within a radius of the cheese replaced by its value in the same
observation without the cheese (the whole vector, or that layer's SAE features).

The hypothesis it tests: a write at one layer cannot take back what the cheese has already
spread to it, while at an earlier layer the cheese's effect is still near it, so a local erasure
there removes it before it spreads. On `easy` (the write at block 1's first residual sum, the
erasure at its pooled map) it lifted no row beyond the noise (docs/features.md, "What is left").
With the whole vector replaced the row is a diagnostic (how far an erasure there can go; named
``the layer at ...`` so that the study's feature rows leave it); with that layer's SAE, every
change is made in features, at two layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from agents.interp.activations import PatchedAct, map_position
from agents.interp.features.dictionary import Sae
from agents.interp.features.rows import near_mask, replaced_near
from agents.interp.features.train import without_cheese_obs
from agents.interp.interventions import Arm, Intervention, Trial
from agents.policy.hooked import HookedMazeNet
from agents.settings.base import ConfigError


def check_upstream(net: HookedMazeNet, hook: str, erase_hook: str) -> None:
    """Raises `ConfigError` unless ``erase_hook`` is a layer with a map that runs before
    ``hook``."""
    names = list(net.shapes)
    if erase_hook not in names or len(net.shapes[erase_hook]) != 3:
        maps = [n for n in names if len(net.shapes[n]) == 3]
        raise ConfigError(f"erase_hook must be a layer with a map ({maps}), got {erase_hook!r}")
    if names.index(erase_hook) >= names.index(hook):
        raise ConfigError(f"erase_hook must run before hook={hook}, got {erase_hook}")


@dataclass(frozen=True)
class UpstreamAct:
    """An ``act_fn``: ``inner``'s patches, and at ``hook`` (an earlier layer) every position
    within ``radius`` of the cheese replaced by its value without the cheese (the whole vector,
    or ``sae``'s features). Each step runs the network twice: on the observations without the
    cheese (for the reference), then patched."""

    inner: PatchedAct
    hook: str
    radius: int
    cheese: np.ndarray  # [K, 2] each episode's cheese in ``hook``'s map
    sae: Sae | None = None
    #: a function of the observation and the maze index (`agents.policy.rollout.pure`)
    pure: ClassVar[bool] = True

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else idx
        net = self.inner.net
        x = torch.as_tensor(obs, device=net.device)
        with torch.no_grad(), net.hooks(cache=[self.hook]) as cache:
            net(without_cheese_obs(x))
        reference = cache[self.hook]  # [B, C, h, w]
        h, w = reference.shape[2:]
        mask = near_mask(torch.as_tensor(self.cheese[index]), h, w, self.radius)
        patches = dict(self.inner.patches_for(index))
        patches[self.hook] = lambda a: replaced_near(a, reference, mask, self.sae)
        with torch.no_grad(), net.hooks(patches=patches):
            logits, _ = net(x)
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def upstream_label(label: str, hook: str, radius: int, features: bool) -> str:
    """``top 3 ..., embedder.block1.maxpool_out's features within 1 of the cheese replaced``, or
    for the whole vector ``the layer at embedder.block1.maxpool_out within 1 of the cheese
    replaced, top 3 ...`` (named first: not a feature row)."""
    if features:
        return f"{label}, {hook}'s features within {radius} of the cheese replaced"
    return f"the layer at {hook} within {radius} of the cheese replaced, {label}"


def erased_before(
    row: Intervention, hook: str, radius: int, sae: Sae | None = None
) -> Intervention:
    """``row`` (played with the cheese present, its act a `PatchedAct` at a later layer) with
    the cheese erased at ``hook`` within ``radius`` of it (`UpstreamAct`)."""

    def build(t: Trial) -> Arm:
        states, act = row.build(t)
        if not isinstance(act, PatchedAct):
            raise ValueError(f"the row {row.label!r} does not patch alone: nothing to erase under")
        if hook in act.patches_for(np.arange(1)):
            raise ValueError(f"the row {row.label!r} already patches {hook}")
        shape = t.net.shapes[hook]
        cheese = map_position(t.states.cheese, t.setting.config.world_size, shape)
        return states, UpstreamAct(act, hook, radius, cheese, sae)

    return Intervention(upstream_label(row.label, hook, radius, sae is not None), build)
