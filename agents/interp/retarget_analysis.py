"""``python -m experiments.patch retarget``: send the mouse to every open square of training
mazes with each intervention of `agents.interp.interventions` (the channels at a fixed or a
searched value) and report success, path probability and heatmaps."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.activations import Setting
from agents.interp.channels import find_cheese_channels
from agents.interp.context import Context, Report
from agents.interp.interventions import (
    add_goal_fields,
    channel_sets,
    retarget_interventions,
    searched_values,
)
from agents.interp.retarget import retarget, targets_of


def run_retarget(ctx: Context) -> Report:
    """Send the mouse to every open square of training-distribution mazes with each
    intervention; success, path probability, heatmaps; learned goal fields unless disabled."""
    from agents.interp.plots import plot_heatmaps
    from mazegen.actions import ACTION_DIRECTIONS

    cfg = ctx.cfg
    found = find_cheese_channels(ctx.net, ctx.hook, ctx.mazes(), ctx.test_env, top=16)
    sets = channel_sets(ctx, found)
    searched: dict[str, Any] = {}
    if cfg.multiples:  # each set at its best multiple instead of one value for all
        sets, searched = searched_values(ctx, found, sets)
    base = ctx.mazes(test=False)  # training-distribution mazes: cheese near the corner
    targets = targets_of(base, cfg.targets_per_maze, ctx.rng)
    interventions = retarget_interventions(
        ctx.net,
        ctx.hook,
        sets,
        base,
        targets.maze,
        targets.squares,
        ctx.env,
        amplify=cfg.amplify,
        radius=cfg.radius,
    )
    fits: dict[str, Any] = {}
    figures = ["retarget_heatmaps.png"]
    if cfg.goal_field:
        fits = add_goal_fields(ctx, interventions, targets.squares)
        figures.append("goal_field.png")
    outcomes = retarget(
        interventions,
        targets,
        Setting(ctx.env, ctx.region, ctx.rng),
        ACTION_DIRECTIONS[ctx.env.action_mode],
        budget_factor=cfg.budget_factor,
        any_time=cfg.any_time,
    )
    w = ctx.env.world_size
    maps, summaries = {}, {}
    for label, o in outcomes.items():
        total = np.zeros((w, w))
        count = np.zeros((w, w))
        np.add.at(total, (targets.squares[:, 0], targets.squares[:, 1]), o.reached)
        np.add.at(count, (targets.squares[:, 0], targets.squares[:, 1]), 1)
        with np.errstate(invalid="ignore"):
            maps[label] = total / count
        summaries[label] = {
            **o.summary,
            "heatmap": np.where(count > 0, total / np.maximum(count, 1), np.nan).tolist(),
        }
    plot_heatmaps(
        maps,
        ctx.out / "retarget_heatmaps.png",
        f"P(reach the target within {ctx.cfg.budget_factor:g}x its shortest path), by target "
        f"square, {base.num} training mazes overlaid, one panel per intervention",
    )
    lines = _lines(ctx, sets, searched, summaries, fits)
    data = {
        "channel_sets": {
            k: {"channels": c, "value": v, **searched.get(k, {})} for k, (c, v) in sets.items()
        },
        "targets": int(len(targets.maze)),
        "mazes": int(base.num),
        "interventions": summaries,
        "discovered_channels": found.top,
        "goal_fields": fits,
    }
    return Report(data, lines, figures)


def _lines(
    ctx: Context,
    sets: dict[str, tuple[list[int], float]],
    searched: dict[str, Any],
    summaries: dict[str, Any],
    fits: dict[str, Any],
) -> list[str]:
    base_rate = summaries["none"]["success"]["p"]
    lines = [
        f"- hook `{ctx.hook}`; "
        + "; ".join(f"{k} set to {v:.2f}{_searched(searched.get(k))}" for k, (_, v) in sets.items())
        + f"; success = reaching the target within {ctx.cfg.budget_factor:g}x its shortest path"
    ]
    for k, r in summaries.items():
        ratio = r["success"]["p"] / max(base_rate, 1e-9)
        by_path = ", ".join(f"{b}: {v['p']:.2f}" for b, v in r["success_by_path_distance"].items())
        near, far = r["success_near_top_right"]["p"], r["success_far_from_top_right"]["p"]
        lines.append(
            f"- {k}: success {r['success']['p']:.3f} ({ratio:.2f}x no patch; near top-right "
            f"{near:.3f}, far {far:.3f})"
            f"; normalized path probability {r['path_probability']:.3f}; by steps from the path "
            f"to the top-right: {by_path}"
        )
    for k, f in fits.items():
        lines.append(
            f"- `{k}` fitted at `{f['hook']}` ({f['size']}x{f['size']}, {f['samples']} samples, "
            f"{f['steps']} steps): loss {f['loss_start']:.3f} -> {f['loss_end']:.3f}, "
            f"direction accuracy {f['direction_accuracy']:.3f}"
        )
    best = max((k for k in summaries if k != "none"), key=lambda k: summaries[k]["success"]["p"])
    ratio = summaries[best]["success"]["p"] / max(base_rate, 1e-9)
    lines.append(f"- best intervention `{best}`: {ratio:.2f}x the no-patch success")
    return lines


def _searched(found: dict[str, Any] | None) -> str:
    """How a set's value was found, when it was searched."""
    if not found:
        return ""
    tried = ", ".join(f"{m}x: {p:.2f}" for m, p in found["tried"].items())
    return f" ({found['multiple']:g}x its largest activation, searched: {tried})"
