"""Feature interventions as rows of the retargeting table (`agents.interp.interventions`).

- `features_set`: the top features set at the target's position (each feature's decoder
  direction written there, ``x += (value - f_j) d_j``), and, with the cheese present, the
  cheese's features erased: ``erase="zero"`` subtracts ``f_e d_e`` of each erased feature
  wherever it fires; ``erase="replace"`` swaps each erased feature's contribution for its value
  in the same observation with the cheese taken out (the reconstruction error kept).

The layer's ceiling and the maze's bound are in `agents.interp.features.ceiling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from agents.interp.activations import activations, map_position, patched_act_fn
from agents.interp.features.dictionary import Sae
from agents.interp.features.train import move_energy, without_cheese_obs
from agents.interp.features.wall_map import MazeMap
from agents.interp.interventions import REMOVED, Arm, Intervention, Trial
from agents.policy.hooked import HookedMazeNet, PatchFn
from mazegen.state import BatchState


def near_mask(pos: torch.Tensor, h: int, w: int, radius: int) -> torch.Tensor:
    """``[B, 1, h, w]`` mask of the positions within ``radius`` of each ``pos`` ``[B, 2]``."""
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    r, c = pos[:, 0].view(-1, 1, 1), pos[:, 1].view(-1, 1, 1)
    return (((rows - r).abs() <= radius) & ((cols - c).abs() <= radius)).unsqueeze(1)


def replaced_near(
    x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor, sae: Sae | None = None
) -> torch.Tensor:
    """``x`` ``[B, C, H, W]`` with, where ``mask`` ``[B, 1, H, W]`` holds, the whole vector
    (``sae`` None) or every feature of ``sae`` (its error term kept) replaced by its value in
    ``reference`` (the same observations' layer without the cheese)."""
    ref, keep = reference.to(x.dtype), mask.to(x.dtype)
    if sae is None:
        return x + keep * (ref - x)
    change = sae.encode_map(ref) - sae.encode_map(x)  # [B, F, H, W]
    return x + keep * torch.einsum("bfhw,fc->bchw", change.to(x.dtype), sae.w_dec.to(x.dtype))


def feature_patch(
    sae: Sae,
    features: Sequence[int],
    value: float,
    pos: np.ndarray,
    erase: Sequence[int] = (),
    reference: torch.Tensor | None = None,
    pattern: torch.Tensor | None = None,
    near: Near | None = None,
    write: torch.Tensor | None = None,
) -> PatchFn:
    """``x [B, C, H, W] -> x'``: ``features`` set to ``value`` at ``pos`` ``[B, 2]`` (or, with
    ``pattern`` ``[k, 2r+1, 2r+1]``, ``value`` times each feature's pattern added over the
    positions within r of it); the ``erase`` features removed where they fire (replaced by
    their values in ``reference``, the same observations' layer without the cheese, when
    given); with ``near`` (and ``reference``), instead, every feature (``near.layer``: the
    whole vector, the SAE's error included) within ``near.radius`` of the cheese replaced by
    its value in ``reference``. ``write`` ``[B, C, H, W]`` (a map of the maze's, `MazeMap.write`) is
    added as it is."""
    chosen, gone = list(features), list(erase)

    def patch(x: torch.Tensor) -> torch.Tensor:
        dec = sae.w_dec.to(x.dtype)  # [F, C]
        out = x.clone()
        if near is not None and reference is not None:
            h, w = x.shape[2:]
            mask = near_mask(torch.as_tensor(near.cheese), h, w, near.radius)
            out = replaced_near(x, reference, mask, None if near.layer else sae)
        elif gone:
            old = sae.encode_map(x)[:, gone]
            new = torch.zeros_like(old)
            if reference is not None:
                new = sae.encode_map(reference)[:, gone]
            out = out + torch.einsum("bfhw,fc->bchw", (new - old).to(x.dtype), dec[gone])
        if write is not None:
            out = out + write.to(x.dtype)
        b = torch.arange(x.shape[0])
        p = torch.as_tensor(pos, dtype=torch.long).reshape(-1, 2)
        if chosen and pattern is not None:
            rad = pattern.shape[-1] // 2
            # the write [C, 2r+1, 2r+1] placed at each target (cropped at the map's edges)
            stamp = torch.einsum("kij,kc->cij", value * pattern.to(x.dtype), dec[chosen])
            at = torch.zeros(x.shape[0], 1, *x.shape[2:], dtype=x.dtype)
            at[b, 0, p[:, 0], p[:, 1]] = 1.0
            out = out + torch.nn.functional.conv_transpose2d(at, stamp[None], padding=rad)
        elif chosen:
            here = sae.encode_map(out)[b, :, p[:, 0], p[:, 1]][:, chosen]  # [B, k]
            out[b, :, p[:, 0], p[:, 1]] += ((value - here).to(x.dtype)) @ dec[chosen]
        return out

    return patch


@dataclass(frozen=True)
class Near:
    """An erasure by radius: within ``radius`` of each episode's ``cheese`` ``[B, 2]`` (its
    position in the layer), every feature (``layer``: the whole vector, the SAE's error term
    too) replaced by its value without the cheese; a radius past the map's size takes it all."""

    radius: int
    cheese: np.ndarray
    layer: bool = False

    def take(self, idx: np.ndarray) -> Near:
        return Near(self.radius, self.cheese[idx], self.layer)


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
    near: Near | None = None
    write: torch.Tensor | None = None  # [K, C, H, W]

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
            None if self.near is None else self.near.take(index),
            None if self.write is None else self.write[torch.as_tensor(index)],
        )
        with torch.no_grad(), self.net.hooks(patches={self.hook: patch}):
            logits, _ = self.net(x)
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def features_label(
    features: Sequence[int],
    erase: str = "",
    erased: int = 0,
    pattern: bool = False,
    radius: int = 1,
    near: int | None = None,
    mazemap: str | None = None,
) -> str:
    """``top 3 features`` / ``top 3 features, 16 cheese features zeroed`` / ``... replaced``
    (``top 3 features' pattern`` when their 3 x 3 pattern is written, ``top 3 features' map
    r2`` for their 5 x 5 map); with an erasure by radius, ``..., features within 2 of the
    cheese replaced`` (``the layer within 2 of the cheese replaced, top 3 ...``: the SAE's error
    term too, so not features alone; named first so that the study's feature rows leave it);
    ``top 3 move features' wall map r5`` for a map of the maze named ``mazemap`` (a wall map of
    radius 5; ``conv map`` for a conv map)."""
    label = f"top {len(features)} features" + ("' pattern" if pattern else "")
    if pattern and radius != 1:
        label = f"top {len(features)} features' map r{radius}"
    if mazemap is not None:
        label = f"top {len(features)} move features' {mazemap}"
    if near is not None and erase == "layer":  # not a feature row alone: named apart
        return f"the layer within {near} of the cheese replaced, {label}"
    if near is not None:
        return label + f", features within {near} of the cheese replaced"
    if erase == "predicted":
        return label + ", minus its map at the cheese"
    return label + (f", {erased} cheese features {erase}" if erase and erased else "")


#: Erasure modes: the erased features zeroed or replaced by their cheese-removed values; by
#: radius, every feature ("near") or the whole vector ("layer") near the cheese replaced; for a
#: wall map, its own prediction at the cheese subtracted ("predicted": a fixed write, read from
#: the walls alone).
ERASE_MODES = ("zeroed", "replaced", "near", "layer", "predicted")


def features_set(
    sae: Sae,
    features: Sequence[int],
    value: float,
    erase: Sequence[int] = (),
    mode: str = "zeroed",
    removed: bool = False,
    label: str | None = None,
    pattern: torch.Tensor | None = None,
    radius: int | None = None,
    mazemap: MazeMap | None = None,
) -> Intervention:
    """The row: ``features`` set at the target to ``value`` (or their ``pattern`` around it,
    ``value`` times; or, with a ``mazemap`` (a wall map or a conv map), its features' change
    predicted from the maze around each target, ``value`` times, and with ``mode``
    ``"predicted"`` its prediction at the cheese subtracted); ``erase`` features ``"zeroed"``
    or ``"replaced"`` (by their cheese-removed values); or, with ``mode`` ``"near"`` /
    ``"layer"``, every feature / the whole vector within ``radius`` of the cheese replaced by its
    cheese-removed value; with ``removed``, on the mazes without their cheese."""
    if mode not in ERASE_MODES:
        raise ValueError(f"mode must be one of {list(ERASE_MODES)}, got {mode!r}")
    by_radius = mode in ("near", "layer")
    if by_radius and radius is None:
        raise ValueError(f"an erasure {mode!r} needs a radius")
    pattern_radius = 1 if pattern is None else pattern.shape[-1] // 2
    name = label or features_label(
        features,
        mode,
        len(erase),
        pattern is not None,
        pattern_radius,
        radius if by_radius else None,
        None if mazemap is None else mazemap.name,
    )
    if mode == "predicted" and mazemap is None:
        raise ValueError("the erasure 'predicted' needs a map of the maze")
    if mode == "predicted":
        erase = ()  # the map erases in its own features
    if mazemap is not None and list(mazemap.features) != list(features):
        raise ValueError(f"the map is of features {mazemap.features}, not {list(features)}")
    chosen = () if mazemap is not None else features  # a map writes them its own way

    def build(t: Trial) -> Arm:
        pos = t.positions
        states = t.removed if removed else t.states
        shape = t.net.shapes[t.hook]
        write = None
        if mazemap is not None:
            minus = t.states.cheese if mode == "predicted" and not removed else None
            write = value * mazemap.write(sae, t.states, t.targets.squares, shape, minus)
        if by_radius and not removed:
            assert radius is not None
            cheese = map_position(t.states.cheese, t.setting.config.world_size, shape)
            near = Near(radius, cheese, mode == "layer")
            act = ReplacingAct(t.net, t.hook, sae, chosen, value, (), pos, pattern, near, write)
            return states, act
        if erase and mode == "replaced":
            return states, ReplacingAct(
                t.net, t.hook, sae, chosen, value, erase, pos, pattern, None, write
            )

        def patches(idx: np.ndarray) -> dict[str, PatchFn]:
            here = None if write is None else write[torch.as_tensor(idx)]
            patch = feature_patch(sae, chosen, value, pos[idx], erase, None, pattern, None, here)
            return {t.hook: patch}

        return states, patched_act_fn(t.net, patches)

    return Intervention(name + (REMOVED if removed else ""), build)


def features_splice(
    sae: Sae, features: Sequence[int], scale: float, removed: bool = False, name: str = ""
) -> Intervention:
    """A diagnostic row, the principal directions' splice in features: the cheese's move
    (cheese on the target minus the maze as played, the mouse at the start) taken once in
    ``features`` alone (``sum_j (f_j(moved) - f_j(played)) d_j`` at every position) and added
    at every step ``scale`` times. It is what the best fixed write in these features could do
    (it reads the real cheese's effect in each maze), so it says whether the features or their
    averaged map fall short."""
    chosen = list(features)
    label = f"{name}features top {len(chosen)} splice x{scale:g}, computed once"

    def build(t: Trial) -> Arm:
        states = t.removed if removed else t.states
        with torch.no_grad():
            change = feature_move(sae, t, states)
            delta = torch.einsum("kfhw,fc->kchw", change[:, chosen], sae.w_dec[chosen])

        def patches(idx: np.ndarray) -> dict[str, PatchFn]:
            d = delta[torch.as_tensor(idx)]
            return {t.hook: lambda x: x + scale * d.to(x.dtype)}

        return states, patched_act_fn(t.net, patches)

    return Intervention(label + (REMOVED if removed else ""), build)


def feature_move(sae: Sae, t: Trial, states: BatchState) -> torch.Tensor:
    """``[K, F, h, w]`` the features' change when the cheese moves to each target: the layer
    of the moved mazes minus that of ``states`` (the mazes as played), the mouse at the start."""
    config = t.setting.config
    moved = sae.encode_map(activations(t.net, t.hook, t.moved, config).float())
    return moved - sae.encode_map(activations(t.net, t.hook, states, config).float())


def move_features(sae: Sae, t: Trial) -> list[int]:
    """The features by their share of the cheese's move on ``t`` (the squared change of
    moving the cheese to the target, summed over positions and targets), most first."""
    with torch.no_grad():
        change = feature_move(sae, t, t.states)
    energy = move_energy(change, sae.w_dec.detach()).sum(0)  # over the targets
    return [int(j) for j in torch.argsort(energy, descending=True)]
