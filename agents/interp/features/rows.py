"""Feature interventions as rows of the retargeting table (`agents.interp.interventions`), and
the rows of a layer's ceiling.

- `features_set`: the top features set at the target's position (each feature's decoder
  direction written there, ``x += (value - f_j) d_j``), and, with the cheese present, the
  cheese's features erased: ``erase="zero"`` subtracts ``f_e d_e`` of each erased feature
  wherever it fires; ``erase="replace"`` swaps each erased feature's contribution for its value
  in the same observation with the cheese taken out (the reconstruction error kept).
- `difference_added`: **the layer's ceiling**'s rows: the cheese's activation difference
  (the layer with the cheese on the target minus the layer as played: present or removed),
  taken once with the mouse at the start and added at every step, ``scale`` times, over the
  whole layer or within one position of the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from agents.interp.activations import activations, patched_act_fn
from agents.interp.features.dictionary import Sae
from agents.interp.features.train import without_cheese_obs
from agents.interp.interventions import REMOVED, Arm, Intervention, Trial
from agents.policy.hooked import HookedMazeNet, PatchFn


def _near(pos: torch.Tensor, h: int, w: int, radius: int) -> torch.Tensor:
    """``[B, 1, h, w]`` mask of the positions within ``radius`` of each ``pos`` ``[B, 2]``."""
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    r, c = pos[:, 0].view(-1, 1, 1), pos[:, 1].view(-1, 1, 1)
    return (((rows - r).abs() <= radius) & ((cols - c).abs() <= radius)).unsqueeze(1)


def feature_patch(
    sae: Sae,
    features: Sequence[int],
    value: float,
    pos: np.ndarray,
    erase: Sequence[int] = (),
    reference: torch.Tensor | None = None,
    pattern: torch.Tensor | None = None,
) -> PatchFn:
    """``x [B, C, H, W] -> x'``: ``features`` set to ``value`` at ``pos`` ``[B, 2]`` (or, with
    ``pattern`` ``[k, 3, 3]``, ``value`` times each feature's pattern added over the 3 x 3
    around it); the ``erase`` features removed where they fire (replaced by their values in
    ``reference``, the same observations' layer without the cheese, when given)."""
    chosen, gone = list(features), list(erase)

    def patch(x: torch.Tensor) -> torch.Tensor:
        f = sae.encode_map(x)  # [B, F, H, W]
        dec = sae.w_dec.to(x.dtype)  # [F, C]
        out = x.clone()
        if gone:
            old = f[:, gone]
            new = torch.zeros_like(old)
            if reference is not None:
                new = sae.encode_map(reference)[:, gone]
            out = out + torch.einsum("bfhw,fc->bchw", (new - old).to(x.dtype), dec[gone])
        b = torch.arange(x.shape[0])
        p = torch.as_tensor(pos, dtype=torch.long).reshape(-1, 2)
        if chosen and pattern is not None:
            h, w = x.shape[2:]
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r, c = p[:, 0] + dr, p[:, 1] + dc
                    ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
                    write = (value * pattern[:, dr + 1, dc + 1]).to(x.dtype) @ dec[chosen]  # [C]
                    out[b[ok], :, r[ok], c[ok]] += write
        elif chosen:
            here = sae.encode_map(out)[b, :, p[:, 0], p[:, 1]][:, chosen]  # [B, k]
            out[b, :, p[:, 0], p[:, 1]] += ((value - here).to(x.dtype)) @ dec[chosen]
        return out

    return patch


@dataclass(frozen=True)
class ReplacingAct:
    """An ``act_fn`` that first takes the layer of the observations without the cheese, then
    plays with `feature_patch` replacing the erased features by their values there."""

    net: HookedMazeNet
    hook: str
    sae: Sae
    features: Sequence[int]
    value: float
    erase: Sequence[int]
    pos: np.ndarray  # [K, 2]
    pattern: torch.Tensor | None = None

    def __call__(self, obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        index = np.arange(len(obs)) if idx is None else idx
        x = torch.as_tensor(obs, device=self.net.device)
        with torch.no_grad(), self.net.hooks(cache=[self.hook]) as cache:
            self.net(without_cheese_obs(x))
        patch = feature_patch(
            self.sae,
            self.features,
            self.value,
            self.pos[index],
            self.erase,
            cache[self.hook],
            self.pattern,
        )
        with torch.no_grad(), self.net.hooks(patches={self.hook: patch}):
            logits, _ = self.net(x)
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def features_label(
    features: Sequence[int], erase: str = "", erased: int = 0, pattern: bool = False
) -> str:
    """``top 3 features`` / ``top 3 features, 16 cheese features zeroed`` / ``... replaced``
    (``top 3 features' pattern`` when their 3 x 3 pattern is written)."""
    label = f"top {len(features)} features" + ("' pattern" if pattern else "")
    return label + (f", {erased} cheese features {erase}" if erase and erased else "")


def features_set(
    sae: Sae,
    features: Sequence[int],
    value: float,
    erase: Sequence[int] = (),
    mode: str = "zeroed",
    removed: bool = False,
    label: str | None = None,
    pattern: torch.Tensor | None = None,
) -> Intervention:
    """The row: ``features`` set at the target to ``value`` (or their ``pattern`` around it,
    ``value`` times); ``erase`` features ``"zeroed"`` or ``"replaced"`` (by their cheese-removed
    values); with ``removed``, on the mazes without their cheese."""
    if mode not in ("zeroed", "replaced"):
        raise ValueError(f"mode must be zeroed or replaced, got {mode!r}")
    name = label or features_label(features, mode, len(erase), pattern is not None)

    def build(t: Trial) -> Arm:
        pos = t.positions
        states = t.removed if removed else t.states
        if erase and mode == "replaced":
            return states, ReplacingAct(t.net, t.hook, sae, features, value, erase, pos, pattern)

        def patches(idx: np.ndarray) -> dict[str, PatchFn]:
            return {t.hook: feature_patch(sae, features, value, pos[idx], erase, None, pattern)}

        return states, patched_act_fn(t.net, patches)

    return Intervention(name + (REMOVED if removed else ""), build)


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
            delta = delta * _near(pos, delta.shape[2], delta.shape[3], 1).to(delta.dtype)

        def patches(idx: np.ndarray) -> dict[str, PatchFn]:
            d = delta[torch.as_tensor(idx)]
            return {t.hook: lambda x: x + scale * d.to(x.dtype)}

        return states, patched_act_fn(t.net, patches)

    return Intervention(difference_label(where, scale) + (REMOVED if removed else ""), build)
