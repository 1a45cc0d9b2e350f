"""A penalty on how far the cheese's effect on one layer spreads from the cheese's own position.

The study's probe of whether a code held *at* the cheese (the 2023 agent's channel 55) grows
channels that retarget the mouse when set at a target square (README, "The study"): every agent
measured so far holds the cheese's move near the cheese but not at it (0.07-0.17 of it at the
cheese's cells).

For each observation of a minibatch the network runs again, without gradients, with the cheese
taken out (grid observations: the cheese channel zeroed); ``d = a - a_without`` ``[batch, C, H,
W]`` is what the cheese changes in the layer. The penalty is

    ``spread * mean_{batch, y, x} far(y, x) * ||d[:, :, y, x]||_2``,

with ``far`` 1 at positions more than ``radius`` map positions (Chebyshev) from the cheese's
map position and 0 elsewhere (and everywhere in an observation without cheese). As the group
lasso does, the norm pushes whole positions' differences to exactly zero: far from the cheese,
the layer should read as if there were none. The run without cheese is a constant, so the
gradient reaches only the activations with the cheese.
"""

from __future__ import annotations

import torch

from mazegen.render import GRID_CHEESE_CHANNEL

# Keeps the gradient finite where the cheese changes nothing (its subgradient there is 0).
_EPS = 1e-8


def without_cheese(obs: torch.Tensor) -> torch.Tensor:
    """Grid observations ``[batch, 3, W, W]`` with the cheese channel zeroed (a copy)."""
    out = obs.clone()
    out[:, GRID_CHEESE_CHANNEL] = 0
    return out


def cheese_cells(obs: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """``[batch, 2]`` (row, col) of each grid observation's cheese in a map of ``shape`` (h, w)
    over the same world (the rule of `agents.interp.activations.map_position`); ``-1`` where an
    observation has no cheese."""
    world = obs.shape[-1]
    plane = obs[:, GRID_CHEESE_CHANNEL].reshape(len(obs), -1)  # [batch, W*W]
    present, flat = plane.max(dim=1)
    rows, cols = flat // world, flat % world
    h, w = shape
    cells = torch.stack(
        [((2 * rows + 1) * h) // (2 * world), ((2 * cols + 1) * w) // (2 * world)], dim=1
    )
    return torch.where((present > 0).unsqueeze(1), cells, torch.full_like(cells, -1))


def far_mask(cells: torch.Tensor, shape: tuple[int, int], radius: int) -> torch.Tensor:
    """``[batch, 1, h, w]`` float: 1 at positions more than ``radius`` from ``cells``
    (``[batch, 2]``, -1: no cheese, all 0)."""
    h, w = shape
    rows = torch.arange(h, device=cells.device).view(1, h, 1)
    cols = torch.arange(w, device=cells.device).view(1, 1, w)
    r, c = cells[:, 0].view(-1, 1, 1), cells[:, 1].view(-1, 1, 1)
    far = ((rows - r).abs() > radius) | ((cols - c).abs() > radius)
    return (far & (r >= 0)).unsqueeze(1).float()


def spread_grad(delta: torch.Tensor, far: torch.Tensor, spread: float) -> torch.Tensor:
    """The gradient of ``spread * mean_{batch, y, x} far * ||delta[:, :, y, x]||_2`` with respect
    to ``delta`` ``[batch, C, H, W]`` (``far`` ``[batch, 1, H, W]``)."""
    norm = delta.norm(dim=1, keepdim=True)  # [batch, 1, H, W]
    positions = delta.numel() // delta.shape[1]
    return far * delta / norm.clamp_min(_EPS) * (spread / positions)


def far_share(delta: torch.Tensor, far: torch.Tensor) -> float:
    """The share of ``delta``'s squared norm at the ``far`` positions (0 when it is all zero)."""
    energy = delta.detach().double().pow(2).sum(dim=1, keepdim=True)  # [batch, 1, H, W]
    total = float(energy.sum())
    return float((energy * far).sum()) / total if total > 0 else 0.0
