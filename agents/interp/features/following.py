"""Retargeting with the follow map on fresh maze sets: ``python -m experiments.sae follow-map``.

Fits the follow map (`agents.interp.features.follow_map`) of an SAE's top ``n`` move features
(``n = max(counts)``, ranked on the fit targets) along the mouse's paths, on
``follow_mazes`` fit mazes of ``maze_set`` (`FIT_OFFSET`: apart from every maze set's search
and retargeting mazes). Then, on each of ``maze_sets``, with the targets `retarget-features`
draws there: its scale picked among ``follow_scales`` on the search targets
(`STUDY_SEARCH_OFFSET`), and on the retargeting targets (`STUDY_RETARGET_OFFSET`, which pick
nothing) no intervention, the cheese removed, the real cheese moved, the maze's bound, the
features' own change at every step (what the map imitates; not an intervention one could make
without running the network on the changed observation) and the map at every scale tried, all
from the same state of the sampler (`paired`); pooled over the sets, with the map at each set's
picked scale as one row (`PICKED`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.interp.features.ceiling import cheese_shown
from agents.interp.features.dictionaries import paired, pooled_figures, pooled_lines
from agents.interp.features.dictionary import Sae, load_sae
from agents.interp.features.every_step import EVERY_STEP, every_step_splice
from agents.interp.features.follow_fit import changes_at, fit_follow_map
from agents.interp.features.follow_map import (
    FollowMap,
    episode_planes,
    follow_inputs,
    follow_label,
    follow_row,
)
from agents.interp.features.rows import move_features
from agents.interp.interventions import Trial, successes
from agents.interp.study.agent import study_agent
from agents.interp.study.retargeting import baselines
from agents.policy.loading import LoadedPolicy
from agents.settings.levels import FIT_OFFSET, STUDY_RETARGET_OFFSET, STUDY_SEARCH_OFFSET
from agents.settings.sae import SaeConfig
from mazegen.queries import shortest_path
from mazegen.render import observe

#: How the pooled row of the map at each set's search-picked scale is named (after the map's).
PICKED = ", the scale each set's search picked"


def follow_measure(
    policy: LoadedPolicy, cfg: SaeConfig, figure: Path | None = None
) -> dict[str, Any]:
    """Fits the map, then plays it on every maze set (the module's docstring); the result as
    JSON, the map's weights in it (``"weights"``, `FollowMap.to_json`). With ``figure``, draws
    `plot_follow_map` there on the first set's first target."""
    t0 = time.perf_counter()
    agent = study_agent(policy.run.name, policy, cfg.hook, cfg.maze_set)
    sae, _ = load_sae(policy, agent.hook, cfg.tag)
    n = min(max(cfg.counts), sae.width)
    rng = np.random.default_rng([cfg.seed, 38, 4])
    fit = agent.trial(FIT_OFFSET, cfg.follow_mazes, cfg.targets_per_maze, rng, 2.0)
    features = move_features(sae, fit)[:n]
    fmap, fitted = fit_follow_map(
        sae, fit, features, cfg.follow_steps, cfg.seed, cfg.follow_width, cfg.follow_layer
    )
    fit_minutes = (time.perf_counter() - t0) / 60
    picked_label = f"top {n} move features' {fmap.name}{PICKED}{EVERY_STEP}"
    hits: dict[str, list[np.ndarray]] = {}
    sets: dict[str, dict[str, float]] = {}
    picks: dict[str, dict[str, Any]] = {}
    shown: Trial | None = None  # the first set's retargeting trial, for the figure
    for maze_set in list(cfg.maze_sets) or [cfg.maze_set]:
        here = study_agent(policy.run.name, policy, agent.hook, maze_set)
        draw = np.random.default_rng([cfg.seed, 38])  # the retargeting measurement's targets
        search = here.trial(STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg.targets_per_maze, draw, 2.0)
        trial = here.trial(
            STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg.targets_per_maze, draw, 2.0
        )
        rows = [follow_row(sae, fmap, s) for s in cfg.follow_scales]
        on_search = paired(rows, search).values()
        tried = {s: float(h.mean()) for s, h in zip(cfg.follow_scales, on_search, strict=True)}
        best = max(cfg.follow_scales, key=lambda s: tried[s])  # the first on a tie
        picks[str(maze_set)] = {"scale": best, "tried": {f"{s:g}": p for s, p in tried.items()}}
        shown = shown or trial
        got = successes(baselines(), trial)
        own = every_step_splice(sae, features, 1.0, "move ")  # what the map imitates
        got |= paired([cheese_shown(), own, *rows], trial)
        got[picked_label] = got[follow_label(fmap, best)]
        sets[str(maze_set)] = {label: float(h.mean()) for label, h in got.items()}
        for label, h in got.items():
            hits.setdefault(label, []).append(h)
    if figure is not None and shown is not None:
        figure.parent.mkdir(parents=True, exist_ok=True)
        plot_follow_map(sae, fmap, shown, figure, policy.run.name)
    return {
        "hook": agent.hook,
        "tag": cfg.tag,
        "figure": None if figure is None else figure.name,
        "features": features,
        "map": {
            "name": fmap.name,
            "fve": fmap.fve,
            "fit_set": cfg.maze_set,
            "width": cfg.follow_width,
            "steps": cfg.follow_steps,
            "minutes": fit_minutes,
            **fitted,
        },
        "picks": picks,
        "maze_sets": [int(k) for k in sets],
        "targets": len(np.concatenate(next(iter(hits.values())))),
        "sets": sets,
        "pooled": pooled_figures(hits),
        "weights": fmap.to_json(),
    }


def follow_lines(result: dict[str, Any]) -> list[str]:
    """The printed summary: the map's fit, each set's pick, every row pooled."""
    m = result["map"]
    lines = [
        f"{result['hook']}, {m['name']} of features {result['features']}: explains "
        f"{m['fve']:.3f} of their change on the held-out fit mazes' steps ({m['steps_seen']} "
        f"steps of {m['episodes']} episodes on {m['mazes']} fit mazes, {m['minutes']:.1f} min)",
        "scale picked on each set's search targets: "
        + ", ".join(f"set {k} x{p['scale']:g}" for k, p in result["picks"].items()),
        f"maze sets {result['maze_sets']} ({result['targets']} targets), cheese present, pooled:",
    ]
    return lines + pooled_lines(result["pooled"])


def plot_follow_map(sae: Sae, fmap: FollowMap, trial: Trial, path: Path, name: str) -> None:
    """The top 3 features' change on the trial's first target, the mouse halfway along its
    shortest path there: as the network computes it (the observation with the cheese on the
    target against as it is) and as the map predicts it from the maze and that square."""
    from agents.interp.plots import plot_map_pairs

    state = trial.states.take(np.array([0]))
    target = trial.targets.squares[:1]
    start = (int(state.mouse[0][0]), int(state.mouse[0][1]))
    way = shortest_path(state.walls[0], start, (int(target[0][0]), int(target[0][1])))
    state.mouse[0] = way[len(way) // 2]
    obs = observe(state, trial.setting.config)
    change, layer = changes_at(trial.net, trial.hook, sae, obs, target, fmap.features[:3])
    with torch.no_grad():
        x = follow_inputs(torch.as_tensor(obs), episode_planes(state, target))
        pred = fmap.change(sae, x, layer)[:, :3]
    pairs = {f"feature {f}": (change[0, j].numpy(), pred[0, j].numpy())
             for j, f in enumerate(fmap.features[:3])}  # fmt: skip
    r, c = (int(v) for v in target[0])
    title = (
        f"{name}, SAE at {trial.hook}: the top move features' change with the cheese on the "
        f"target ({r}, {c}), the mouse halfway there,\nas the network computes it (top) and as "
        f"the {fmap.name} predicts it (bottom); red: up"
    )
    plot_map_pairs(state[0], pairs, ("network", "follow map"), path, title, (r, c))
