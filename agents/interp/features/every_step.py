"""The features' splice at every step: what a write that follows the mouse could do.

`agents.interp.features.rows.features_splice` takes each maze's change of the chosen features
once, with the mouse at the start, and adds it at every step; the conv map and the wall map
predict that same change. Here the change is taken again at each step, from the observation as
it is and the same observation with the cheese shown on the target (grid observations): the most
a write of these features that follows the mouse could do, beside the write computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from agents.interp.features.dictionary import Sae
from agents.interp.features.rows import feature_move
from agents.interp.features.train import cheese_on, top_per_target
from agents.interp.interventions import Arm, Intervention, Trial
from agents.policy.hooked import HookedMazeNet


@torch.no_grad()
def step_change(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    x: torch.Tensor,
    squares: torch.Tensor,
    features: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """At grid observations ``x`` ``[B, 3, W, W]``: ``features``' change between each with the
    cheese on ``squares`` ``[B, 2]`` and as it is ``[B, k, h, w]``, and the layer as it is
    ``[B, C, h, w]`` (one forward pass on both observations at once)."""
    with net.hooks(cache=[hook]) as there:
        net(torch.cat([cheese_on(x, squares), x]))
    acts = there[hook].float()
    f = sae.encode_map(acts)[:, list(features)]  # [2B, k, h, w]
    return f[: len(x)] - f[len(x) :], acts[len(x) :]


@dataclass(frozen=True)
class EveryStepAct:
    """An ``act_fn``: at each step, ``features``' change at ``hook`` between the observation
    with the cheese on each episode's target and the observation as it is, ``scale`` times,
    added at ``hook`` (two forward passes a step, the first on both observations at once)."""

    net: HookedMazeNet
    hook: str
    sae: Sae
    features: Sequence[int]
    scale: float
    squares: torch.Tensor  # [K, 2] each episode's target
    #: [K, len(features)] which of ``features`` each episode writes (None: all of them)
    mask: torch.Tensor | None = None
    #: a function of the observation and the maze index (`agents.policy.rollout.pure`)
    pure: ClassVar[bool] = True

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else idx
        x = torch.as_tensor(obs, device=self.net.device)
        chosen = list(self.features)
        squares = self.squares[torch.as_tensor(index)]
        change, _ = step_change(self.net, self.hook, self.sae, x, squares, chosen)
        if self.mask is not None:
            change = change * self.mask[torch.as_tensor(index)][:, :, None, None]
        add = self.scale * torch.einsum("bfhw,fc->bchw", change, self.sae.w_dec[chosen].float())
        with torch.no_grad(), self.net.hooks(patches={self.hook: lambda a: a + add.to(a.dtype)}):
            logits, _ = self.net(x)
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


#: How the label of an `every_step_splice` row ends (such a row plays alone, not batched).
EVERY_STEP = ", at every step"


def target_picks(sae: Sae, t: Trial, features: Sequence[int], n: int) -> torch.Tensor:
    """``[K, len(features)]`` 1 for the ``n`` of ``features`` that carry most of each target's
    own move (`top_per_target` of the change of moving the cheese there, the mouse at the
    start), else 0."""
    chosen = list(features)
    with torch.no_grad():
        change = feature_move(sae, t, t.states)[:, chosen]  # [K, F', h, w]
        return top_per_target(change, sae.w_dec[chosen].detach(), n)


def every_step_splice(
    sae: Sae, features: Sequence[int], scale: float, name: str = "", per_target: int = 0
) -> Intervention:
    """The row, cheese present: `EveryStepAct` on the trial's mazes as played. With
    ``per_target``, each target's own top ``per_target`` of ``features`` (`target_picks`): at
    most that many features written at a target, which ones chosen target by target."""
    top = f"each target's top {per_target} of" if per_target else "top"
    what = f"{top} {len(features)}"
    label = f"{name}features {what} splice x{scale:g}{EVERY_STEP}"

    def build(t: Trial) -> Arm:
        if t.setting.config.obs_mode != "grid":
            raise ValueError("the splice at every step moves the cheese of grid observations only")
        squares = torch.as_tensor(t.targets.squares)
        mask = target_picks(sae, t, features, per_target) if per_target else None
        act = EveryStepAct(t.net, t.hook, sae, list(features), scale, squares, mask)
        return t.states, act

    return Intervention(label, build)
