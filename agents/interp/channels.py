"""Cheese channels: which channels of a layer track the cheese, and how much behaviour depends
on them (resampling them from other mazes, as in the 2023 analysis)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.interp.activations import activations, map_position, without_cheese
from agents.interp.context import Context, Report
from agents.policy.hooked import HookedMazeNet, HookError, PatchFn
from agents.settings.base import ConfigError
from mazegen import MazeConfig, generate_levels
from mazegen.state import BatchState


@dataclass
class FoundChannels:
    """Channels of a ``[C, h, w]`` layer ranked by how well they track the cheese.

    Attributes:
        hook: The layer.
        channels_in_layer: C.
        mazes: N, the mazes measured.
        top: The best channels, best first: ``channel``, ``tracking_accuracy``, ``score``,
            ``mean_diff_at_cheese``, ``mean_activation_at_cheese``.
        diff: ``[N, C, h, w]`` activation with the cheese minus without it.
        with_cheese: ``[N, C, h, w]`` activation with the cheese.
    """

    hook: str
    channels_in_layer: int
    mazes: int
    top: list[dict[str, Any]]
    diff: np.ndarray
    with_cheese: np.ndarray

    def summary(self) -> dict[str, Any]:
        """The JSON-able part."""
        return {
            "hook": self.hook,
            "channels_in_layer": self.channels_in_layer,
            "mazes": self.mazes,
            "top": self.top,
        }

    def largest(self, channels: list[int]) -> float:
        """The largest activation of ``channels`` seen in any maze."""
        return float(np.max(self.with_cheese[:, channels]))


def find_cheese_channels(
    net: HookedMazeNet, hook: str, states: BatchState, config: MazeConfig, top: int = 8
) -> FoundChannels:
    """Ranks the channels of a ``[C, h, w]`` layer by how well they track the cheese.

    For each maze, ``diff = act(with cheese) - act(without)``. A channel's *tracking accuracy*
    is the share of mazes where its |diff| peaks at the cheese's position; its *score* is the
    mean diff at the cheese's position minus elsewhere, over the std across mazes.
    """
    with_c = activations(net, hook, states, config)
    if with_c.ndim != 4:
        raise HookError(
            f"channel discovery needs a [C, h, w] layer; {hook} gives {tuple(with_c.shape[1:])}"
        )
    diff = (with_c - activations(net, hook, without_cheese(states), config)).cpu().numpy()
    n, c, h, w = diff.shape
    pos = map_position(states.cheese, config.world_size, diff.shape)
    at = diff[np.arange(n), :, pos[:, 0], pos[:, 1]]  # [N, C]
    elsewhere = (diff.sum(axis=(2, 3)) - at) / (h * w - 1)
    local = at - elsewhere
    score = local.mean(axis=0) / (local.std(axis=0) + 1e-6)
    peak = np.abs(diff).reshape(n, c, -1).argmax(axis=2)
    tracking = (peak == (pos[:, 0] * w + pos[:, 1])[:, None]).mean(axis=0)
    order = np.lexsort((-score, -tracking))
    ranked = [
        {
            "channel": int(k),
            "tracking_accuracy": float(tracking[k]),
            "score": float(score[k]),
            "mean_diff_at_cheese": float(at[:, k].mean()),
            "mean_activation_at_cheese": float(
                with_c.cpu().numpy()[np.arange(n), k, pos[:, 0], pos[:, 1]].mean()
            ),
        }
        for k in order[:top]
    ]
    return FoundChannels(hook, c, n, ranked, diff, with_c.cpu().numpy())


def resample_effect(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    donors: BatchState,
    config: MazeConfig,
    channels: list[int],
    squares_per_maze: int,
    rng: np.random.Generator,
    resampler: Callable[[torch.Tensor], PatchFn] | None = None,
) -> np.ndarray:
    """``[K]`` mean absolute change of the action probabilities when ``channels`` at ``hook``
    are replaced by their activations in the donor maze (``donors[i]`` for ``states[i]``), or
    when the patch ``resampler(donor activations)`` is applied instead (e.g. SAE features).

    The mouse is placed on up to ``squares_per_maze`` open squares of each maze (the same square
    in the donor when it is open there, else the donor's start)."""
    from agents.interp.patches import resample
    from mazegen.queries import open_squares
    from mazegen.render import observe

    rows, mouse, donor_mouse = [], [], []
    for i, st in enumerate(states):
        squares = [sq for sq in open_squares(st.walls) if sq != st.cheese]
        pick = rng.choice(len(squares), size=min(squares_per_maze, len(squares)), replace=False)
        for k in pick:
            sq = squares[int(k)]
            d = donors[i]
            rows.append(i)
            mouse.append(sq)
            donor_mouse.append(sq if not d.walls[sq] and sq != d.cheese else d.start)
    idx = np.array(rows)
    obs = observe(states.take(idx).placed(mouse=np.array(mouse)), config)
    dobs = observe(donors.take(idx).placed(mouse=np.array(donor_mouse)), config)
    device = net.device
    out = []
    for s in range(0, len(obs), 512):
        x = torch.as_tensor(obs[s : s + 512], device=device)
        with torch.no_grad(), net.hooks(cache=[hook]) as cache:
            net(torch.as_tensor(dobs[s : s + 512], device=device))
        with torch.no_grad():
            p0 = torch.softmax(net(x)[0].float(), -1)
            patch = (resampler or (lambda d: resample(d, channels)))(cache[hook])
            with net.hooks(patches={hook: patch}):
                p1 = torch.softmax(net(x)[0].float(), -1)
        out.append((p1 - p0).abs().mean(dim=1).cpu().numpy())
    return np.concatenate(out)


def donors_for(
    states: BatchState, pool: BatchState, same_place: bool
) -> tuple[BatchState, np.ndarray]:
    """One donor per maze from ``pool``: a maze of the same size, with the cheese moved onto
    the same square (``same_place``) or left where it is, if that is elsewhere. Returns the
    donors and which mazes got one."""
    donors, keep = [], []
    for i, st in enumerate(states):
        for j in range(pool.num):
            d = pool[(i + 1 + j) % pool.num]
            if d.inner_size != st.inner_size or d.level == st.level or d.cheese is None:
                continue
            if same_place:
                if d.walls[st.cheese] or st.cheese == d.start:
                    continue
                d = d.with_cheese(st.cheese)
            elif d.cheese == st.cheese:
                continue
            donors.append(d)
            keep.append(i)
            break
    if not donors:
        where = "movable onto the same square" if same_place else "elsewhere"
        raise ConfigError(
            f"no donor maze (same size, cheese {where}) for any of the {states.num} mazes in a "
            f"pool of {pool.num}: analyse more mazes (mazes=)"
        )
    return BatchState.stack(donors), np.array(keep, dtype=np.int64)


def run_find_channels(ctx: Context) -> Report:
    """Ranks the layer's channels by how well they track the cheese; maps of the top four."""
    from agents.interp.plots import plot_channel_maps

    states = ctx.mazes()
    found = find_cheese_channels(ctx.net, ctx.hook, states, ctx.test_env)
    lines = [
        f"- channel {r['channel']}: tracking accuracy {r['tracking_accuracy']:.3f}, "
        f"score {r['score']:.2f}"
        for r in found.top
    ]
    i = ctx.cfg.maze_index
    maps = {f"ch {r['channel']} diff": found.diff[i, r["channel"]] for r in found.top[:4]}
    plot_channel_maps(
        states[i],
        maps,
        ctx.out / "channel_maps.png",
        f"{ctx.hook}: activation with the cheese minus without it, top 4 cheese-tracking "
        f"channels, test maze {i} (red: higher with the cheese)",
    )
    return Report({"channels": found.summary()}, lines, ["channel_maps.png"])


def run_resample_channels(ctx: Context) -> Report:
    """The 2023 resampling test: replace the cheese channels' activations with those of another
    maze whose cheese is on the same square, or elsewhere, and measure how much the action
    probabilities change; random channel sets of the same size are the control."""
    states = ctx.mazes()
    found = find_cheese_channels(ctx.net, ctx.hook, states, ctx.test_env)
    channels = ctx.channels(found)
    pool_start = ctx.levels.stop + ctx.levels.stop - ctx.levels.start
    pool = generate_levels(range(pool_start, pool_start + 4 * states.num), ctx.test_env)
    per = 20
    results: dict[str, Any] = {"channels": channels}
    for label, same in (("cheese_same_place", True), ("cheese_elsewhere", False)):
        donors, keep = donors_for(states, pool, same)
        eff = resample_effect(
            ctx.net, ctx.hook, states.take(keep), donors, ctx.test_env, channels, per, ctx.rng
        )
        results[label] = {"mazes": int(keep.size), "mean_abs_change": float(eff.mean())}
    donors, keep = donors_for(states, pool, False)
    n_channels = found.channels_in_layer
    randoms = []
    for _ in range(3):
        chosen = sorted(ctx.rng.choice(n_channels, size=len(channels), replace=False).tolist())
        eff = resample_effect(
            ctx.net, ctx.hook, states.take(keep), donors, ctx.test_env, chosen, per, ctx.rng
        )
        randoms.append({"channels": chosen, "mean_abs_change": float(eff.mean())})
    results["random_channels_elsewhere"] = randoms
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    lines = [
        f"- channels {channels} of `{ctx.hook}`, mouse on {per} squares per maze; mean absolute "
        "change of the action probabilities when resampled from another maze with the cheese:",
        f"  - on the same square: {pct(results['cheese_same_place']['mean_abs_change'])} "
        f"({results['cheese_same_place']['mazes']} mazes)",
        f"  - elsewhere: {pct(results['cheese_elsewhere']['mean_abs_change'])} "
        f"({results['cheese_elsewhere']['mazes']} mazes)",
        "  - random channel sets of the same size, cheese elsewhere: "
        + ", ".join(pct(r["mean_abs_change"]) for r in randoms),
    ]
    return Report(results, lines)
