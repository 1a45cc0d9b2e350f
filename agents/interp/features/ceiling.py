"""The layer's ceiling and the maze's bound: the rows a feature intervention is measured against.

- **The layer's ceiling** (`difference_added`): the cheese's activation difference at the layer
  (the layer with the cheese on the target minus the layer as played: present or removed), taken
  once with the mouse at the start and added at every step, ``scale`` times, over the whole
  layer or within one position of the target; its place and scale searched (`pick_ceiling`). A
  few features set at a target can at best do what such a write does at their layer.
- **The maze's bound** with the cheese present (`cheese_shown`): the network shown the cheese
  on the target at every step while the maze keeps its cheese. It acts as with the real cheese
  moved, and loses the episodes that end on the real cheese on the way to the target: what no
  intervention inside the network takes back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.interp.activations import activations, patched_act_fn
from agents.interp.features.rows import near_mask
from agents.interp.features.train import cheese_on
from agents.interp.interventions import REMOVED, Arm, Intervention, Trial
from agents.policy.hooked import PatchFn

WHERE = ("whole layer", "around the target")
CONDITIONS = (False, True)  # removed?
#: Where `cheese_shown` moves the cheese's plane: the observation as the network reads it.
INPUT_HOOK = "embedder.scale_in"


def best_of(
    hit: dict[str, np.ndarray], keys: list[Any], label: Any
) -> tuple[Any, dict[str, float]]:
    """The key whose row ``label(key)`` succeeds most (the first on a tie), and every rate."""
    rates = {str(k): float(hit[label(k)].mean()) for k in keys}
    return max(keys, key=lambda k: rates[str(k)]), rates


def ceiling_rows(scales: list[float]) -> list[Intervention]:
    """The layer's ceiling rows to search: the cheese's move added over the whole layer and
    around the target, at each scale, cheese present and removed."""
    return [difference_added(w, s, rem) for w in WHERE for s in scales for rem in CONDITIONS]


def pick_ceiling(hit: dict[str, np.ndarray], scales: list[float], removed: bool) -> dict[str, Any]:
    """The place and scale of the ceiling row (of `ceiling_rows`) that succeeds most in
    ``hit``, with every rate tried."""
    keys = [(w, s) for w in WHERE for s in scales]
    best, tried = best_of(hit, keys, lambda k: difference_added(k[0], k[1], removed).label)
    return {"where": best[0], "scale": best[1], "tried": tried}


def difference_label(where: str, scale: float) -> str:
    return f"cheese difference x{scale:g}, {where}"


def difference_added(where: str, scale: float, removed: bool = False) -> Intervention:
    """A ceiling row: the cheese's activation difference (cheese on the target minus the maze
    as played), taken with the mouse at the start, added at every step ``scale`` times over the
    whole layer (``where="whole layer"``) or within one position of the target
    (``"around the target"``)."""

    def build(t: Trial) -> Arm:
        config = t.setting.config
        states = t.removed if removed else t.states
        delta = activations(t.net, t.hook, t.moved, config) - activations(
            t.net, t.hook, states, config
        )  # [K, C, H, W]
        if where != "whole layer":
            pos = torch.as_tensor(t.positions)
            delta = delta * near_mask(pos, delta.shape[2], delta.shape[3], 1).to(delta.dtype)

        def patches(idx: np.ndarray) -> dict[str, PatchFn]:
            d = delta[torch.as_tensor(idx)]
            return {t.hook: lambda x: x + scale * d.to(x.dtype)}

        return states, patched_act_fn(t.net, patches)

    return Intervention(difference_label(where, scale) + (REMOVED if removed else ""), build)


#: The label of `cheese_shown`, the maze's bound.
BOUND = "the maze's bound: the cheese shown on the target at every step"


def cheese_shown() -> Intervention:
    """**The maze's bound** with the cheese present: at every step the network is shown the
    cheese on the target instead of where it is (the cheese's plane of the observation moved,
    at `INPUT_HOOK`; grid observations), while the maze keeps its cheese. The network then acts
    exactly as with the real cheese moved; the row loses only the episodes that end on the real
    cheese on the way to the target (the targets behind it, which no row with the cheese present
    reaches), so no intervention inside the network that makes it act as if the cheese were on
    the target does better."""

    def build(t: Trial) -> Arm:
        if t.setting.config.obs_mode != "grid":
            raise ValueError("the maze's bound moves the cheese of grid observations only")
        squares = torch.as_tensor(t.targets.squares)  # [K, 2], a grid's cell is a square

        def show(idx: np.ndarray) -> PatchFn:  # on [B, 3, W, W], scaled to [0, 1]
            return lambda x: cheese_on(x, squares[torch.as_tensor(idx)])

        return t.states, patched_act_fn(t.net, lambda idx: {INPUT_HOOK: show(idx)})

    return Intervention(BOUND, build)
