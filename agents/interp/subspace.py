"""Whether a signal in a layer is held by a few channels or by a few directions.

A code held by a few channels (the 2023 agent's channel 55) concentrates a signal's energy in
those channels; a code held by a few directions that are not channels (a rotated basis)
concentrates its variance in a few principal directions while spreading its energy over the
channels. Comparing the two on the same signal tells the cases apart: splicing the top ``k``
directions then works where splicing the top ``k`` channels does not.
"""

from __future__ import annotations

import torch


def principal_directions(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The channel-space directions of ``delta`` by how much of it they carry.

    Args:
        delta: a signal in a layer, ``[batch, C, H, W]`` (e.g. the activation change of moving
            the cheese); every position of every example is one ``C``-vector. Not centred: the
            directions are those of the signal itself, not of its spread around a mean.

    Returns:
        ``directions`` ``[C, C]``, one unit direction a column, by decreasing share, and
        ``share`` ``[C]``, the cumulative share of the signal's squared norm in the first
        ``k + 1`` directions.
    """
    c = delta.shape[1]
    vectors = delta.detach().permute(0, 2, 3, 1).reshape(-1, c).double()  # [batch*H*W, C]
    values, vecs = torch.linalg.eigh(vectors.T @ vectors)  # ascending
    values = values.flip(0).clamp(min=0.0)
    total = values.sum()
    share = values.cumsum(0) / total if total > 0 else torch.zeros_like(values)
    return vecs.flip(1).to(delta.dtype), share.to(delta.dtype)


def channel_share(delta: torch.Tensor) -> torch.Tensor:
    """``[C]``: the cumulative share of ``delta``'s squared norm (``[batch, C, H, W]``) in its
    ``k + 1`` most energetic channels (the same measure as `principal_directions`'s share, for
    the channel basis)."""
    energy = delta.detach().double().pow(2).sum(dim=(0, 2, 3)).sort(descending=True).values
    total = energy.sum()
    share = energy.cumsum(0) / total if total > 0 else torch.zeros_like(energy)
    return share.to(delta.dtype)


def project(delta: torch.Tensor, directions: torch.Tensor, k: int) -> torch.Tensor:
    """``delta`` (``[batch, C, H, W]``) restricted to the first ``k`` columns of
    ``directions`` (``[C, C]``, orthonormal) at every position; all ``C`` give ``delta`` back."""
    basis = directions[:, :k].to(delta.dtype)  # [C, k]
    return torch.einsum("ck,dk,ndhw->nchw", basis, basis, delta)


def near_share(delta: torch.Tensor, cells: torch.Tensor, radius: int) -> float:
    """The share of ``delta``'s squared norm (``[batch, C, H, W]``) within ``radius`` positions
    (the Chebyshev distance: 0 the cell itself, 1 its 3 x 3) of each example's ``cells``
    (``[batch, m, 2]`` (row, col) in the map; rows outside the map are ignored). A code held at
    the cheese's own position (the 2023 channel 55) gives a share near 1 at radius 0; a code
    smeared over the neighbourhood needs a larger radius."""
    b, _, h, w = delta.shape
    rows = torch.arange(h).view(1, 1, h, 1)
    cols = torch.arange(w).view(1, 1, 1, w)
    r, c = cells[..., 0].view(b, -1, 1, 1), cells[..., 1].view(b, -1, 1, 1)
    inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w)).to(torch.bool)
    near = ((rows - r).abs() <= radius) & ((cols - c).abs() <= radius) & inside
    mask = near.any(dim=1)  # [batch, H, W]
    energy = delta.detach().double().pow(2).sum(dim=1)  # [batch, H, W]
    total = float(energy.sum())
    return float(energy[mask].sum()) / total if total > 0 else 0.0
