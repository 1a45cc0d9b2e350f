"""The interventions a retargeting experiment compares: none, the real cheese moved, cheese
channels set at the target, the "virtual cheese" vector, and the learned goal fields."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.activations import (
    Setting,
    activations,
    map_position,
    patched_act_fn,
    per_maze_vector,
    without_cheese,
)
from agents.interp.channels import FoundChannels
from agents.interp.context import Context
from agents.interp.retarget import targets_of
from agents.interp.value_search import pick_multiple, search_multiples, set_at
from agents.policy.hooked import HookedMazeNet, HookError
from agents.policy.rollout import ActFn
from mazegen import MazeConfig, generate_levels
from mazegen.actions import ACTION_DIRECTIONS
from mazegen.levels import STUDY_SEARCH_OFFSET
from mazegen.state import BatchState


def retarget_interventions(
    net: HookedMazeNet,
    hook: str,
    channel_sets: dict[str, tuple[list[int], float]],
    base: BatchState,
    maze_idx: np.ndarray,
    targets: np.ndarray,
    config: MazeConfig,
    amplify: float = 3.0,
    radius: int = 0,
) -> dict[str, tuple[BatchState, ActFn]]:
    """The interventions compared by `retarget`: label -> (start states, policy).

    - ``none``: the unpatched policy (the cheese where the maze has it).
    - ``cheese_moved``: the real cheese moved to the target.
    - one per entry of ``channel_sets`` (label -> (channels, value)): those channels set to
      the value at the target's position in ``hook`` (the 2023 channel-55 intervention), and
      at every position within ``radius`` of it.
    - ``cheese_vector_xN``: the activation difference of moving the cheese to the target
      (at ``hook``), added ``amplify`` times — a stronger, fully spatial "virtual cheese".
    """
    states = base.take(maze_idx)
    moved = states.placed(cheese=targets.copy())
    shape = tuple(activations(net, hook, states.take([0]), config).shape[1:])
    pos = map_position(targets, config.world_size, shape)
    plain = patched_act_fn(net, lambda idx: {})
    out: dict[str, tuple[BatchState, ActFn]] = {
        "none": (states, plain),
        "cheese_moved": (moved, plain),
    }
    for label, (channels, value) in channel_sets.items():
        out[label] = (states, set_at(net, hook, channels, pos, value, radius))
    if amplify:
        delta = activations(net, hook, moved, config) - activations(net, hook, states, config)
        out[f"cheese_vector_x{amplify:g}"] = (
            states,
            patched_act_fn(net, per_maze_vector(hook, delta, amplify)),
        )
    return out


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
    states = base.take(targets.maze)
    pos = map_position(targets.squares, ctx.env.world_size, ctx.net.shapes[ctx.hook])
    valued: dict[str, tuple[list[int], float]] = {}
    searched: dict[str, Any] = {}
    for label, (channels, _) in sets.items():
        largest = found.largest(channels)
        tried = search_multiples(
            ctx.net,
            ctx.hook,
            {"present": states},
            targets,
            pos,
            channels,
            largest,
            cfg.multiples,
            Setting(ctx.env, ctx.region, ctx.rng),
            ACTION_DIRECTIONS[ctx.env.action_mode],
            cfg.budget_factor,
            cfg.radius,
        )["present"]
        multiple = pick_multiple(tried, cfg.multiples)
        valued[label] = (channels, multiple * largest)
        searched[label] = {"multiple": multiple, "tried": tried, "targets": len(targets.maze)}
    return valued, searched


def add_goal_fields(
    ctx: Context, interventions: dict[str, tuple[BatchState, ActFn]], targets: np.ndarray
) -> dict[str, Any]:
    """Fits two goal fields on mazes disjoint from the analysed ones — ``goal_field`` on mazes
    with no cheese, ``cheese_moved+goal_field`` with the cheese on the target — adds the
    interventions built on them, and saves the kernels to ``goal_fields.npz``."""
    import torch

    from agents.interp.goal_field import (
        GoalField,
        default_field_hook,
        fit_goal_field,
        save_goal_fields,
    )
    from agents.interp.patches import add_vector
    from agents.interp.plots import plot_kernel
    from agents.interp.vectors import cheese_vector
    from mazegen import generate_levels
    from mazegen.levels import FIT_OFFSET

    cfg, net, env, hook = ctx.cfg, ctx.net, ctx.env, ctx.hook
    fhook = cfg.field_hook or default_field_hook(net)
    first = ctx.levels.stop + FIT_OFFSET
    fit_states = generate_levels(range(first, first + cfg.field_mazes), env)
    states, moved = interventions["none"][0], interventions["cheese_moved"][0]
    removed = without_cheese(states)
    shape = tuple(activations(net, fhook, states.take([0]), env).shape[2:])
    pos = map_position(targets, env.world_size, shape)
    fields: dict[str, GoalField] = {}
    fits: dict[str, Any] = {}
    for label, fit_on, on_target in (
        ("goal_field", without_cheese(fit_states), False),
        ("cheese_moved+goal_field", fit_states, True),
    ):
        fitted, info = fit_goal_field(
            net,
            fhook,
            fit_on,
            env,
            ctx.rng,
            size=cfg.field_size,
            steps=cfg.field_steps,
            cheese_on_target=on_target,
        )
        fitted.scale = cfg.field_scale
        fields[label] = fitted
        fits[label] = {**info, "fit_levels": [first, first + cfg.field_mazes]}
    cv = cheese_vector(net, hook, states, env)  # [K, ...], one per (maze, target) row

    def with_field(label: str, minus_cheese_vector: bool = False) -> ActFn:
        f = fields[label]

        def patches(idx: np.ndarray) -> Any:
            chosen: dict[str, Any] = {f.hook: [f.patch(pos[idx])]}
            if minus_cheese_vector:
                chosen.setdefault(hook, []).append(add_vector(cv[torch.as_tensor(idx)], -1.0))
            return chosen

        return patched_act_fn(net, patches)

    interventions["cheese_removed"] = (removed, patched_act_fn(net, lambda idx: {}))
    interventions["goal_field"] = (states, with_field("goal_field"))
    interventions["goal_field-cheese_vector"] = (states, with_field("goal_field", True))
    interventions["cheese_removed+goal_field"] = (removed, with_field("goal_field"))
    interventions["cheese_moved+goal_field"] = (moved, with_field("cheese_moved+goal_field"))
    save_goal_fields(ctx.out / "goal_fields.npz", fields)
    plot_kernel(
        fields["goal_field"].kernel.cpu().numpy(),
        ctx.out / "goal_field.png",
        f"goal field at {fhook}",
    )
    return fits
