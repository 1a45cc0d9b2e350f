"""`experiments.patch`'s logic: one analysis of a policy's activations into a report folder
(``report.json`` with every figure, PNGs, ``summary.md``)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.analysis.divergence import maze_facts
from agents.analysis.goal_field import (
    GoalField,
    default_field_hook,
    fit_goal_field,
    save_goal_fields,
)
from agents.analysis.hooks import HookError, check_names, hook_shapes
from agents.analysis.patches import add_vector
from agents.analysis.plots import (
    plot_channel_maps,
    plot_heatmaps,
    plot_kernel,
    plot_vector_fields,
)
from agents.analysis.steering import (
    Setting,
    activations,
    cheese_vector,
    cheese_vector_transfer,
    default_hook,
    find_cheese_channels,
    map_position,
    patched_act_fn,
    per_maze_vector,
    retarget,
    retarget_interventions,
    targets_of,
    top_right_vector,
    vector_effects,
    without_cheese,
)
from agents.config import ConfigError
from agents.evaluation import _clean
from agents.loading import load_policy
from agents.rollout import policy_at_squares
from agents.runs import atomic_write_json
from agents.sb3 import maze_net
from mazegen import generate_levels
from mazegen.actions import ACTION_DIRECTIONS, direction_probs
from mazegen.files import atomic_write_bytes
from mazegen.queries import open_squares

ANALYSES = (
    "cheese-vector",
    "top-right-vector",
    "find-channels",
    "retarget",
    "vector-field",
    "hooks",
)


@dataclass
class PatchConfig:
    """Settings of ``python -m experiments.patch <analysis>``.

    Attributes:
        analysis: One of cheese-vector, top-right-vector, find-channels, retarget, vector-field,
            hooks (list hook names and shapes).
        run: Run folder or checkpoint (None: the shipped policy).
        out: Report folder (default ``<run>/patch/<analysis>``, or
            ``outputs/patch/<analysis>`` for the shipped policy).
        hook: Layer to read and patch (None: the network's default layer).
        mazes: Held-out mazes used.
        start_level: First held-out level (None: the run's eval.start_level + 10^6).
        channels: Channels to retarget with (empty: the top ones found by find-channels).
        num_channels: How many discovered channels to use when ``channels`` is empty.
        value: Value the channels are set to at the target (None: 2x their largest activation).
        amplify: Coefficient of the "virtual cheese" vector intervention.
        coeff: Coefficient of the steering vector (cheese vector: subtracted with -1).
        budget_factor: Retargeting succeeds when the target is reached within this many times
            its shortest-path distance (also reported: within the episode's max_steps).
        goal_field: Also fit and measure learned goal fields in ``retarget`` (see
            `agents.analysis.goal_field`): one alone, one with the real cheese on the target.
        field_hook: Layer of the goal field (None: the network's first spatial layer).
        field_size: Side of the goal field in activation-map cells (odd).
        field_steps: Gradient steps of each fit.
        field_mazes: Training-distribution mazes the fields are fitted on (levels disjoint from
            the evaluated ones).
        field_scale: Multiplies the fitted field when it is applied.
        seed: Seed of sampled actions.
        maze_index: Which maze the vector-field analysis draws.
        torch_threads: Torch CPU threads.
        unsafe_pickle: Also load old checkpoints that only unpickling can read (runs code from
            the file: only for files you trust).
    """

    analysis: str = "hooks"
    run: str | None = None
    out: str | None = None
    hook: str | None = None
    mazes: int = 200
    start_level: int | None = None
    channels: list[int] = field(default_factory=list)
    num_channels: int = 1
    value: float | None = None
    amplify: float = 3.0
    coeff: float = -1.0
    budget_factor: float = 2.0
    goal_field: bool = True
    field_hook: str | None = None
    field_size: int = 13
    field_steps: int = 600
    field_mazes: int = 200
    field_scale: float = 1.0
    seed: int = 0
    maze_index: int = 0
    torch_threads: int = 1
    unsafe_pickle: bool = False


def validate(cfg: PatchConfig) -> None:
    if cfg.analysis not in ANALYSES:
        raise ConfigError(f"analysis must be one of {', '.join(ANALYSES)}; got {cfg.analysis!r}")
    if cfg.mazes < 1 or cfg.num_channels < 1 or cfg.torch_threads < 1:
        raise ConfigError("mazes, num_channels and torch_threads must be >= 1")
    if cfg.budget_factor < 1:
        raise ConfigError(f"budget_factor must be >= 1, got {cfg.budget_factor}")
    if cfg.field_size < 1 or cfg.field_size % 2 == 0:
        raise ConfigError(f"field_size must be an odd number >= 1, got {cfg.field_size}")
    if cfg.field_steps < 1 or cfg.field_mazes < 1:
        raise ConfigError("field_steps and field_mazes must be >= 1")
    if cfg.start_level is not None and cfg.start_level < 0:
        raise ConfigError(f"start_level must be >= 0, got {cfg.start_level}")
    if cfg.seed < 0:
        raise ConfigError(f"seed must be >= 0, got {cfg.seed}")
    for name in ("value", "amplify", "coeff", "budget_factor", "field_scale"):
        x = getattr(cfg, name)
        if x is not None and not math.isfinite(x):
            raise ConfigError(f"{name} must be a finite number, got {x}")
    if not 0 <= cfg.maze_index < cfg.mazes:
        raise ConfigError(f"maze_index must be in [0, mazes={cfg.mazes}), got {cfg.maze_index}")


def run_analysis(cfg: PatchConfig) -> tuple[dict[str, Any], Path]:
    """Runs ``cfg.analysis``; writes report.json, PNGs and summary.md; returns (report, folder)."""
    validate(cfg)
    torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(cfg.run, unsafe_pickle=cfg.unsafe_pickle)
    tcfg = policy.config
    net = maze_net(policy.model)
    hook = cfg.hook or default_hook(net)
    check_names(net, [hook])
    env = tcfg.env.replace(num_levels=0, start_level=0)
    region = env.cheese_region if env.cheese_region is not None else 1
    start = cfg.start_level if cfg.start_level is not None else tcfg.eval.start_level + 10**6
    levels = range(start, start + cfg.mazes)
    test_cfg = env.test_distribution()
    rng = np.random.default_rng(cfg.seed)
    if cfg.out:
        out = Path(cfg.out)
    elif cfg.run is None:
        out = Path("outputs/patch") / cfg.analysis
    else:
        src = policy.source
        run = src.parent.parent if src.parent.name == "checkpoints" else src.parent
        out = run / "patch" / cfg.analysis
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "analysis": cfg.analysis,
        "source": str(policy.source),
        "hook": hook,
        "mazes": cfg.mazes,
        "start_level": start,
    }
    t0 = time.perf_counter()
    lines: list[str] = []
    if cfg.analysis == "hooks":
        obs = torch.zeros((1, *policy.model.observation_space.shape))
        report["hooks"] = {k: list(v) for k, v in hook_shapes(net, obs).items()}
        lines = [f"- `{k}`: {v}" for k, v in report["hooks"].items()]
    elif cfg.analysis in ("cheese-vector", "top-right-vector", "vector-field"):
        states = generate_levels(levels, test_cfg)
        s = Setting(test_cfg, region, rng)
        cheese = cfg.analysis != "top-right-vector"  # vector-field draws the cheese vector
        coeffs = (
            {
                "unpatched": (0.0, 0.0),
                f"cheese vector x{cfg.coeff:g}": (cfg.coeff, 0.0),
                "cheese vector x+1": (1.0, 0.0),
            }
            if cheese
            else {
                "unpatched": (0.0, 0.0),
                "top-right x+1": (0.0, 1.0),
                "top-right x-1": (0.0, -1.0),
                "cheese x-1": (-1.0, 0.0),
                "cheese x-1 + top-right x+1": (-1.0, 1.0),
                "cheese x+1 + top-right x-1": (1.0, -1.0),
            }
        )
        if cfg.analysis != "vector-field":
            report["effects"] = vector_effects(net, hook, states, s, coeffs)
            lines = _effect_lines(report["effects"])
        if cfg.analysis == "cheese-vector":
            report["decision_subset"] = _decision_subset_effect(net, hook, states, s, cfg.coeff)
            report["transfer"] = cheese_vector_transfer(net, hook, states, s)
            lines += _effect_lines(report["decision_subset"], "cheese off the path to the corner: ")
            on_path = 1.0 - float(np.mean(maze_facts(states).has_decision))
            report["cheese_on_path_to_corner"] = on_path
            lines.append(
                f"- {on_path:.3f} of the mazes have the cheese on the start->corner path, where a "
                "policy that ignores the cheese still gets it; the line above excludes them"
            )
            lines += [
                f"- transfer, cheese moved {d} squares: P(cheese) "
                f"{r['unpatched']['p']:.3f} -> {r['patched']['p']:.3f} (n={r['n']})"
                for d, r in report["transfer"]["by_shift"].items()
            ]
        vectors = (cheese_vector if cheese else top_right_vector)(net, hook, states, test_cfg)
        _vector_field_png(
            net,
            hook,
            states,
            s,
            cfg,
            out / "vector_field.png",
            vectors,
            "cheese vector" if cheese else "top-right vector",
            coeff=None if cheese else -1.0,
        )
        report["png"] = "vector_field.png"
    elif cfg.analysis == "find-channels":
        states = generate_levels(levels, test_cfg)
        found = find_cheese_channels(net, hook, states, test_cfg)
        report["channels"] = found
        lines = [
            f"- channel {r['channel']}: tracking accuracy {r['tracking_accuracy']:.3f}, "
            f"score {r['score']:.2f}"
            for r in found["top"]
        ]
        i = cfg.maze_index
        maps = {
            f"ch {r['channel']} diff": found["_diff"][i, r["channel"]] for r in found["top"][:4]
        }
        plot_channel_maps(states[i], maps, out / "channel_maps.png")
    elif cfg.analysis == "retarget":
        report["retarget"], lines = _retarget(net, hook, cfg, env, region, levels, rng, out)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(out / "report.json", _clean(report))
    summary = [
        f"# {cfg.analysis}",
        "",
        f"policy `{policy.source}`, hook `{hook}`, {cfg.mazes} held-out mazes from level {start}",
        "",
        *lines,
        "",
    ]
    atomic_write_bytes(out / "summary.md", "\n".join(summary).encode())
    report["summary"] = "\n".join(lines)
    return report, out


def _effect_lines(effects: dict[str, Any], prefix: str = "") -> list[str]:
    return [
        f"- {prefix}{label}: P(cheese) {e['p_cheese']['p']:.3f} "
        f"[{e['p_cheese']['lo']:.3f}, {e['p_cheese']['hi']:.3f}], P(top-right first) "
        f"{e['p_region_first']['p']:.3f}, P(ends in top-right) {e['p_end_in_region']['p']:.3f}"
        for label, e in effects.items()
    ]


def _decision_subset_effect(
    net: Any, hook: str, states: Any, s: Setting, coeff: float
) -> dict[str, Any]:
    keep = np.flatnonzero(maze_facts(states).has_decision)
    if keep.size == 0:
        return {}
    return vector_effects(
        net,
        hook,
        states.take(keep),
        s,
        {"unpatched": (0.0, 0.0), f"cheese vector x{coeff:g}": (coeff, 0.0)},
    )


def _vector_field_png(
    net: Any,
    hook: str,
    states: Any,
    s: Setting,
    cfg: PatchConfig,
    path: Path,
    vectors: torch.Tensor,
    label: str,
    coeff: float | None = None,
) -> None:
    i = cfg.maze_index
    state = states[i]
    squares = [sq for sq in open_squares(state.walls) if sq != state.cheese]
    plain = patched_act_fn(net, lambda idx: {})
    vec = vectors[i : i + 1]
    c = cfg.coeff if coeff is None else coeff
    patched = patched_act_fn(
        net, per_maze_vector(hook, vec.expand(len(squares), *vec.shape[1:]), c)
    )
    fields = {
        "original": direction_probs(
            policy_at_squares(plain, state, squares, s.config), s.config.action_mode
        ),
        f"{label} x{c:g}": direction_probs(
            policy_at_squares(patched, state, squares, s.config), s.config.action_mode
        ),
    }
    plot_vector_fields(state, fields, squares, path, region=s.region)


def _retarget(
    net: Any,
    hook: str,
    cfg: PatchConfig,
    env: Any,
    region: int,
    levels: range,
    rng: np.random.Generator,
    out: Path,
) -> tuple[dict[str, Any], list[str]]:
    test_cfg = env.test_distribution()
    found = find_cheese_channels(net, hook, generate_levels(levels, test_cfg), test_cfg)
    channels = list(cfg.channels) or [r["channel"] for r in found["top"][: cfg.num_channels]]
    n_channels = found["channels_in_layer"]
    bad = [c for c in channels if not 0 <= c < n_channels]
    if bad:
        raise HookError(f"channel(s) {bad} out of range: {hook} has {n_channels} channels")
    largest = float(np.max(found["_with"][:, channels]))
    value = cfg.value if cfg.value is not None else 2.0 * largest
    base = generate_levels(levels, env)  # training-distribution mazes: cheese near the corner
    maze_idx, targets, near = targets_of(base, region)
    interventions = retarget_interventions(
        net, hook, channels, value, base, maze_idx, targets, env, amplify=cfg.amplify
    )
    fits: dict[str, Any] = {}
    if cfg.goal_field:
        fits = _add_goal_fields(net, hook, cfg, env, levels, rng, interventions, targets, out)
    s = Setting(env, region, rng)
    result = retarget(
        interventions,
        targets,
        near,
        s,
        ACTION_DIRECTIONS[env.action_mode],
        budget_factor=cfg.budget_factor,
    )
    w = env.world_size
    maps = {}
    for label, r in result.items():
        reached = r.pop("_reached")
        total = np.zeros((w, w))
        count = np.zeros((w, w))
        np.add.at(total, (targets[:, 0], targets[:, 1]), reached)
        np.add.at(count, (targets[:, 0], targets[:, 1]), 1)
        with np.errstate(invalid="ignore"):
            maps[label] = total / count
        r["heatmap"] = np.where(count > 0, total / np.maximum(count, 1), np.nan).tolist()
    plot_heatmaps(
        maps, out / "retarget_heatmaps.png", "P(reach target) by target square (all mazes overlaid)"
    )
    base_rate = result["none"]["success"]["p"]
    best = max((k for k in result if k != "none"), key=lambda k: result[k]["success"]["p"])
    lines = [
        f"- channels {channels} set to {value:.2f} at the target, hook `{hook}`; success "
        f"= reaching the target within {cfg.budget_factor:g}x its shortest path"
    ]
    for k, r in result.items():
        near_p, far_p = r["success_near_top_right"]["p"], r["success_far_from_top_right"]["p"]
        ratio_k = r["success"]["p"] / max(base_rate, 1e-9)
        lines.append(
            f"- {k}: success {r['success']['p']:.3f} ({ratio_k:.2f}x no patch; near top-right "
            f"{near_p:.3f}, far {far_p:.3f}); within max_steps {r['success_any_time']['p']:.3f}; "
            f"normalized path probability {r['path_probability']:.3f}"
        )
    for k, f in fits.items():
        lines.append(
            f"- `{k}` fitted at `{f['hook']}` ({f['size']}x{f['size']}, {f['samples']} samples, "
            f"{f['steps']} steps): loss {f['loss_start']:.3f} -> {f['loss_end']:.3f}, "
            f"direction accuracy {f['direction_accuracy']:.3f}"
        )
    ratio = result[best]["success"]["p"] / max(base_rate, 1e-9)
    lines.append(f"- best intervention `{best}`: {ratio:.2f}x the no-patch success")
    meta = {
        "channels": channels,
        "value": value,
        "targets": int(len(targets)),
        "mazes": int(base.num),
        "interventions": result,
        "discovered_channels": found["top"],
        "goal_fields": fits,
    }
    return meta, lines


def _add_goal_fields(
    net: Any,
    hook: str,
    cfg: PatchConfig,
    env: Any,
    levels: range,
    rng: np.random.Generator,
    interventions: dict[str, Any],
    targets: np.ndarray,
    out: Path,
) -> dict[str, Any]:
    """Fits two goal fields on mazes disjoint from ``levels`` — ``goal_field`` on mazes with
    no cheese, ``cheese_moved+goal_field`` with the cheese on the target — adds the
    interventions built on them, and saves the kernels to ``goal_fields.npz``."""
    fhook = cfg.field_hook or default_field_hook(net)
    first = levels.stop + 10**5
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
        field, info = fit_goal_field(
            net,
            fhook,
            fit_on,
            env,
            rng,
            size=cfg.field_size,
            steps=cfg.field_steps,
            cheese_on_target=on_target,
        )
        field.scale = cfg.field_scale
        fields[label] = field
        fits[label] = {**info, "fit_levels": [first, first + cfg.field_mazes]}
    cv = cheese_vector(net, hook, states, env)  # [K, ...], one per (maze, target) row

    def with_field(label: str, minus_cheese_vector: bool = False) -> Any:
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
    save_goal_fields(out / "goal_fields.npz", fields)
    plot_kernel(
        fields["goal_field"].kernel.cpu().numpy(), out / "goal_field.png", f"goal field at {fhook}"
    )
    return fits
