"""A map of the features' change computed from the whole maze: the *conv map*.

The wall map (`agents.interp.features.wall_map`), a linear regression on what the maze looks like
around each position, explains 0.4-0.45 of the move features' change on held-out mazes, barely
more than one mean per offset (docs/features.md). `fit_conv_map` fits a small convolutional
network instead, from what the maze shows at its own resolution (`maze_inputs`: the open
squares, the target, the path distance from the target, where that is reachable, the mouse) to
each feature's change at every position of the layer's map, on placements of the cheese in
mazes apart from those the rows are searched or played on (`placed_changes` on the maze set's
fit mazes). It writes like a wall map (`MazeMap.write`: the predicted change times the
features' decoder directions) and its weights travel in the measurement's JSON
(`ConvMap.to_json`: float32 bytes, no code).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.interp.activations import map_position
from agents.interp.features.dictionary import Sae
from agents.interp.features.wall_map import MazeMap, WallMap, placed_changes
from agents.policy.hooked import HookedMazeNet
from mazegen import MazeConfig
from mazegen.queries import distances
from mazegen.state import BatchState

#: Input planes of `maze_inputs`, in order.
PLANES = ("open", "target", "path distance", "reachable", "mouse")


def maze_inputs(states: BatchState, squares: np.ndarray) -> torch.Tensor:
    """``[K, 5, W, W]`` what maze ``i`` of ``states`` shows with the cheese on ``squares[i]``
    (``[K, 2]``): its open squares, the target, the path distance from the target (as a share
    of the maze's side; 0 where unreachable), where it is reachable, and the mouse."""
    k, world = len(squares), states.walls.shape[1]
    x = np.zeros((k, len(PLANES), world, world), dtype=np.float32)
    for i, (r, c) in enumerate(np.asarray(squares, dtype=int)):
        dist = distances(states.walls[i], (int(r), int(c)))
        x[i, 0] = ~states.walls[i]
        x[i, 1, r, c] = 1.0
        x[i, 2] = np.where(dist >= 0, dist / world, 0.0)
        x[i, 3] = dist >= 0
        x[i, 4, states.mouse[i][0], states.mouse[i][1]] = 1.0
    return torch.as_tensor(x)


def pooling(world: int, shape: tuple[int, int]) -> torch.Tensor:
    """``[h * w, W * W]``: each layer position the mean of the maze squares it covers
    (`map_position`)."""
    h, w = shape
    pos = map_position(np.argwhere(np.ones((world, world))), world, shape)  # [W * W, 2]
    pool = np.zeros((h * w, world * world), dtype=np.float32)
    pool[pos[:, 0] * w + pos[:, 1], np.arange(world * world)] = 1.0
    return torch.as_tensor(pool / np.maximum(pool.sum(1, keepdims=True), 1.0))


def weights_json(net: nn.Module) -> dict[str, str]:
    """A map network's weights as JSON: each tensor's float32 bytes in base64 (no code; the
    ``pool`` buffer, rebuilt from the shapes, left out)."""
    return {k: base64.b64encode(v.detach().numpy().astype("<f4").tobytes()).decode()
            for k, v in net.state_dict().items() if k != "pool"}  # fmt: skip


def load_weights_json(net: nn.Module, state: dict[str, str]) -> None:
    """Loads `weights_json`'s ``state`` into ``net`` (built with the same shapes), in place."""
    own = net.state_dict()
    weights = {
        k: torch.as_tensor(
            np.frombuffer(base64.b64decode(v), dtype="<f4").reshape(own[k].shape).copy()
        )
        for k, v in state.items()
    }
    net.load_state_dict(weights | {"pool": own["pool"]})
    net.eval()


def dilated_body(inputs: int, width: int) -> nn.Sequential:
    """Four 3 x 3 convolutions with ReLUs, dilations 1, 2, 4, 1 (each square sees about 8
    squares around it), ``inputs`` planes in, ``width`` out, at the input's resolution."""
    layers: list[nn.Module] = []
    for i, d in enumerate((1, 2, 4, 1)):
        layers += [nn.Conv2d(inputs if i == 0 else width, width, 3, padding=d, dilation=d)]
        layers += [nn.ReLU()]
    return nn.Sequential(*layers)


class ConvMapNet(nn.Module):
    """Four 3 x 3 convolutions at the maze's resolution (dilations 1, 2, 4, 1: each square sees
    about 8 squares around it, beside the path distance that carries the rest), pooled to the
    layer's map, and a 1 x 1 convolution to the ``outputs`` features' changes."""

    def __init__(self, width: int, outputs: int, world: int, shape: tuple[int, int]):
        super().__init__()
        self.body = dilated_body(len(PLANES), width)
        self.head = nn.Conv2d(width, outputs, 1)
        self.world, self.shape = world, shape
        self.register_buffer("pool", pooling(world, shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [K, 5, W, W] -> [K, outputs, h, w]
        y = self.body(x).flatten(2) @ self.pool.T  # [K, width, h * w]
        return self.head(y.reshape(len(x), -1, *self.shape))


@dataclass(frozen=True)
class ConvMap(MazeMap):
    """A fitted `ConvMapNet` and the features it predicts.

    Attributes:
        features: The features whose change it writes, in order.
        net: The network; its output ``j`` is ``features[j]``'s change (`take` keeps the first
            features, the network whole).
        fve: The share of the features' change it explains on the held-out fit mazes.
    """

    features: list[int]
    net: ConvMapNet
    fve: float = float("nan")

    @property
    def name(self) -> str:
        """How a row's label names it."""
        return "conv map"

    def take(self, n: int) -> ConvMap:
        """The map of the first ``n`` features."""
        return ConvMap(self.features[:n], self.net, self.fve)

    @torch.no_grad()
    def predict(
        self, states: BatchState, squares: np.ndarray, shape: tuple[int, int]
    ) -> np.ndarray:
        """``[K, k, h, w]`` each feature's predicted change with the cheese on ``squares``
        ``[K, 2]`` of ``states``."""
        if tuple(shape) != tuple(self.net.shape):
            raise ValueError(f"the conv map writes maps of {self.net.shape}, not {shape}")
        k = len(squares)
        out = [self.net(maze_inputs(states.take(np.arange(i, min(i + 64, k))), squares[i : i + 64]))
               for i in range(0, k, 64)]  # fmt: skip
        return torch.cat(out)[:, : len(self.features)].numpy()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "conv",
            "features": self.features,
            "width": self.net.head.in_channels,
            "heads": self.net.head.out_channels,  # the network's outputs (`take` keeps some)
            "world": self.net.world,
            "shape": list(self.net.shape),
            "fve": self.fve,
            "state": weights_json(self.net),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConvMap:
        shape = (int(d["shape"][0]), int(d["shape"][1]))
        net = ConvMapNet(int(d["width"]), int(d["heads"]), int(d["world"]), shape)
        load_weights_json(net, d["state"])
        feats = [int(j) for j in d["features"]]
        return cls(feats, net.eval(), float(d["fve"]))


def fit_conv_map(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    mazes: BatchState,
    config: MazeConfig,
    features: list[int],
    rng: np.random.Generator,
    placements: int,
    steps: int,
    width: int = 32,
    held_out: float = 0.2,
) -> ConvMap:
    """The conv map of ``features``, trained (Adam, batches of 64) for ``steps`` on
    ``placements`` cheese placements in each of the first ``1 - held_out`` of ``mazes`` (their
    features' change, `placed_changes`); its ``fve`` measured on the rest."""
    if len(mazes) < 2:
        raise ValueError(f"a conv map needs at least 2 fit mazes, got {len(mazes)}")
    cut = min(max(1, int(round(len(mazes) * (1 - held_out)))), len(mazes) - 1)
    placed, squares, change = placed_changes(net, hook, sae, mazes, config, features, rng,
                                             placements)  # fmt: skip
    first_out = int(np.argmax(np.isin(placed.level, mazes.level[cut:])))
    seed = int(rng.integers(2**31))
    return train_conv_map(placed, squares, change, features, first_out, steps, seed, width)


def train_conv_map(
    mazes: BatchState,
    squares: np.ndarray,
    change: np.ndarray,
    features: list[int],
    first_out: int,
    steps: int,
    seed: int,
    width: int = 32,
) -> ConvMap:
    """The conv map of ``features`` trained (Adam, batches of 64) for ``steps`` on the first
    ``first_out`` placements of the cheese (maze ``i`` of ``mazes`` with the cheese on
    ``squares[i]``, the features' change ``change[i]`` ``[k, h, w]``); its ``fve`` measured on
    the rest."""
    x, y = maze_inputs(mazes, squares), torch.as_tensor(change, dtype=torch.float32)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ConvMapNet(width, len(features), mazes.walls.shape[1], (y.shape[2], y.shape[3]))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        j = torch.randint(first_out, (64,), generator=gen)
        loss = (model(x[j]) - y[j]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 256]) for i in range(first_out, len(x), 256)])
    rest = y[first_out:]
    spread = max(float((rest - rest.mean((0, 2, 3), True)).pow(2).sum()), 1e-12)
    fve = 1.0 - float((pred - rest).pow(2).sum()) / spread
    return ConvMap(list(features), model, fve)


def map_from_json(d: dict[str, Any]) -> MazeMap:
    """A map of the maze as a measurement saved it (`WallMap.to_json` or `ConvMap.to_json`)."""
    return ConvMap.from_json(d) if d.get("kind") == "conv" else WallMap.from_json(d)
