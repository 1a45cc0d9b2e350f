"""The cheese vector and the top-right vector (2023): how they are taken and what adding or
subtracting them does to behaviour on held-out mazes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.interp.activations import (
    Setting,
    activations,
    brief,
    patched_act_fn,
    per_maze_vector,
    play,
    transformed,
    without_cheese,
)
from agents.interp.context import Context, Report
from agents.interp.patches import add_vector
from agents.policy.hooked import HookedMazeNet, Patches
from agents.policy.metrics import rate
from mazegen import MazeConfig
from mazegen.queries import distances
from mazegen.state import BatchState, MazeState


def cheese_vector(
    net: HookedMazeNet, hook: str, states: BatchState, config: MazeConfig
) -> torch.Tensor:
    """``[N, ...]``: activations with the cheese minus without it, same maze, mouse at start."""
    return activations(net, hook, states, config) - activations(
        net, hook, without_cheese(states), config
    )


def open_top_right_path(state: MazeState) -> MazeState:
    """The maze with a corridor opened from its inner top-right corner up and right to the
    world's top-right corner (unchanged when the maze fills the world)."""
    r0, c0 = state.top_right
    walls = state.walls.copy()
    walls[0 : r0 + 1, c0] = False
    walls[0, c0:] = False
    return state.with_walls(walls)


def top_right_vector(
    net: HookedMazeNet, hook: str, states: BatchState, config: MazeConfig
) -> torch.Tensor:
    """``[N, ...]``: activations of the maze with the top-right corridor minus the original."""
    return activations(net, hook, transformed(states, open_top_right_path), config) - activations(
        net, hook, states, config
    )


def vector_effects(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    s: Setting,
    coeffs: dict[str, tuple[float, float]],
) -> dict[str, Any]:
    """Rollouts of test-distribution mazes under combinations of the two vectors.

    Args:
        coeffs: label -> (cheese-vector coefficient, top-right-vector coefficient).
    """
    cv = cheese_vector(net, hook, states, s.config)
    tv = top_right_vector(net, hook, states, s.config)
    out = {}
    for label, (a, b) in coeffs.items():
        vec = a * cv + b * tv

        def patches(idx: np.ndarray, vec: torch.Tensor = vec) -> Patches:
            return {hook: add_vector(vec[torch.as_tensor(idx)], 1.0)}

        out[label] = brief(play(patched_act_fn(net, patches), states, s))
    return out


def cheese_vector_transfer(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    s: Setting,
    shifts: tuple[int, ...] = (0, 1, 2, 3, 5),
) -> dict[str, Any]:
    """Subtracting a maze's cheese vector after the cheese moved ``d`` squares (path distance):
    P(cheese) patched vs. unpatched for each shift d; and the vector of another maze (d = 0)."""
    vectors = cheese_vector(net, hook, states, s.config)
    plain = patched_act_fn(net, lambda idx: {})
    rows: dict[str, Any] = {}
    for d in shifts:
        keep, moved = [], []
        for i, st in enumerate(states):
            assert st.cheese is not None
            dist = distances(st.walls, st.cheese)
            cand = [
                sq
                for sq in zip(*np.nonzero(dist == d))
                if sq != st.start and not st.in_region(sq, s.region)
            ]
            if cand:
                sq = cand[int(s.rng.integers(len(cand)))]
                keep.append(i)
                moved.append(st.with_cheese((int(sq[0]), int(sq[1]))))
        if not keep:
            continue
        sub = BatchState.stack(moved)
        vec = vectors[torch.as_tensor(keep)]
        act = patched_act_fn(net, per_maze_vector(hook, vec, -1.0))
        rows[str(d)] = {
            "n": len(keep),
            "unpatched": rate(play(plain, sub, s).success),
            "patched": rate(play(act, sub, s).success),
        }
    other = torch.roll(vectors, 1, dims=0)
    act = patched_act_fn(net, per_maze_vector(hook, other, -1.0))
    return {"by_shift": rows, "other_maze_vector": brief(play(act, states, s))}


# ---- the analyses -------------------------------------------------------------------------------
def effect_lines(effects: dict[str, Any], prefix: str = "") -> list[str]:
    return [
        f"- {prefix}{label}: P(cheese) {e['p_cheese']['p']:.3f} "
        f"[{e['p_cheese']['lo']:.3f}, {e['p_cheese']['hi']:.3f}], P(top-right first) "
        f"{e['p_region_first']['p']:.3f}, P(ends in top-right) {e['p_end_in_region']['p']:.3f}"
        for label, e in effects.items()
    ]


def decision_square_probs(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    config: MazeConfig,
    vectors: torch.Tensor | None,
) -> np.ndarray:
    """``[N]`` the policy's probability of stepping toward the cheese with the mouse on each
    maze's decision square (the 2023 measure), with ``vectors[i]`` added at ``hook`` (None:
    unpatched). Every maze must have a decision square."""
    from agents.interp.divergence import maze_facts
    from agents.policy.rollout import policy_at_squares
    from mazegen.actions import DIRECTION_OF_STEP, direction_probs
    from mazegen.queries import shortest_path

    facts = maze_facts(states)
    out = np.zeros(states.num)
    for i, st in enumerate(states):
        d = facts.decision[i]
        assert d is not None and st.cheese is not None
        path = shortest_path(st.walls, d, st.cheese)
        step = DIRECTION_OF_STEP[(path[1][0] - d[0], path[1][1] - d[1])]
        patches = (
            (lambda idx: {}) if vectors is None else per_maze_vector(hook, vectors[i : i + 1], 1.0)
        )
        probs = policy_at_squares(patched_act_fn(net, patches), st, [d], config)
        out[i] = direction_probs(probs, config.action_mode)[0, step]
    return out


def _field_png(
    ctx: Context, states: BatchState, vectors: torch.Tensor, label: str, c: float
) -> str:
    from agents.interp.plots import plot_vector_fields
    from agents.policy.rollout import policy_at_squares
    from mazegen.actions import direction_probs
    from mazegen.queries import open_squares

    i = ctx.cfg.maze_index
    state = states[i]
    squares = [sq for sq in open_squares(state.walls) if sq != state.cheese]
    plain = patched_act_fn(ctx.net, lambda idx: {})
    vec = vectors[i : i + 1]
    patched = patched_act_fn(
        ctx.net, per_maze_vector(ctx.hook, vec.expand(len(squares), *vec.shape[1:]), c)
    )
    env = ctx.test_env
    fields = {
        "original": direction_probs(policy_at_squares(plain, state, squares, env), env.action_mode),
        f"{label} x{c:g}": direction_probs(
            policy_at_squares(patched, state, squares, env), env.action_mode
        ),
    }
    plot_vector_fields(state, fields, squares, ctx.out / "vector_field.png", region=ctx.region)
    return "vector_field.png"


def run_cheese_vector(ctx: Context) -> Report:
    """Subtract (``coeff``) or add the cheese vector: P(cheese) on test mazes, on the mazes with
    a decision square, the 2023 decision-square probability, and transfer across shifts."""
    from agents.interp.divergence import maze_facts

    states = ctx.mazes()
    s = Setting(ctx.test_env, ctx.region, ctx.rng)
    coeff = ctx.cfg.coeff
    effects = vector_effects(
        ctx.net,
        ctx.hook,
        states,
        s,
        {
            "unpatched": (0.0, 0.0),
            f"cheese vector x{coeff:g}": (coeff, 0.0),
            "cheese vector x+1": (1.0, 0.0),
        },
    )
    lines = effect_lines(effects)
    has = maze_facts(states).has_decision
    data: dict[str, Any] = {"effects": effects, "cheese_on_path_to_corner": 1 - float(has.mean())}
    if has.any():
        sub = states.take(np.flatnonzero(has))
        data["decision_subset"] = vector_effects(
            ctx.net,
            ctx.hook,
            sub,
            s,
            {"unpatched": (0.0, 0.0), f"cheese vector x{coeff:g}": (coeff, 0.0)},
        )
        lines += effect_lines(data["decision_subset"], "cheese off the path to the corner: ")
        vec = cheese_vector(ctx.net, ctx.hook, sub, ctx.test_env)
        before = decision_square_probs(ctx.net, ctx.hook, sub, ctx.test_env, None)
        after = decision_square_probs(ctx.net, ctx.hook, sub, ctx.test_env, coeff * vec)
        data["decision_square"] = {
            "n": int(sub.num),
            "median_p_toward_cheese": float(np.median(before)),
            "median_p_toward_cheese_patched": float(np.median(after)),
            "share_of_mazes_that_rose": float(np.mean(after > before)),
        }
        lines.append(
            f"- at the decision square (2023 measure, n={sub.num}): median P(step toward cheese) "
            f"{np.median(before):.3f} -> {np.median(after):.3f} with the cheese vector x{coeff:g}; "
            f"rose in {np.mean(after > before):.1%} of mazes"
        )
    lines.append(
        f"- {data['cheese_on_path_to_corner']:.3f} of the mazes have the cheese on the "
        "start->corner path, where a policy that ignores the cheese still gets it"
    )
    data["transfer"] = cheese_vector_transfer(ctx.net, ctx.hook, states, s)
    lines += [
        f"- transfer, cheese moved {d} squares: P(cheese) "
        f"{r['unpatched']['p']:.3f} -> {r['patched']['p']:.3f} (n={r['n']})"
        for d, r in data["transfer"]["by_shift"].items()
    ]
    vectors = cheese_vector(ctx.net, ctx.hook, states, ctx.test_env)
    png = _field_png(ctx, states, vectors, "cheese vector", coeff)
    return Report(data, lines, [png])


def run_top_right_vector(ctx: Context) -> Report:
    """Add or subtract the top-right vector, alone and composed with the cheese vector."""
    states = ctx.mazes()
    s = Setting(ctx.test_env, ctx.region, ctx.rng)
    effects = vector_effects(
        ctx.net,
        ctx.hook,
        states,
        s,
        {
            "unpatched": (0.0, 0.0),
            "top-right x+1": (0.0, 1.0),
            "top-right x-1": (0.0, -1.0),
            "cheese x-1": (-1.0, 0.0),
            "cheese x-1 + top-right x+1": (-1.0, 1.0),
            "cheese x+1 + top-right x-1": (1.0, -1.0),
        },
    )
    vectors = top_right_vector(ctx.net, ctx.hook, states, ctx.test_env)
    png = _field_png(ctx, states, vectors, "top-right vector", -1.0)
    return Report({"effects": effects}, effect_lines(effects), [png])


def run_vector_field(ctx: Context) -> Report:
    """The policy's action arrows on one maze, original vs. with the cheese vector."""
    states = ctx.mazes()
    vectors = cheese_vector(ctx.net, ctx.hook, states, ctx.test_env)
    png = _field_png(ctx, states, vectors, "cheese vector", ctx.cfg.coeff)
    return Report({}, [f"- vector field of maze {ctx.cfg.maze_index}: {png}"], [png])
