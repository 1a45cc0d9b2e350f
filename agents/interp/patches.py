"""Patch primitives: functions ``activation [B, ...] -> activation`` for `hooks`.

Each checks that it fits the activation it meets and raises `HookError` with one line if not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from agents.policy.hooked import HookError, PatchFn


def _fit(vector: torch.Tensor, act: torch.Tensor, what: str) -> torch.Tensor:
    v = vector.to(act.device, act.dtype)
    if v.shape == act.shape[1:]:
        return v.unsqueeze(0)
    if v.shape == act.shape:
        return v
    raise HookError(
        f"{what} has shape {tuple(v.shape)} but the activation is "
        f"{tuple(act.shape[1:])} (or [batch] + that)"
    )


def add_vector(vector: torch.Tensor, coeff: float = 1.0) -> PatchFn:
    """``x + coeff * vector``; vector shaped like one activation or like the whole batch."""

    def patch(x: torch.Tensor) -> torch.Tensor:
        return x + coeff * _fit(vector, x, "vector")

    return patch


def zero() -> PatchFn:
    """Replaces the activation with zeros."""
    return torch.zeros_like


def mean_ablate(mean: torch.Tensor) -> PatchFn:
    """Replaces the activation with a mean activation (e.g. over many mazes)."""

    def patch(x: torch.Tensor) -> torch.Tensor:
        return _fit(mean, x, "mean activation").expand_as(x).clone()

    return patch


def resample(source: torch.Tensor, channels: Sequence[int] | None = None) -> PatchFn:
    """Replaces the activation (or only ``channels``) with activations from other mazes
    (``source`` shaped like one activation or like the batch)."""

    def patch(x: torch.Tensor) -> torch.Tensor:
        src = _fit(source, x, "resample source").expand_as(x)
        if channels is None:
            return src.clone()
        _check_channels(channels, x)
        out = x.clone()
        out[:, list(channels)] = src[:, list(channels)]
        return out

    return patch


def set_channels(
    channels: Sequence[int],
    position: tuple[int, int] | Sequence[tuple[int, int]],
    value: float,
    radius: int = 0,
) -> PatchFn:
    """Sets ``channels`` to ``value`` at a spatial ``position`` (h, w) of a ``[B, C, H, W]``
    activation; ``position`` may give one position per batch element. ``radius`` r > 0 sets
    the (2r + 1) x (2r + 1) square of positions around it (clipped at the map's edge): a code
    spread over the cheese's neighbourhood is set where it lives."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise HookError(f"set_channels needs an integer radius >= 0, got {radius!r}")

    def patch(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise HookError(f"set_channels needs a [B, C, H, W] activation, got {tuple(x.shape)}")
        _check_channels(channels, x)
        pos = torch.as_tensor(position, dtype=torch.long, device=x.device).reshape(-1, 2)
        h, w = x.shape[2:]
        if (pos < 0).any() or (pos[:, 0] >= h).any() or (pos[:, 1] >= w).any():
            raise HookError(f"position {position} is outside the {h}x{w} activation map")
        if pos.shape[0] not in (1, x.shape[0]):
            raise HookError(f"got {pos.shape[0]} positions for a batch of {x.shape[0]}")
        pos = pos.expand(x.shape[0], 2)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        near = ((rows - pos[:, :1, None]).abs() <= radius) & (
            (cols - pos[:, 1:, None]).abs() <= radius
        )  # [B, H, W]
        out = x.clone()
        ch = list(channels)
        out[:, ch] = torch.where(near.unsqueeze(1), torch.full_like(out[:, ch], value), out[:, ch])
        return out

    return patch


def scale_channels(channels: Sequence[int], factor: float) -> PatchFn:
    """Multiplies ``channels`` by ``factor`` everywhere."""

    def patch(x: torch.Tensor) -> torch.Tensor:
        _check_channels(channels, x)
        out = x.clone()
        out[:, list(channels)] *= factor
        return out

    return patch


def _check_channels(channels: Sequence[int], x: torch.Tensor) -> None:
    n = x.shape[1]
    bad = [c for c in channels if not 0 <= c < n]
    if bad:
        raise HookError(f"channel(s) {bad} out of range: the activation has {n} channels")
