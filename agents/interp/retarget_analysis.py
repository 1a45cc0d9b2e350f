"""``python -m experiments.patch retarget``: send the mouse to every open square of training
mazes with each row of the intervention table (`agents.interp.interventions`: the channels at a
fixed or a searched value, the whole layer's splice, learned goal fields) and report success,
path probability and heatmaps."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.activations import Setting, without_cheese
from agents.interp.channels import FoundChannels, find_cheese_channels
from agents.interp.context import Context, Report
from agents.interp.goal_field import GoalField
from agents.interp.interventions import (
    Intervention,
    Trial,
    channels_set,
    cheese_removed,
    goal_field_row,
    no_intervention,
    play,
    real_cheese_moved,
    splice,
)
from agents.interp.retarget import targets_of
from agents.interp.value_search import ValueSearch, pick_multiple, search_values
from agents.policy.hooked import HookError
from agents.settings.levels import FIT_OFFSET, STUDY_SEARCH_OFFSET
from mazegen import generate_levels

#: The goal fields fitted (their names in ``goal_fields.npz``): on mazes without cheese, and
#: with the cheese on the target.
FIELDS = ("goal_field", "cheese_moved+goal_field")


def run_retarget(ctx: Context) -> Report:
    """Send the mouse to every open square of training-distribution mazes with each
    intervention; success, path probability, heatmaps; learned goal fields unless disabled."""
    from agents.interp.plots import plot_heatmaps

    cfg = ctx.cfg
    found = find_cheese_channels(ctx.net, ctx.hook, ctx.mazes(), ctx.test_env, top=16)
    sets = channel_sets(ctx, found)
    searched: dict[str, Any] = {}
    if cfg.multiples:  # each set at its best multiple instead of one value for all
        sets, searched = searched_values(ctx, found, sets)
    base = ctx.mazes(test=False)  # training-distribution mazes: cheese near the corner
    targets = targets_of(base, cfg.targets_per_maze, ctx.rng)
    trial = Trial(
        ctx.net,
        ctx.hook,
        base.take(targets.maze),
        targets,
        Setting(ctx.env, ctx.region, ctx.rng),
        cfg.budget_factor,
        cfg.any_time,
    )
    rows = [no_intervention(), real_cheese_moved()]
    rows += [channels_set(label, ch, value, cfg.radius) for label, (ch, value) in sets.items()]
    if cfg.amplify:
        rows.append(splice("whole-layer", scale=cfg.amplify))
    fits: dict[str, Any] = {}
    figures = ["retarget_heatmaps.png"]
    if cfg.goal_field:
        fields, fits = fit_fields(ctx)
        rows += field_rows(fields)
        figures.append("goal_field.png")
    outcomes = play(rows, trial)
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


def channel_sets(ctx: Context, found: FoundChannels) -> dict[str, tuple[list[int], float]]:
    """The channel interventions of ``retarget``: ``channels=[...]`` if given, else the top
    1, 4 and all well-tracking channels of ``find-channels`` (the 2023 conditions: channel 55
    alone, the effective set, all cheese channels), each set to ``value`` (default: twice the
    largest activation those channels reach)."""
    cfg = ctx.cfg
    if cfg.channels:
        sets = {f"channels {list(cfg.channels)}": list(cfg.channels)}
    else:
        ranked = [r["channel"] for r in found.top]
        tracking = [r["channel"] for r in found.top if r["tracking_accuracy"] >= 0.25]
        sets = {f"channel {ranked[0]}": ranked[:1]}
        if cfg.num_channels > 1:
            sets[f"top {cfg.num_channels} channels"] = ranked[: cfg.num_channels]
        if len(tracking) > max(1, cfg.num_channels):
            sets[f"all {len(tracking)} tracking channels"] = tracking
    bad = [c for ch in sets.values() for c in ch if not 0 <= c < found.channels_in_layer]
    if bad:
        raise HookError(
            f"channel(s) {bad} out of range: {found.hook} has {found.channels_in_layer} channels"
        )
    return {
        k: (ch, cfg.value if cfg.value is not None else 2.0 * found.largest(ch))
        for k, ch in sets.items()
    }


def searched_values(
    ctx: Context, found: FoundChannels, sets: dict[str, tuple[list[int], float]]
) -> tuple[dict[str, tuple[list[int], float]], dict[str, Any]]:
    """Each channel set of `channel_sets` at the multiple of its largest activation that
    retargets best (``cfg.multiples``; `agents.interp.value_search`), searched with the cheese
    present on ``cfg.search_mazes`` training mazes of their own (the study's search levels): the
    sets with their values, and per set the multiple chosen and the success of each."""
    cfg = ctx.cfg
    first = ctx.levels.start + STUDY_SEARCH_OFFSET
    base = generate_levels(range(first, first + cfg.search_mazes), ctx.env)
    targets = targets_of(base, cfg.targets_per_maze, ctx.rng)
    setting = Setting(ctx.env, ctx.region, ctx.rng)
    trial = Trial(ctx.net, ctx.hook, base.take(targets.maze), targets, setting, cfg.budget_factor)
    valued: dict[str, tuple[list[int], float]] = {}
    searched: dict[str, Any] = {}
    for label, (channels, _) in sets.items():
        largest = found.largest(channels)
        search = ValueSearch(channels, largest, cfg.multiples, cfg.radius)
        tried = search_values(trial, search)["present"]
        multiple = pick_multiple(tried, cfg.multiples)
        valued[label] = (channels, multiple * largest)
        searched[label] = {"multiple": multiple, "tried": tried, "targets": len(targets.maze)}
    return valued, searched


def fit_fields(ctx: Context) -> tuple[dict[str, GoalField], dict[str, Any]]:
    """Fits the two goal fields of `FIELDS` on mazes disjoint from the analysed ones (without
    cheese; with the cheese on the target), saves them to ``goal_fields.npz`` and the first's
    kernel to ``goal_field.png``: the fields, and what each fit reported."""
    from agents.interp.goal_field import default_field_hook, fit_goal_field, save_goal_fields
    from agents.interp.plots import plot_kernel

    cfg, net, env = ctx.cfg, ctx.net, ctx.env
    fhook = cfg.field_hook or default_field_hook(net)
    first = ctx.levels.stop + FIT_OFFSET
    fit_states = generate_levels(range(first, first + cfg.field_mazes), env)
    fields: dict[str, GoalField] = {}
    fits: dict[str, Any] = {}
    for name, fit_on, on_target in (
        (FIELDS[0], without_cheese(fit_states), False),
        (FIELDS[1], fit_states, True),
    ):
        fitted, info = fit_goal_field(
            net,
            fhook,
            fit_on,
            env,
            ctx.rng,
            size=cfg.field_size,
            steps=cfg.field_steps,
            batch=cfg.field_batch,
            cheese_on_target=on_target,
        )
        fitted.scale = cfg.field_scale
        fields[name] = fitted
        fits[name] = {**info, "fit_levels": [first, first + cfg.field_mazes]}
    save_goal_fields(ctx.out / "goal_fields.npz", fields)
    kernel = fields[FIELDS[0]].kernel.cpu().numpy()
    plot_kernel(kernel, ctx.out / "goal_field.png", f"goal field at {fhook}")
    return fields, fits


def field_rows(fields: dict[str, GoalField]) -> list[Intervention]:
    """The goal-field rows of ``retarget``: the cheese removed (their baseline), the field on
    the maze as it is (also with the cheese vector subtracted) and without its cheese, and the
    field fitted with the cheese on the target, with the real cheese moved there."""
    plain, on_target = fields[FIELDS[0]], fields[FIELDS[1]]
    return [
        cheese_removed(),
        goal_field_row(plain),
        goal_field_row(plain, cheese_vector_subtracted=True),
        goal_field_row(plain, "removed"),
        goal_field_row(on_target, "moved"),
    ]


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
            f"{f['steps']} steps): loss {f['loss_start']:.3f} -> {f['loss_end']:.3f} "
            f"(held samples: {f['loss_unfitted']:.3f} without the field, "
            f"{f['loss_fitted']:.3f} with it), direction accuracy {f['direction_accuracy']:.3f}"
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
