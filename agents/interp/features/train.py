"""Training an SAE on a policy's own activations, and its quality figures.

Activations come from the policy's rollouts on its training distribution (`collect`): every step
of every episode gives one ``[C, H, W]`` map, every position of it one sample (optionally a share
of them with the cheese taken out of the observation, ``removed_share``). `fit` trains with Adam
on the reconstruction's squared error (plus an L1 on the features when ``k = 0``), decoder rows
kept unit, from random directions or with its first features started on given ones (``init``,
e.g. the cheese move's signed principal directions, `moves_directions`; ``fixed``: kept there).
With ``moves`` (pairs of position vectors, the layer as played and with the cheese moved,
`move_pairs`) and ``move_weight``, a second loss asks the features' change to hold the move: the
decoded difference of the two codes against the move's own difference (`move_fve`); with
``move_within``, the difference of the first few features only.
`quality`: the fraction of variance explained and mean L0 on held-out rollouts, dead features,
and held-out P(cheese) with the reconstruction spliced in for the layer, as a share of the
unpatched policy's (same mazes, same sampled actions' generator).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.interp.activations import Setting, brief, patched_act_fn, play
from agents.interp.features.dictionary import Sae, to_vectors
from agents.interp.subspace import principal_directions
from agents.policy.hooked import HookedMazeNet
from mazegen import MazeConfig, generate_levels
from mazegen.render import GRID_CHEESE_CHANNEL

#: At most this many position vectors are kept for training (memory bound).
MAX_VECTORS = 400_000


def without_cheese_obs(obs: torch.Tensor) -> torch.Tensor:
    """Grid observations ``[B, 3, W, W]`` with the cheese's channel emptied."""
    out = obs.clone()
    out[:, GRID_CHEESE_CHANNEL] = 0
    return out


def cheese_on(obs: torch.Tensor, squares: torch.Tensor) -> torch.Tensor:
    """Grid observations ``[B, 3, W, W]`` with the cheese shown on ``squares`` ``[B, 2]`` only."""
    out = without_cheese_obs(obs)
    out[torch.arange(len(obs)), GRID_CHEESE_CHANNEL, squares[:, 0], squares[:, 1]] = 1
    return out


def collect(
    net: HookedMazeNet,
    hook: str,
    config: MazeConfig,
    levels: range,
    removed_share: float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """``[N, C]`` position vectors at ``hook`` from the policy's episodes on ``levels``; with
    ``removed_share``, that share of the steps is taken with the cheese out of the view."""
    maps: list[torch.Tensor] = []

    def act(obs: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        x = torch.as_tensor(obs, device=net.device)
        with torch.no_grad(), net.hooks(cache=[hook]) as cache:
            logits, _ = net(x)
        maps.append(cache[hook].float().cpu())
        if removed_share > 0:
            pick = torch.as_tensor(rng.random(len(obs)) < removed_share)
            if bool(pick.any()):
                with torch.no_grad(), net.hooks(cache=[hook]) as other:
                    net(without_cheese_obs(x[pick]))
                maps[-1][pick] = other[hook].float().cpu()
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()

    states = generate_levels(levels, config)
    play(act, states, Setting(config, config.eval_region, rng))
    vectors = to_vectors(torch.cat(maps))
    if len(vectors) > MAX_VECTORS:
        vectors = vectors[torch.as_tensor(rng.choice(len(vectors), MAX_VECTORS, replace=False))]
    return vectors


def move_pairs(
    played: torch.Tensor, moved: torch.Tensor, share: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """``([M, C], [M, C])``: the position vectors of a layer as played and with the cheese
    moved (``[K, C, H, W]`` each) at the positions holding ``share`` of the move's squared
    length, the largest changes first (the rest barely move)."""
    p, m = to_vectors(played), to_vectors(moved)
    sq = (m - p).pow(2).sum(1)
    order = torch.argsort(sq, descending=True)
    keep = min(int(torch.searchsorted(torch.cumsum(sq[order], 0), share * sq.sum())) + 1, len(sq))
    return p[order[:keep]], m[order[:keep]]


def move_error(
    sae: Sae, played: torch.Tensor, moved: torch.Tensor, within: int = 0
) -> torch.Tensor:
    """``[M]``: per pair (``[M, C]`` each), the squared error of the features' change decoded,
    ``W_dec (f(moved) - f(played))``, against the move ``moved - played``; with ``within`` > 0,
    the change of the first ``within`` features only."""
    n = within if within > 0 else sae.width
    change = (sae.encode(moved) - sae.encode(played))[:, :n] @ sae.w_dec[:n]
    return (change - (moved - played)).pow(2).sum(1)


def move_energy(change: torch.Tensor, w_dec: torch.Tensor) -> torch.Tensor:
    """``[B, F]``: how much of each target's move (a features' change ``[B, F, H, W]``) each
    feature carries: its squared change summed over the map, times its decoder direction's
    squared norm (``w_dec`` ``[F, C]``)."""
    return change.pow(2).sum(dim=(2, 3)) * w_dec.pow(2).sum(1)


def top_per_target(change: torch.Tensor, w_dec: torch.Tensor, n: int) -> torch.Tensor:
    """``[B, F]``: 1 for each target's ``n`` features (of a change ``[B, F, H, W]``) with the
    most `move_energy`, else 0."""
    with torch.no_grad():
        energy = move_energy(change, w_dec)
        top = torch.topk(energy, min(n, energy.shape[1]), dim=1).indices
        return torch.zeros_like(energy).scatter_(1, top, 1.0)


def target_move_error(
    sae: Sae, played: torch.Tensor, moved: torch.Tensor, per_target: int
) -> torch.Tensor:
    """``[B]``: per target (maps ``[B, C, H, W]`` as played and with the cheese moved), the
    squared error of the change of its own top ``per_target`` features decoded (`top_per_target`:
    their squared change summed over the map, times their decoder direction's squared norm;
    picked, not differentiated) against the move, summed over the map."""
    change = sae.encode_map(moved) - sae.encode_map(played)  # [B, F, H, W]
    mask = top_per_target(change.detach(), sae.w_dec.detach(), per_target)  # [B, F]
    decoded = torch.einsum("bfhw,fc->bchw", change * mask[:, :, None, None], sae.w_dec)
    return (decoded - (moved - played)).pow(2).sum(dim=(1, 2, 3))


@torch.no_grad()
def move_fve(
    sae: Sae, played: torch.Tensor, moved: torch.Tensor, within: int = 0, per_target: int = 0
) -> float:
    """The share of the move's squared length that the features' change holds: 1 -
    `move_error` / |move|^2 on pairs ``[M, C]`` (of the first ``within`` features, if > 0), or
    with ``per_target`` > 0 `target_move_error` on maps ``[K, C, H, W]`` (``within`` unused)."""
    if per_target > 0:
        error = sum(
            float(target_move_error(sae, p, m, per_target).sum())
            for p, m in zip(played.split(256), moved.split(256), strict=True)
        )
    else:
        error = float(move_error(sae, played, moved, within).sum())
    return float(1 - error / float((moved - played).pow(2).sum()))


def fit(
    data: torch.Tensor,
    width: int,
    k: int,
    steps: int,
    batch: int,
    lr: float,
    l1: float,
    seed: int,
    init: torch.Tensor | None = None,
    fixed: bool = False,
    moves: tuple[torch.Tensor, torch.Tensor] | None = None,
    move_weight: float = 0.0,
    move_within: int = 0,
    move_per_target: int = 0,
    signed: bool = False,
) -> tuple[Sae, list[float]]:
    """An SAE trained on ``data`` ``[N, C]``, and its loss every 100 steps. ``init`` (``[M, C]``
    directions) starts the first ``min(width, M)`` decoder rows on them (made unit; the encoder
    their transpose as for the random rows, which start the rest as without ``init``); with
    ``fixed`` those rows stay as started (restored after every step; the encoder, the biases
    and the other rows train). With ``moves`` (`move_pairs`) and ``move_weight`` > 0, each step
    adds ``move_weight`` x the mean `move_error` of a batch of pairs, as a share of their mean
    squared move; with ``move_within`` > 0, of the change of the first ``move_within`` features
    only, so that those few hold the move. With ``move_per_target`` > 0, ``moves`` are the
    layer's maps as played and moved (``[K, C, H, W]`` each) and the second loss is
    `target_move_error`: each target's move held by its own top ``move_per_target`` features
    (a batch of ``batch // 16`` targets a step). ``signed``: a signed SAE (`Sae`), its features
    going both ways (the L1 penalty on their sizes)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sae = Sae(data.shape[1], width, k, signed)
    n = 0 if init is None else min(width, len(init))
    with torch.no_grad():
        sae.b_dec.copy_(data.mean(0))
        if init is not None:
            sae.w_dec[:n] = init[:n]
            sae.normalize()
            sae.w_enc.copy_(sae.w_dec.T)
    held = sae.w_dec.detach()[:n].clone() if fixed else None
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    scale = float(data.var(0).sum())  # the loss as a share of the variance
    pairs = moves if moves is not None and move_weight > 0 else None
    sums = (1,) if pairs is None or not move_per_target else (1, 2, 3)  # a pair's or a map's
    move_scale = 1.0 if pairs is None else float((pairs[1] - pairs[0]).pow(2).sum(sums).mean())
    losses = []
    for step in range(steps):
        x = data[torch.randint(len(data), (batch,), generator=gen)]
        f = sae.encode(x)
        loss = (sae.decode(f) - x).pow(2).sum(1).mean() / scale
        if k <= 0:
            loss = loss + l1 * f.abs().sum(1).mean()
        if pairs is not None and move_per_target:
            j = torch.randint(len(pairs[0]), (max(batch // 16, 1),), generator=gen)
            error = target_move_error(sae, pairs[0][j], pairs[1][j], move_per_target).mean()
            loss = loss + move_weight * error / move_scale
        elif pairs is not None:
            j = torch.randint(len(pairs[0]), (batch,), generator=gen)
            error = move_error(sae, pairs[0][j], pairs[1][j], move_within).mean()
            loss = loss + move_weight * error / move_scale
        opt.zero_grad()
        loss.backward()
        opt.step()
        sae.normalize()
        if held is not None:
            with torch.no_grad():
                sae.w_dec[:n] = held
        if step % 100 == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
    return sae.eval(), losses


@torch.no_grad()
def reconstruction(sae: Sae, data: torch.Tensor) -> dict[str, Any]:
    """Fraction of variance explained, mean L0 and dead features on ``data`` ``[N, C]``."""
    f = sae.encode(data)
    err = (sae.decode(f) - data).pow(2).sum()
    var = (data - data.mean(0)).pow(2).sum()
    fires = (f != 0).sum(0)
    return {
        "fve": float(1 - err / var),
        "mean_l0": float((f != 0).sum(1).float().mean()),
        "dead": int((fires == 0).sum()),
        "width": sae.width,
        "vectors": len(data),
    }


def spliced(sae: Sae) -> Any:
    """The patch replacing a layer ``[B, C, H, W]`` by its reconstruction."""
    return lambda x: sae.decode_map(sae.encode_map(x)).to(x.dtype)


def p_cheese_share(
    net: HookedMazeNet, hook: str, sae: Sae, config: MazeConfig, levels: range, seed: int
) -> dict[str, Any]:
    """Held-out P(cheese) unpatched and with the reconstruction spliced in, and their ratio."""
    states = generate_levels(levels, config)
    out = {}
    for label, patches in (("original", {}), ("spliced", {hook: spliced(sae)})):
        act = patched_act_fn(net, lambda idx, p=patches: p)  # type: ignore[misc]
        setting = Setting(config, config.eval_region, np.random.default_rng(seed))
        out[label] = brief(play(act, states, setting))["p_cheese"]["p"]
    out["share"] = out["spliced"] / out["original"] if out["original"] else None
    return out


def moves_directions(
    move: torch.Tensor, paired: bool = False, signed: bool = False
) -> torch.Tensor:
    """``[2C, C]``: the principal directions of ``move`` (``[B, C, H, W]``) by decreasing share,
    then their opposites (row ``j + C`` is ``-`` row ``j``); ``paired``: each followed by its
    opposite (rows ``2j`` and ``2j + 1``), so that the first ``2n`` rows are the top ``n``
    directions both ways; ``signed``: ``[C, C]``, the directions alone (a signed feature goes
    both ways along one)."""
    directions, _ = principal_directions(move)  # [C, C], one a column
    if signed:
        return directions.T.float()
    if paired:
        return torch.stack([directions.T, -directions.T], dim=1).flatten(0, 1).float()
    return torch.cat([directions.T, -directions.T]).float()


def moves_dictionary(move: torch.Tensor, signed: bool = False) -> Sae:
    """A dictionary of the cheese's move, not learned and not sparse: the principal directions
    of ``move`` (``[B, C, H, W]``, the layer with the cheese moved minus as played,
    `agents.interp.subspace.principal_directions`), each with its sign and its opposite as two
    features (2C features, every one kept), so that a feature's value is the move's positive
    length along its direction and the reconstruction is exact. Features ``j`` and ``j + C``
    are the ``j``-th direction and its opposite, by decreasing share of the move.

    It is the baseline a learned dictionary should beat at holding the move in few features:
    its first 11 features (or their opposites) carry the share of the move that the top 11
    principal directions carry. ``signed``: C features, one a direction, each going both ways
    (a signed `Sae`, every feature kept): the ``j``-th feature is the move's length along the
    ``j``-th direction, so that ``n`` of them carry what ``2n`` of the unsigned ones do."""
    rows = moves_directions(move, signed=signed)  # [2C, C], or [C, C] signed
    sae = Sae(rows.shape[1], rows.shape[0], 0, signed)
    with torch.no_grad():
        sae.w_dec.copy_(rows)
        sae.w_enc.copy_(rows.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae
