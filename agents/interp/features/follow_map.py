"""A map of the move features' change that follows the mouse: the *follow map*.

The conv map (`agents.interp.features.conv_map`) predicts the move features' change once, with
the mouse at the start, from the maze; the features' own change taken again at every step
(`agents.interp.features.every_step.EveryStepAct`) does much better, and is what a write of
those features could do if it knew the change where the mouse is (docs/features.md). The
follow map predicts that change at every step, from what the step's observation shows and what
stays put in the episode (`PLANES`: the open squares, the mouse, the cheese, the target, the
path distances from the target and from the cheese) and, with ``reads_layer``, the layer's own
SAE features at that step (as a feature set at a value reads the feature it sets). It never
runs the network on a changed observation.

It is fit **along the mouse's paths** (`agents.interp.features.follow_fit`). `follow_row`
plays it: at each step the predicted change, ``scale`` times,
through the features' decoder directions, added at the layer: the same ``n`` features written
everywhere, their values set by the map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from agents.interp.features.conv_map import (
    dilated_body,
    load_weights_json,
    pooling,
    weights_json,
)
from agents.interp.features.dictionary import Sae
from agents.interp.features.every_step import EVERY_STEP
from agents.interp.interventions import Arm, Intervention, Trial
from agents.policy.hooked import HookedMazeNet
from mazegen.queries import distances
from mazegen.state import BatchState

#: Input planes of `follow_inputs`, in order: three from the step's observation, three that
#: stay put in the episode (`episode_planes`).
PLANES = (
    "open",
    "mouse",
    "cheese",
    "target",
    "path distance from the target",
    "path distance from the cheese",
)


def episode_planes(states: BatchState, squares: np.ndarray) -> torch.Tensor:
    """``[K, 3, W, W]`` what stays put in episode ``i`` (maze ``i`` of ``states``, target
    ``squares[i]``): the target, the path distance from it and from the cheese (as a share of
    the maze's side; 0 where unreachable, and everywhere for a maze without its cheese)."""
    k, world = len(squares), states.walls.shape[1]
    out = np.zeros((k, 3, world, world), dtype=np.float32)
    for i, (r, c) in enumerate(np.asarray(squares, dtype=int)):
        dist = distances(states.walls[i], (int(r), int(c)))
        out[i, 0, r, c] = 1.0
        out[i, 1] = np.where(dist >= 0, dist / world, 0.0)
        cheese = states.cheese[i]
        if cheese[0] >= 0:
            dist = distances(states.walls[i], (int(cheese[0]), int(cheese[1])))
            out[i, 2] = np.where(dist >= 0, dist / world, 0.0)
    return torch.as_tensor(out)


def follow_inputs(obs: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """``[B, 6, W, W]`` (`PLANES`) from grid observations ``[B, 3, W, W]`` (wall, mouse,
    cheese) and each one's `episode_planes` ``[B, 3, W, W]``."""
    x = obs.float()
    return torch.cat([1.0 - x[:, :1], x[:, 1:3], planes.to(x.device)], 1)


class FollowMapNet(nn.Module):
    """Four 3 x 3 convolutions at the maze's resolution (dilations 1, 2, 4, 1), pooled to the
    layer's map, joined there by the layer's ``layer_features`` SAE features (0: none), two 3 x 3
    convolutions, and a 1 x 1 convolution to the ``outputs`` features' changes."""

    def __init__(
        self, width: int, outputs: int, world: int, shape: tuple[int, int], layer_features: int
    ):
        super().__init__()
        self.body = dilated_body(len(PLANES), width)
        self.top = nn.Sequential(
            nn.Conv2d(width + layer_features, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Conv2d(width, outputs, 1)
        self.width, self.world, self.shape = width, world, shape
        self.layer_features = layer_features
        self.register_buffer("pool", pooling(world, shape))

    def forward(self, x: torch.Tensor, f: torch.Tensor | None = None) -> torch.Tensor:
        # x [B, 6, W, W], f [B, layer_features, h, w] -> [B, outputs, h, w]
        y = (self.body(x).flatten(2) @ self.pool.T).reshape(len(x), -1, *self.shape)
        if self.layer_features:
            if f is None:
                raise ValueError("this follow map reads the layer's features: give them")
            y = torch.cat([y, f.to(y.dtype)], 1)
        return self.head(self.top(y))


@dataclass(frozen=True)
class FollowMap:
    """A fitted `FollowMapNet` and the features it predicts.

    Attributes:
        features: The features whose change it writes, in order (the network's outputs).
        net: The network.
        fve: The share of the features' change it explains on the held-out fit mazes' steps.
    """

    features: list[int]
    net: FollowMapNet
    fve: float = float("nan")

    @property
    def reads_layer(self) -> bool:
        """Whether it reads the layer's SAE features at each step."""
        return self.net.layer_features > 0

    @property
    def name(self) -> str:
        """How a row's label names it."""
        return "follow map" + (" (the maze and the layer)" if self.reads_layer else " (the maze)")

    def change(self, sae: Sae, inputs: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """``[B, k, h, w]`` the predicted change from `follow_inputs` ``[B, 6, W, W]`` and the
        layer ``[B, C, h, w]`` as it is at the step."""
        f = sae.encode_map(layer.float()) if self.reads_layer else None
        return self.net(inputs, f)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "follow",
            "features": self.features,
            "width": self.net.width,
            "world": self.net.world,
            "shape": list(self.net.shape),
            "layer_features": self.net.layer_features,
            "fve": self.fve,
            "state": weights_json(self.net),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FollowMap:
        shape = (int(d["shape"][0]), int(d["shape"][1]))
        feats = [int(j) for j in d["features"]]
        net = FollowMapNet(
            int(d["width"]), len(feats), int(d["world"]), shape, int(d["layer_features"])
        )
        load_weights_json(net, d["state"])
        return cls(feats, net, float(d["fve"]))


@dataclass(frozen=True)
class FollowAct:
    """An ``act_fn``: at each step the follow map's predicted change, ``scale`` times, through
    its features' decoder directions, added at ``hook`` (one forward pass a step)."""

    net: HookedMazeNet
    hook: str
    sae: Sae
    fmap: FollowMap
    scale: float
    planes: torch.Tensor  # [K, 3, W, W] each episode's `episode_planes`
    #: a function of the observation and the maze index (`agents.policy.rollout.pure`)
    pure: ClassVar[bool] = True

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = torch.as_tensor(np.arange(len(obs)) if idx is None else idx)
        x = torch.as_tensor(obs, device=self.net.device)
        inputs = follow_inputs(x, self.planes[index])
        dec = self.sae.w_dec[self.fmap.features].float()  # [k, C]

        def patch(a: torch.Tensor) -> torch.Tensor:
            change = self.fmap.change(self.sae, inputs, a)  # [B, k, h, w]
            return a + (self.scale * torch.einsum("bfhw,fc->bchw", change, dec)).to(a.dtype)

        with torch.no_grad(), self.net.hooks(patches={self.hook: patch}):
            logits, _ = self.net(x)
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def follow_label(fmap: FollowMap, scale: float) -> str:
    """``top 11 move features' follow map (the maze and the layer) x1.5, at every step``."""
    return f"top {len(fmap.features)} move features' {fmap.name} x{scale:g}{EVERY_STEP}"


def follow_row(sae: Sae, fmap: FollowMap, scale: float) -> Intervention:
    """The row, cheese present: `FollowAct` on the trial's mazes as played."""

    def build(t: Trial) -> Arm:
        if t.setting.config.obs_mode != "grid":
            raise ValueError("the follow map reads grid observations only")
        planes = episode_planes(t.states, t.targets.squares)
        return t.states, FollowAct(t.net, t.hook, sae, fmap, scale, planes)

    return Intervention(follow_label(fmap, scale), build)
