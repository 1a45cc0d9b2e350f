"""A map of the features' change that depends on the maze around the target: the *wall map*.

The averaged map (`agents.interp.features.find.cheese_maps`) writes the same change around
every target, but the cheese's change follows the corridors around it, which differ maze by
maze (docs/features.md). `fit_wall_map` fits, for each of a few features, a ridge regression of
its change (the layer with the cheese on a square minus the layer without it, the mouse at the
start) at each position within ``radius`` of the cheese on what the maze looks like there:

- the position's **offset** from the cheese, apart for its open and its walled share (this part
  alone is the averaged map);
- its **path distance** from the cheese (BFS over the squares, binned), apart for each ring
  ``max(|dr|, |dc|)`` of offsets, so that "along the corridor" and "behind a wall" differ;
- its **degree** (open neighbours of its open squares: a dead end, a corridor, a junction).

It is fit on placements of the cheese on random open squares of mazes apart from those it is
played on, and says how much of the change it explains on held-out mazes, beside the averaged
map's figure on the same ones. `WallMap.write` is what a row adds at the target: the predicted
change of each feature times its decoder direction, ``[K, C, h, w]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from agents.interp.activations import activations, map_position, without_cheese
from agents.interp.features.dictionary import Sae
from agents.policy.hooked import HookedMazeNet
from mazegen import MazeConfig
from mazegen.queries import distances
from mazegen.state import BatchState


def _bins(radius: int, world: int, h: int) -> int:
    """Path-distance bins (the last one: farther or unreachable)."""
    return min(4 * (radius + 1) * max(1, -(-world // h)), 48)


def design_width(radius: int, world: int, h: int) -> int:
    """Columns of a design row (`design`)."""
    side = (2 * radius + 1) ** 2
    return 2 * side + (radius + 1) * (_bins(radius, world, h) + 1) + 5


def design(
    walls: np.ndarray, target: np.ndarray, shape: tuple[int, int], radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """The positions within ``radius`` of ``target``'s (an open square ``[2]`` of ``walls``
    ``[W, W]``) in a layer map of ``shape`` ``(h, w)``, ``[M, 2]``, and their design rows
    ``[M, design_width]``."""
    world = walls.shape[0]
    h, w = shape
    rows_of = map_position(np.stack([np.arange(world)] * 2, 1), world, (h, w))  # [W, 2]
    pr, pc = np.meshgrid(rows_of[:, 0], rows_of[:, 1], indexing="ij")  # [W, W] each
    open_ = ~walls
    count = np.zeros((h, w))
    np.add.at(count, (pr, pc), 1.0)
    open_share = np.zeros((h, w))
    np.add.at(open_share, (pr, pc), open_.astype(float))
    open_share /= np.maximum(count, 1.0)
    dist = distances(walls, (int(target[0]), int(target[1])))  # [W, W], -1 unreachable
    bins = _bins(radius, world, h)
    far = np.where(dist >= 0, np.minimum(dist, bins), bins)
    nearest = np.full((h, w), bins)
    np.minimum.at(nearest, (pr, pc), far)
    padded = np.pad(open_, 1)
    degree = (
        padded[:-2, 1:-1].astype(int) + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    ) * open_
    deg_sum = np.zeros((h, w))
    np.add.at(deg_sum, (pr, pc), degree.astype(float))
    mean_degree = np.rint(deg_sum / np.maximum(open_share * count, 1.0)).astype(int)

    t = map_position(np.asarray(target)[None], world, (h, w))[0]
    off = np.arange(-radius, radius + 1)
    dr, dc = (g.ravel() for g in np.meshgrid(off, off, indexing="ij"))
    r, c = t[0] + dr, t[1] + dc
    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    dr, dc, r, c = dr[ok], dc[ok], r[ok], c[ok]
    side = (2 * radius + 1) ** 2
    x = np.zeros((len(r), design_width(radius, world, h)))
    m = np.arange(len(r))
    offset = (dr + radius) * (2 * radius + 1) + (dc + radius)
    share = open_share[r, c]
    x[m, offset] = share
    x[m, side + offset] = 1.0 - share
    ring = np.maximum(np.abs(dr), np.abs(dc))
    x[m, 2 * side + ring * (bins + 1) + nearest[r, c]] = share > 0
    x[m, 2 * side + (radius + 1) * (bins + 1) + np.clip(mean_degree[r, c], 0, 4)] = share
    return np.stack([r, c], 1), x


class MazeMap:
    """A map of the features' change that depends on the maze: `WallMap` here, `ConvMap`
    (`agents.interp.features.conv_map`) from the whole maze. Each predicts its ``features``'
    change (`predict`) and writes it in the layer (`write`, shared)."""

    features: list[int]
    fve: float  # the share of the features' change it explains on held-out mazes

    @property
    def name(self) -> str:
        """How a row's label names it."""
        raise NotImplementedError

    def take(self, n: int) -> MazeMap:
        """The map of the first ``n`` features."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def predict(
        self, states: BatchState, squares: np.ndarray, shape: tuple[int, int]
    ) -> np.ndarray:
        """``[K, k, h, w]`` each feature's predicted change with the cheese on ``squares``
        ``[K, 2]`` of ``states``."""
        raise NotImplementedError

    def write(
        self,
        sae: Sae,
        states: BatchState,
        squares: np.ndarray,
        shape: tuple[int, ...],
        minus: np.ndarray | None = None,
    ) -> torch.Tensor:
        """``[K, C, h, w]`` the predicted change written in the layer: ``sum_j f_j d_j``; with
        ``minus`` ``[K, 2]`` (the cheese's squares), the change predicted there subtracted: the
        cheese erased in the same features, from the maze alone."""
        hw = (shape[-2], shape[-1])
        pred = self.predict(states, squares, hw)
        if minus is not None:
            pred = pred - self.predict(states, minus, hw)
        with torch.no_grad():
            w_dec = sae.w_dec[self.features].float()
            return torch.einsum("kfhw,fc->kchw", torch.as_tensor(pred), w_dec)


@dataclass(frozen=True)
class WallMap(MazeMap):
    """Per-feature ridge regressions of the cheese's change on the maze around it.

    Attributes:
        features: The features it predicts, in order.
        radius: Positions within this many of the cheese's (in the layer's map) are written.
        coef: ``[D, k]`` each feature's coefficients on a `design` row.
        fve: The share of the features' change within ``radius`` it explains on held-out mazes.
        fve_averaged: The same, for the averaged map (one mean per offset) on the same mazes.
    """

    features: list[int]
    radius: int
    coef: np.ndarray
    fve: float = float("nan")
    fve_averaged: float = float("nan")

    @property
    def name(self) -> str:
        """How a row's label names it."""
        return f"wall map r{self.radius}"

    def take(self, n: int) -> WallMap:
        """The map of the first ``n`` features."""
        return replace(self, features=self.features[:n], coef=self.coef[:, :n])

    def predict(
        self, states: BatchState, squares: np.ndarray, shape: tuple[int, int]
    ) -> np.ndarray:
        """``[K, k, h, w]`` each feature's predicted change with the cheese on ``squares``
        ``[K, 2]`` of ``states`` (zero beyond the radius)."""
        out = np.zeros((len(squares), len(self.features), *shape), dtype=np.float32)
        for i, sq in enumerate(squares):
            pos, x = design(states.walls[i], sq, shape, self.radius)
            out[i, :, pos[:, 0], pos[:, 1]] = x @ self.coef
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "radius": self.radius,
            "coef": self.coef.tolist(),
            "fve": self.fve,
            "fve_averaged": self.fve_averaged,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> WallMap:
        return cls(
            [int(j) for j in d["features"]],
            int(d["radius"]),
            np.asarray(d["coef"], dtype=float),
            float(d["fve"]),
            float(d["fve_averaged"]),
        )


def placed_changes(
    net: HookedMazeNet,
    hook: str,
    sae: Sae,
    states: BatchState,
    config: MazeConfig,
    features: list[int],
    rng: np.random.Generator,
    placements: int,
) -> tuple[BatchState, np.ndarray, np.ndarray]:
    """The cheese placed on ``placements`` random open squares of each maze (not the mouse's):
    the mazes ``[P]`` (one per placement), the squares ``[P, 2]``, and the ``features``' change
    ``[P, k, h, w]`` (with the cheese there minus without it, the mouse at the start)."""
    idx, squares = [], []
    for i, walls in enumerate(states.walls):
        free = np.argwhere(~walls)
        free = free[(free != states.mouse[i]).any(axis=1)]
        pick = rng.choice(len(free), size=min(placements, len(free)), replace=False)
        idx += [i] * len(pick)
        squares.append(free[pick])
    at = np.asarray(idx)
    where = np.concatenate(squares)
    mazes = states.take(at).placed(cheese=where.copy())
    with torch.no_grad():
        base = sae.encode_map(activations(net, hook, without_cheese(states), config).float())
        moved = sae.encode_map(activations(net, hook, mazes, config).float())
    change = (moved[:, features] - base[torch.as_tensor(at)][:, features]).numpy()
    return mazes, where, change


def fit_wall_map(
    mazes: BatchState,
    squares: np.ndarray,
    change: np.ndarray,
    features: list[int],
    radius: int,
    held_out: float = 0.2,
    ridge: float = 1e-3,
) -> WallMap:
    """The wall map of ``features`` fit on the placements (`placed_changes`); its ``fve`` and
    the averaged map's measured on the last ``held_out`` share of them, then refit on all."""
    shape = (change.shape[2], change.shape[3])
    rows = [design(mazes.walls[i], sq, shape, radius) for i, sq in enumerate(squares)]
    xs = [x for _, x in rows]
    ys = [change[i][:, pos[:, 0], pos[:, 1]].T for i, (pos, _) in enumerate(rows)]  # [M, k]
    cut = int(round(len(rows) * (1 - held_out)))
    side = (2 * radius + 1) ** 2

    def solve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        gram = x.T @ x
        lam = ridge * float(np.trace(gram)) / len(gram)
        return np.linalg.solve(gram + lam * np.eye(len(gram)), x.T @ y)

    def fve(pred: np.ndarray, y: np.ndarray) -> float:
        return float(1.0 - ((y - pred) ** 2).sum() / max(((y - y.mean(0)) ** 2).sum(), 1e-12))

    x_fit, y_fit = np.concatenate(xs[:cut]), np.concatenate(ys[:cut])
    x_out, y_out = np.concatenate(xs[cut:]), np.concatenate(ys[cut:])
    wall_fve = fve(x_out @ solve(x_fit, y_fit), y_out)
    # the averaged map: one mean per offset (the offset columns of a row sum to one)
    offsets = lambda x: x[:, :side] + x[:, side : 2 * side]  # noqa: E731
    avg_fve = fve(offsets(x_out) @ solve(offsets(x_fit), y_fit), y_out)
    coef = solve(np.concatenate(xs), np.concatenate(ys))
    return WallMap(list(features), radius, coef, wall_fve, avg_fve)
