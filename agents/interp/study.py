"""What grows steerable cheese channels: the same mechanistic measurements on every agent of a
study, into one table (``python -m experiments.study``).

For each agent, on held-out mazes:

1. **Behaviour**: P(cheese) on the training and the test distribution, and on test mazes with a
   decision square.
2. **Cheese channels** (`agents.interp.channels.find_cheese_channels`): each channel's tracking
   accuracy (the share of mazes where its activation change peaks at the cheese) and how many
   channels pass ``tracking_threshold``.
3. **Resampling** (2023: 0.88 % same place / 1.26 % elsewhere vs 0.54-0.60 % random): the mean
   change of the action probabilities when the top channels are taken from another maze with
   the cheese on the same square or elsewhere, against random channel sets.
4. **Retargeting** (2023: channel 55 at +5.5): the top 1 / 3 / 11 channels set at the target's
   position, each at the multiple of its largest activation that works best on other mazes
   (searched and reported, for the cheese present and removed apart), with the cheese present
   and removed, against no intervention and
   the real cheese moved to the target; success by step-distance from the path to the
   top-right.
5. **Position invariance**: the activation change of moving the cheese to the target, taken
   once with the mouse at the start and added at every step while the mouse moves, restricted
   to the top channels and over the whole layer, against moving the real cheese. Channels that
   encode the cheese's place whatever the mouse's keep working when the mouse moves.
6. **Channels ranked by steering** (`steering_ranked`): the same splices restricted to the
   channels whose removal costs the whole-layer splice most (ranked on other mazes), so that a
   failure of the top tracking channels is not a failure of the ranking.
7. **Directions instead of channels** (`agents.interp.subspace`): the same splices restricted
   to the top principal directions of the cheese's move in channel space (found on other
   mazes), and the share of the move each holds against the same number of channels: a code
   in a few directions that are not channels splices well this way and badly by channel.
8. **Locality** (`locality_of`): the share of the cheese's move that sits at the cheese's two
   positions in the hooked layer (where it was and where it went) and in their 3 x 3, against
   an even spread: channel 55's code sits at the cheese; a smeared one cannot be set at one cell.
9. **Setting over the target's 3 x 3** (`area_setting`): item 4 with the top channels set at
   every position within one of the target's (their value searched again), for a code that sits
   in the cheese's neighbourhood rather than at its cell; on its own draw of targets, with its
   own no intervention and real cheese moved.

``maze_sets=[...]`` (`run_pooled`) takes all of it on several disjoint sets of mazes and pools
each agent's retargeting figures over them (`agents.interp.study_pool`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.interp.activations import (
    Setting,
    activations,
    map_position,
    patched_act_fn,
    play,
    without_cheese,
)
from agents.interp.channels import donors_for, find_cheese_channels, resample_effect
from agents.interp.retarget import Targets, reached, retarget, targets_of
from agents.interp.study_pool import pool_agent, pooled_table
from agents.interp.study_table import headline, plot_study, table
from agents.interp.subspace import channel_share, near_share, principal_directions, project
from agents.interp.value_search import pick_multiple, search_multiples, set_at
from agents.policy.hooked import HookedMazeNet, Patches
from agents.policy.loading import LoadedPolicy, load_policy
from agents.policy.metrics import rate
from agents.policy.rollout import ActFn, net_act_fn
from agents.run.folder import read_config, read_history, sweep_runs
from agents.settings.commands import StudyConfig, validate_study
from mazegen import MazeConfig, generate_levels
from mazegen.actions import ACTION_DIRECTIONS
from mazegen.files import atomic_write_bytes, jsonable, read_json_object, write_json
from mazegen.levels import (
    ANALYSIS_OFFSET,
    STUDY_MAZE_SET_STRIDE,
    STUDY_RETARGET_OFFSET,
    STUDY_SEARCH_OFFSET,
)
from mazegen.queries import has_decision_square
from mazegen.state import BatchState

# Raised whenever what `measure` records changes, so that saved measurements are taken again.
MEASUREMENTS_VERSION = 7
# Versions that only added a measurement, leaving the others as they were: saved measurements
# of the version before gain it (`_added`) instead of being taken again (half an hour a study).
# (6 changed the value search: the cheese removed searched on its own, from 0.25x.)
ADDED_IN = {5: "locality", 7: "area_setting"}
# Settings added after measurements were saved, with their defaults: at the default a setting is
# left out of the key, so what was measured before it existed stays reusable.
LATER_SETTINGS: dict[str, Any] = {"maze_set": 0}
# The area of `area_setting`: positions within this many of the target's (Chebyshev): its 3 x 3.
AREA_RADIUS = 1


@dataclass
class Agent:
    """One agent of the study and the mazes it is measured on."""

    label: str
    policy: LoadedPolicy
    net: HookedMazeNet
    hook: str
    env: MazeConfig  # training distribution, held-out levels
    test_env: MazeConfig
    start: int  # first analysis level
    behaviour_start: int  # first level of the held-out P(cheese)

    @property
    def setting(self) -> Setting:
        return Setting(self.env, self.env.eval_region, np.random.default_rng(0))


def describe(agent: Agent) -> dict[str, Any]:
    """What the agent is and what it cost: observation, network, width at the hook, steps."""
    cfg = agent.policy.config
    net = cfg.agent.network
    shape = agent.net.shapes[agent.hook]
    minutes, cpu = _compute(agent.policy.run)
    return {
        "source": agent.policy.label,
        "observation": (
            f"RGB {cfg.env.obs_size}x{cfg.env.obs_size}"
            if cfg.env.obs_mode == "rgb"
            else f"grid {cfg.env.world_size}x{cfg.env.world_size}"
        ),
        "actions": agent.net.shapes["fc_policy"][0],
        "network": _network(net),
        "hook": agent.hook,
        "hook_shape": list(shape),
        "parameters": int(sum(p.numel() for p in agent.policy.model.policy.parameters())),
        "steps": agent.policy.steps,
        "train_minutes": minutes,
        "cpu": cpu,
        "world": cfg.env.world_size,
        "sizes": [cfg.env.min_size, cfg.env.max_size],
        "cheese_region": cfg.env.cheese_region,
    }


def _compute(run: Path) -> tuple[float | None, str | None]:
    """Training minutes and the CPU they were spent on: from ``metrics.json``; for runs that
    predate its ``machine`` field, from a shipped policy's ``provenance.json`` or the run's
    ``train.log``."""
    metrics = read_json_object(run / "metrics.json")
    provenance = read_json_object(run / "provenance.json")
    cpu = metrics.get("machine") or provenance.get("machine")
    starts = provenance.get("machines") or [
        h for h in read_history(run) if isinstance(h, dict) and h.get("machine")
    ]
    kinds = list(dict.fromkeys(str(h.get("machine")) for h in starts if isinstance(h, dict)))
    if len(kinds) > 1:  # a run that moved between CPUs: each, in order
        cpu = " then ".join(kinds)
    log_file = run / "train.log"
    if cpu is None and log_file.is_file():
        marker = "compute: CPU ("
        line = next((x for x in log_file.read_text().splitlines() if marker in x), "")
        cpu = line.partition(marker)[2].partition(")")[0] or None
    minutes = metrics.get("train_minutes_total")
    if minutes is None:  # a shipped policy trained before metrics recorded it
        minutes = read_json_object(run / "provenance.json").get("train_minutes")
    return minutes, cpu


def _network(net: Any) -> str:
    """The network in a few words: its kind and channel widths."""
    if net.kind == "small":
        return f"small CNN, 4 x {net.channels} channels"
    widths = list(net.widths) or [16 * net.scale, 32 * net.scale, 32 * net.scale]
    return "IMPALA, blocks of " + "-".join(str(w) for w in widths) + " channels"


def behaviour(agent: Agent, mazes: int) -> dict[str, Any]:
    """P(cheese) on both distributions and on test mazes with a decision square."""
    levels = range(agent.behaviour_start, agent.behaviour_start + mazes)
    act = net_act_fn(agent.net, agent.net.device)
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for dist, env in (("train", agent.env), ("test", agent.test_env)):
        states = generate_levels(levels, env)
        ep = play(act, states, Setting(env, agent.env.eval_region, rng))
        out[dist] = rate(ep.success)
        if dist == "test":
            out["test_decision_square"] = rate(ep.success[has_decision_square(states)])
    return out


def resampling(
    agent: Agent, cfg: StudyConfig, ranked: list[int], rng: np.random.Generator
) -> dict[str, Any]:
    """The 2023 resampling test on the top ``cfg.resample_channels`` channels and on three random
    sets of the same size (mean absolute change of the action probabilities)."""
    states = generate_levels(range(agent.start, agent.start + cfg.resample_mazes), agent.test_env)
    pool_start = agent.start + 2 * cfg.resample_mazes
    pool = generate_levels(range(pool_start, pool_start + 4 * cfg.resample_mazes), agent.test_env)
    top = ranked[: cfg.resample_channels]
    per = 10

    def effect(channels: list[int], same: bool) -> float:
        donors, keep = donors_for(states, pool, same)
        eff = resample_effect(
            agent.net, agent.hook, states.take(keep), donors, agent.test_env, channels, per, rng
        )
        return float(eff.mean())

    n = len(ranked)
    randoms = [sorted(rng.choice(n, size=len(top), replace=False).tolist()) for _ in range(3)]
    return {
        "channels": top,
        "same_place": effect(top, True),
        "elsewhere": effect(top, False),
        "random_elsewhere": [effect(r, False) for r in randoms],
    }


def _set_at(
    agent: Agent, channels: list[int], pos: np.ndarray, value: float, radius: int = 0
) -> ActFn:
    return set_at(agent.net, agent.hook, channels, pos, value, radius)


def _splice_once(agent: Agent, delta: torch.Tensor, channels: list[int] | None) -> ActFn:
    """Adds ``delta[i]`` (maze i's activation change, restricted to ``channels``) at every
    step, wherever the mouse is."""
    if channels is not None:
        keep = torch.zeros_like(delta)
        keep[:, channels] = 1.0
        delta = delta * keep

    def patches(idx: np.ndarray) -> Patches:
        d = delta[torch.as_tensor(idx)]
        return {agent.hook: lambda x: x + d.to(x.dtype)}

    return patched_act_fn(agent.net, patches)


def _targets(
    agent: Agent, offset: int, mazes: int, cfg: StudyConfig, rng: np.random.Generator
) -> tuple[Targets, BatchState, np.ndarray]:
    """Targets on ``mazes`` training-distribution mazes from ``agent.start + offset``: the
    targets, the start state of each target's episode, its position in the hooked layer."""
    first = agent.start + offset
    base = generate_levels(range(first, first + mazes), agent.env)
    targets = targets_of(base, cfg.targets_per_maze, rng)
    pos = map_position(targets.squares, agent.env.world_size, agent.net.shapes[agent.hook])
    return targets, base.take(targets.maze), pos


def best_multiple(
    agent: Agent,
    cfg: StudyConfig,
    channels: list[int],
    largest: float,
    rng: np.random.Generator,
    radius: int = 0,
) -> dict[str, Any]:
    """The multiples of ``largest`` at which setting ``channels`` at the target (and within
    ``radius`` of it) retargets best, with the cheese present (``multiple``) and removed
    (``multiple_removed``: a value that competes with the cheese need not be the one that
    replaces it), on search mazes disjoint from the measured ones; ``tried`` and
    ``tried_removed`` hold the success of every multiple (the smallest wins a tie)."""
    targets, states, pos = _targets(agent, STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg, rng)
    conditions = {"": states, "_removed": without_cheese(states)}
    searched = search_multiples(
        agent.net,
        agent.hook,
        conditions,
        targets,
        pos,
        channels,
        largest,
        cfg.multiples,
        agent.setting,
        ACTION_DIRECTIONS[agent.env.action_mode],
        cfg.budget_factor,
        radius,
    )
    found: dict[str, Any] = {}
    for name, tried in searched.items():
        found["multiple" + name] = pick_multiple(tried, cfg.multiples)
        found["tried" + name] = tried
    return found


def _cheese_move(
    agent: Agent, states: BatchState, targets: Targets
) -> tuple[BatchState, torch.Tensor]:
    """The mazes with the cheese moved to the targets, and the activation change that makes."""
    moved = states.placed(cheese=targets.squares.copy())
    delta = activations(agent.net, agent.hook, moved, agent.env) - activations(
        agent.net, agent.hook, states, agent.env
    )
    return moved, delta


@dataclass(frozen=True)
class SearchMove:
    """The cheese moved to the targets of the search mazes (disjoint from the measured ones)."""

    targets: Targets
    states: BatchState
    delta: torch.Tensor  # [targets, C, H, W] the activation change of the move


def search_move(agent: Agent, cfg: StudyConfig) -> SearchMove:
    """The cheese's move on the search mazes, from which steering and directions are ranked.
    Its own generator: the other measurements draw the same targets as without it."""
    rng = np.random.default_rng([cfg.seed, 1])
    targets, states, _ = _targets(agent, STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg, rng)
    _, delta = _cheese_move(agent, states, targets)
    return SearchMove(targets, states, delta)


def directions_of(move: SearchMove, counts: list[int]) -> dict[str, Any]:
    """The principal directions of the cheese's move on the search mazes, and the share of the
    move that the top ``k`` directions and the top ``k`` channels hold, for each ``k``."""
    directions, share = principal_directions(move.delta)
    by_channel = channel_share(move.delta)
    ks = sorted({min(k, len(share)) for k in counts})
    return {
        "directions": directions,
        "counts": ks,
        "share": [float(share[k - 1]) for k in ks],
        "channel_share": [float(by_channel[k - 1]) for k in ks],
    }


def locality_of(agent: Agent, move: SearchMove) -> dict[str, float]:
    """Where the cheese's move on the search mazes sits in the hooked layer: its share at the
    cheese's old and new positions (``cell``) and in their 3 x 3 (``3x3``), and the share an
    even spread over the map would put in the cells (``even``)."""
    shape = agent.net.shapes[agent.hook]
    world = agent.env.world_size
    before = map_position(move.states.cheese, world, shape)
    after = map_position(move.targets.squares, world, shape)
    cells = torch.as_tensor(np.stack([before, after], axis=1))  # [targets, 2, 2]
    h, w = shape[-2:]
    return {
        "cell": near_share(move.delta, cells, 0),
        "3x3": near_share(move.delta, cells, 1),
        "even": 2.0 / (h * w),
    }


def steering_ranked(agent: Agent, cfg: StudyConfig, move: SearchMove) -> dict[str, Any]:
    """Channels ranked by what they carry of the steering signal, not by tracking: on the
    search mazes, how much the whole layer's splice (computed once) loses without each channel.
    A code held by a few channels shows a few large losses; a distributed one, many small.

    The whole layer and its C leave-one-out splices play as one batch of ``(C + 1) x targets``
    episodes: one rollout instead of C + 1 (each row adds its target's move under its mask)."""
    targets, states, delta = move.targets, move.states, move.delta  # delta [T, C, H, W]
    t, n = len(targets.maze), agent.net.shapes[agent.hook][0]
    keep = torch.ones(n + 1, n, dtype=delta.dtype, device=delta.device)
    keep[1:] -= torch.eye(n, dtype=delta.dtype, device=delta.device)
    # row k * t + i: target i under mask k (k = 0: every channel; k = c + 1: all but channel c)

    def patches(idx: np.ndarray) -> Patches:
        i = torch.as_tensor(idx)
        d = delta[i % t] * keep[i // t][:, :, None, None]
        return {agent.hook: lambda x: x + d.to(x.dtype)}

    tiled = np.tile(np.arange(t), n + 1)
    hit, _ = reached(
        patched_act_fn(agent.net, patches),
        states.take(tiled),
        targets.squares[tiled],
        agent.setting,
        cfg.budget_factor,
    )
    p = hit.reshape(n + 1, t).mean(axis=1)
    loss = {c: float(p[0] - p[c + 1]) for c in range(n)}
    ranked = sorted(range(n), key=lambda c: -loss[c])
    return {"ranked": ranked, "loss": [loss[c] for c in ranked], "whole_layer": float(p[0])}


def _channel_settings(
    agent: Agent,
    cfg: StudyConfig,
    found: Any,
    ranked: list[int],
    pos: np.ndarray,
    rng: np.random.Generator,
    radius: int = 0,
) -> tuple[dict[str, Any], dict[str, tuple[ActFn, ActFn]]]:
    """The top 1 / 3 / 11 channels (``cfg.channel_counts``) set at ``pos`` (and within
    ``radius`` of it), each at its best multiple of its largest activation (`best_multiple`):
    ``"top k"`` -> what was searched and chosen, and -> the policies with the cheese present and
    removed (they differ in their value only)."""
    values: dict[str, Any] = {}
    acts: dict[str, tuple[ActFn, ActFn]] = {}
    for k in sorted({min(k, len(ranked)) for k in cfg.channel_counts}):
        channels = ranked[:k]
        largest = found.largest(channels)
        best = best_multiple(agent, cfg, channels, largest, rng, radius)
        values[f"top {k}"] = {
            "channels": channels,
            **best,
            "value": best["multiple"] * largest,
            "value_removed": best["multiple_removed"] * largest,
        }
        acts[f"top {k}"] = (
            _set_at(agent, channels, pos, values[f"top {k}"]["value"], radius),
            _set_at(agent, channels, pos, values[f"top {k}"]["value_removed"], radius),
        )
    return values, acts


def _with_settings(
    agent: Agent, states: BatchState, targets: Targets, acts: dict[str, tuple[ActFn, ActFn]]
) -> dict[str, tuple[BatchState, ActFn]]:
    """No intervention, the cheese removed, the real cheese moved to the targets, and each
    channel setting of `_channel_settings` with the cheese present and removed."""
    removed = without_cheese(states)
    plain = patched_act_fn(agent.net, lambda idx: {})
    interventions: dict[str, tuple[BatchState, ActFn]] = {
        "none": (states, plain),
        "cheese removed": (removed, plain),
        "real cheese moved": (states.placed(cheese=targets.squares.copy()), plain),
    }
    for k, (present, gone) in acts.items():
        interventions[f"{k} channels"] = (states, present)
        interventions[f"{k} channels, cheese removed"] = (removed, gone)
    return interventions


def _outcomes(
    agent: Agent,
    cfg: StudyConfig,
    interventions: dict[str, tuple[BatchState, ActFn]],
    targets: Targets,
) -> dict[str, Any]:
    """Every intervention's summary, its success also as a multiple of no intervention's and
    the real cheese's."""
    outcomes = retarget(
        interventions,
        targets,
        agent.setting,
        ACTION_DIRECTIONS[agent.env.action_mode],
        cfg.budget_factor,
    )
    results = {k: o.summary for k, o in outcomes.items()}
    none = results["none"]["success"]["p"]
    cheese = results["real cheese moved"]["success"]["p"]
    for r in results.values():
        p = r["success"]["p"]
        r["x_none"] = p / none if none else None
        r["x_real_cheese"] = p / cheese if cheese else None
    return results


def retargeting(
    agent: Agent,
    cfg: StudyConfig,
    found: Any,
    ranked: list[int],
    steering: list[int],
    directions: torch.Tensor,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Retargeting with the top channels at their best value (cheese present and removed), the
    splices computed once (top channels of each count; the whole layer), no intervention, and
    the real cheese moved; the splices of the channels ranked by ``steering`` and of the top
    principal ``directions`` (``[C, C]``, one a column) too."""
    targets, states, pos = _targets(agent, STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg, rng)
    _, delta = _cheese_move(agent, states, targets)
    values, acts = _channel_settings(agent, cfg, found, ranked, pos, rng)
    interventions = _with_settings(agent, states, targets, acts)
    # how many channels the position-invariant part of the signal needs
    for k in sorted({min(k, len(ranked)) for k in cfg.channel_counts}):
        interventions[f"top {k} splice, computed once"] = (
            states,
            _splice_once(agent, delta, ranked[:k]),
        )
        interventions[f"steering top {k} splice, computed once"] = (
            states,
            _splice_once(agent, delta, steering[:k]),
        )
        interventions[f"directions top {k} splice, computed once"] = (
            states,
            _splice_once(agent, project(delta, directions, k), None),
        )
    interventions["whole-layer splice, computed once"] = (states, _splice_once(agent, delta, None))
    results = _outcomes(agent, cfg, interventions, targets)
    return {"targets": int(len(targets.maze)), "values": values, "interventions": results}


def area_setting(agent: Agent, cfg: StudyConfig, found: Any, ranked: list[int]) -> dict[str, Any]:
    """Retargeting with the top channels set over the target's 3 x 3 (`AREA_RADIUS`), cheese
    present and removed, each at its own best multiple (searched as `best_multiple` does),
    against no intervention and the real cheese moved on the same targets. Its own generator and
    targets, so that it can be added to measurements taken before it."""
    rng = np.random.default_rng([cfg.seed, 2])
    targets, states, pos = _targets(agent, STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg, rng)
    values, acts = _channel_settings(agent, cfg, found, ranked, pos, rng, AREA_RADIUS)
    return {
        "radius": AREA_RADIUS,
        "targets": int(len(targets.maze)),
        "values": values,
        "interventions": _outcomes(
            agent, cfg, _with_settings(agent, states, targets, acts), targets
        ),
    }


def study_agent(label: str, policy: LoadedPolicy, cfg: StudyConfig) -> Agent:
    """The agent as the study measures it: its hooked layer and held-out mazes."""
    env = policy.config.env.held_out()
    shift = cfg.maze_set * STUDY_MAZE_SET_STRIDE
    return Agent(
        label,
        policy,
        policy.net,
        policy.net.resolve(cfg.hook),
        env,
        env.test_distribution(),
        policy.config.eval.start_level + ANALYSIS_OFFSET + shift,
        policy.config.eval.start_level + shift,
    )


def _channels(agent: Agent, cfg: StudyConfig) -> tuple[Any, list[int], list[float]]:
    """Every channel of the hooked layer ranked by tracking the cheese (`find_cheese_channels`
    on ``cfg.mazes`` test mazes): the finding, the ranking, each one's tracking accuracy."""
    net, hook = agent.net, agent.hook
    states = generate_levels(range(agent.start, agent.start + cfg.mazes), agent.test_env)
    found = find_cheese_channels(net, hook, states, agent.test_env, top=net.shapes[hook][0])
    return found, [r["channel"] for r in found.top], [r["tracking_accuracy"] for r in found.top]


def measure(agent: Agent, cfg: StudyConfig) -> dict[str, Any]:
    """Every measurement of the study on one agent."""
    label = agent.label
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    found, ranked, accuracy = _channels(agent, cfg)
    result: dict[str, Any] = {
        "label": label,
        "agent": describe(agent),
        "behaviour": behaviour(agent, cfg.behaviour_mazes),
        "channels": {
            "ranked": ranked[:16],
            "tracking_accuracy": accuracy[:16],
            "passing": int(sum(a >= cfg.tracking_threshold for a in accuracy)),
            "threshold": cfg.tracking_threshold,
        },
        "resampling": resampling(agent, cfg, ranked, rng),
    }
    move = search_move(agent, cfg)
    steering = steering_ranked(agent, cfg, move)
    result["steering"] = {k: v[:16] if isinstance(v, list) else v for k, v in steering.items()}
    directions = directions_of(move, cfg.channel_counts)
    result["directions"] = {k: v for k, v in directions.items() if k != "directions"}
    result["locality"] = locality_of(agent, move)
    result["retargeting"] = retargeting(
        agent, cfg, found, ranked, steering["ranked"], directions["directions"], rng
    )
    result["area_setting"] = area_setting(agent, cfg, found, ranked)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def measurement_key(policy: LoadedPolicy, cfg: StudyConfig) -> dict[str, Any]:
    """What one agent's measurements depend on: its weights (checkpoint file, size, steps) and
    every setting of the measurement (not the list of runs, the labels or the report folder).
    The checkpoint's path is relative to the working directory where it lies inside it, so that
    a committed report is reused by any checkout of the project."""
    ignored = {"runs", "labels", "sweep", "out", "torch_threads", "maze_sets"}
    source = policy.source.resolve()
    here = Path.cwd().resolve()
    settings = {
        k: v
        for k, v in vars(cfg).items()
        if k not in ignored and not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])
    }
    return {
        "measurements": MEASUREMENTS_VERSION,
        "checkpoint": str(source.relative_to(here) if source.is_relative_to(here) else source),
        "bytes": policy.source.stat().st_size,
        "steps": policy.steps,
        "settings": settings,
    }


def _reusable(part: Path, key: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """A finished agent's saved measurements when they were taken under ``key``, or under an
    older version whose successors only added measurements, with the names of those to add: a
    study that is stopped (or extended by an agent) does not measure the finished agents again.
    """
    saved = read_json_object(part)
    result, old = saved.get("result"), saved.get("key")
    if not isinstance(result, dict) or not isinstance(old, dict):
        return None
    want = json.loads(json.dumps(jsonable(key)))
    version = old.get("measurements")
    if not isinstance(version, int) or {**old, "measurements": want["measurements"]} != want:
        return None
    later = range(version + 1, want["measurements"] + 1)
    if not all(v in ADDED_IN for v in later):
        return None
    return result, [ADDED_IN[v] for v in later]


def _added(agent: Agent, cfg: StudyConfig, name: str) -> Any:
    """The measurement ``name`` of `ADDED_IN`, exactly as `measure` takes it."""
    if name == "locality":
        return locality_of(agent, search_move(agent, cfg))
    if name == "area_setting":
        found, ranked, _ = _channels(agent, cfg)
        return area_setting(agent, cfg, found, ranked)
    raise ValueError(f"no way to add the measurement {name!r}")


def labelled_runs(cfg: StudyConfig) -> list[tuple[str, str]]:
    """``(label, run)`` of every agent: ``cfg.runs`` (labelled by ``cfg.labels`` or their folder
    names), then the trained runs of ``cfg.sweep`` labelled by their experiment's name (and
    their folder's where two share one)."""
    given = list(zip(list(cfg.labels) or [Path(r).name for r in cfg.runs], cfg.runs))
    if cfg.sweep is None:
        return given
    swept = [(read_config(run).name, run) for run in sweep_runs(cfg.sweep)]
    names = [name for name, _ in given + swept]
    return given + [
        (f"{name}_{run.name}" if names.count(name) > 1 else name, str(run)) for name, run in swept
    ]


def run_study(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Measures every agent of ``cfg.runs`` and ``cfg.sweep``; writes ``study.json``,
    ``study.md`` and ``study.png``.

    Each agent's measurements are also written to ``<out>/agents/<label>.json`` as soon as they
    are taken, and read back instead of measured again while its checkpoint and the settings
    are unchanged.
    """
    validate_study(cfg)
    torch.set_num_threads(cfg.torch_threads)
    out = Path(cfg.out)
    results = []
    for label, run in labelled_runs(cfg):
        policy = load_policy(run)
        agent = study_agent(label, policy, cfg)
        key = measurement_key(policy, cfg)
        part = out / "agents" / f"{label}.json"
        reused = _reusable(part, key)
        if reused is None:
            r = measure(agent, cfg)
            write_json(part, {"key": key, "result": r})
        else:
            r, missing = reused
            print(f"{label}: measured before with these settings, read from {part}")
            if missing:
                r = {**r, **{name: _added(agent, cfg, name) for name in missing}}
                print(f"{label}: added {', '.join(missing)} (new since it was measured)")
                write_json(part, {"key": key, "result": r})
            r = {**r, "label": label, "agent": describe(agent)}
        results.append(r)
        h = headline(r)

        def x(v: float | None) -> str:
            return "–" if v is None else f"{v:.2f}x"

        print(
            f"{label}: best {h['best_channels']} x{h['best_multiple']:g}: "
            f"{x(h['x_none'])} none, {x(h['x_real_cheese'])} the real cheese "
            f"(removed: {h['best_channels_removed']} x{h['best_multiple_removed']:g}: "
            f"{x(h['x_none_removed'])}, {x(h['x_real_cheese_removed'])}) "
            f"[{r['seconds']} s]",
            flush=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", {"settings": vars(cfg), "agents": results})
    lines = [f"# The study: {len(results)} agents", "", *table(results), ""]
    atomic_write_bytes(out / "study.md", "\n".join(lines).encode())
    plot_study(results, out / "study.png")
    print("\n".join(table(results)))
    print(f"report: {out}")
    return results


def run_pooled(cfg: StudyConfig) -> list[dict[str, Any]]:
    """Measures every agent on each set of ``cfg.maze_sets`` (a study per set, in
    ``<out>/set<k>``, reused like any study's) and pools each agent's figures over the sets;
    writes ``pooled.json`` and ``pooled.md`` in ``out``."""
    validate_study(cfg)
    out = Path(cfg.out)
    per_set = {
        k: run_study(replace(cfg, maze_set=k, maze_sets=[], out=str(out / f"set{k}")))
        for k in cfg.maze_sets
    }
    agents = [
        pool_agent({k: results[i] for k, results in per_set.items()})
        for i in range(len(per_set[cfg.maze_sets[0]]))
    ]
    write_json(out / "pooled.json", {"settings": vars(cfg), "agents": agents})
    lines = [f"# The study pooled over maze sets {list(cfg.maze_sets)}", "", *pooled_table(agents)]
    atomic_write_bytes(out / "pooled.md", "\n".join([*lines, ""]).encode())
    print("\n".join(lines[2:]))
    print(f"pooled report: {out}")
    return agents
