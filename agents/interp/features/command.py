"""``python -m experiments.sae <action> run=<policy>``: train a policy's SAE and measure its
features (`agents.settings.sae.SaeConfig`). Each action prints its figures and writes them as
JSON into the report folder (default: the policy's ``sae`` report folder)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.interp.features.conv_map import map_from_json
from agents.interp.features.dictionaries import dictionary_bounds, dictionary_lines
from agents.interp.features.dictionary import load_sae, measured_path, sae_path, save_sae
from agents.interp.features.find import find_cheese_features, resample_features
from agents.interp.features.following import follow_lines, follow_measure
from agents.interp.features.layers import layer_ceilings, layer_lines
from agents.interp.features.retarget import measure
from agents.interp.features.train import (
    collect,
    fit,
    move_fve,
    move_pairs,
    moves_dictionary,
    moves_directions,
    p_cheese_share,
    reconstruction,
)
from agents.interp.features.wall_map import placed_changes
from agents.interp.study.agent import Agent, study_agent
from agents.policy.loading import LoadedPolicy, load_policy
from agents.settings.levels import ANALYSIS_OFFSET, FIT_OFFSET, STUDY_RETARGET_OFFSET
from agents.settings.sae import SaeConfig, validate_sae
from mazegen import generate_levels
from mazegen.files import write_json


def machine() -> str:
    """The CPU, as lscpu names it, and torch's CPU capability."""
    name = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            break
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


def plot_features(tests: Any, found: Any, path: Path, hook: str, name: str) -> None:
    """The top 4 cheese features' change maps on the first test maze whose cheese each of the
    four tracks best (the maze where their summed change peaks at the cheese most)."""
    from agents.interp.plots import plot_channel_maps

    top = found.ranked[:4]
    i = int(found.diff[:, top].clip(min=0).sum(axis=(1, 2, 3)).argmax())
    maps = {f"feature {j} diff": found.diff[i, j] for j in top}
    title = (
        f"{name}, SAE at {hook}: each feature with the cheese minus without it, the top 4 "
        f"cheese-tracking features, test maze {i} (red: higher with the cheese)"
    )
    plot_channel_maps(tests[i], maps, path, title)


def plot_best_map(agent: Agent, sae: Any, best: dict[str, Any], path: Path, name: str) -> bool:
    """When the search's best row writes a map of the maze (`best["wall_map"]`): its top 3
    features' change on the first retargeting maze with the cheese on a random open square, as
    the network computes it and as the map predicts it; False when there is none."""
    from agents.interp.plots import plot_map_pairs

    if not best.get("wall_map"):
        return False
    mazemap = map_from_json(best["wall_map"])
    first = agent.start + STUDY_RETARGET_OFFSET
    maze = generate_levels(range(first, first + 1), agent.env)
    rng = np.random.default_rng(0)
    feats = mazemap.features[:3]
    placed, squares, change = placed_changes(agent.net, agent.hook, sae, maze, agent.test_env,
                                             feats, rng, 1)  # fmt: skip
    pred = mazemap.take(len(feats)).predict(placed, squares, change.shape[2:])
    pairs = {f"feature {f}": (change[0, j], pred[0, j]) for j, f in enumerate(feats)}
    title = (
        f"{name}, SAE at {agent.hook}: the top move features' change with the cheese there\n"
        f"as the network computes it (top) and as the {mazemap.name} predicts it (bottom); red: up"
    )
    plot_map_pairs(placed[0], pairs, ("network", mazemap.name), path, title)
    return True


def train(policy: LoadedPolicy, agent: Agent, cfg: SaeConfig) -> dict[str, Any]:
    """Collects, trains, measures and saves the SAE; returns its info."""
    env = policy.config.env
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    held = range(agent.start + FIT_OFFSET, agent.start + FIT_OFFSET + 50)
    learned = cfg.dictionary == "learned"
    move: torch.Tensor | None = None
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None  # the move loss's: pairs or maps
    maps: tuple[torch.Tensor, torch.Tensor] | None = None  # ([K, C, H, W], [K, C, H, W])
    flat: tuple[torch.Tensor, torch.Tensor] | None = None  # their pairs, ([M, C], [M, C])
    if not learned or cfg.init != "random" or cfg.move_weight > 0:
        # the moves of mazes after the held-out ones
        trial = agent.trial(FIT_OFFSET + 50, cfg.rollout_mazes, cfg.targets_per_maze, rng, 2.0)
        with torch.no_grad():
            move = trial.cheese_move  # [targets, C, H, W]
            if cfg.move_weight > 0:
                maps = trial.layer_played_and_moved
                flat = move_pairs(*maps)
                pairs = maps if cfg.move_per_target else flat
    if move is not None and not learned:
        sae, vectors = moves_dictionary(move, cfg.signed), move.shape[0] * move[0, 0].numel()
        losses: list[float] = []
    else:
        data = collect(agent.net, agent.hook, env, range(env.start_level, env.start_level +
                       cfg.rollout_mazes), cfg.removed_share, rng)  # fmt: skip
        paired = cfg.init == "moves-paired"
        init = (
            None
            if move is None or cfg.init == "random"
            else moves_directions(move, paired, cfg.signed)
        )
        fixed = cfg.init == "moves-fixed"
        sae, losses = fit(
            data, cfg.width, cfg.k, cfg.steps, cfg.batch, cfg.lr, cfg.l1, cfg.seed, init, fixed,
            pairs, cfg.move_weight, cfg.move_within, cfg.move_per_target, cfg.signed,
        )  # fmt: skip
        vectors = len(data)
    minutes = (time.perf_counter() - t0) / 60
    quality = reconstruction(sae, collect(agent.net, agent.hook, agent.env, held, 0.0, rng))
    if maps is not None and flat is not None:  # on the training moves
        quality["move_fve"] = move_fve(sae, *flat)
        if cfg.move_within:
            quality["move_fve_within"] = move_fve(sae, *flat, within=cfg.move_within)
        if cfg.move_per_target:
            quality["move_fve_per_target"] = move_fve(sae, *maps, per_target=cfg.move_per_target)
    quality["p_cheese"] = p_cheese_share(
        agent.net, agent.hook, sae, agent.env, range(agent.behaviour_start,
        agent.behaviour_start + cfg.eval_mazes), cfg.seed,
    )  # fmt: skip
    info = {
        "hook": agent.hook,
        "dictionary": cfg.dictionary,
        "init": cfg.init if learned else None,
        "signed": cfg.signed,
        "move_weight": cfg.move_weight if learned else None,
        "move_within": cfg.move_within if learned and cfg.move_weight > 0 else None,
        "move_per_target": cfg.move_per_target if learned and cfg.move_weight > 0 else None,
        "width": sae.width,
        "k": sae.k,
        "l1": cfg.l1 if learned and cfg.k == 0 else None,
        "steps": cfg.steps if learned else 0,
        "rollout_mazes": cfg.rollout_mazes,
        "removed_share": cfg.removed_share,
        "train_vectors": vectors,
        "train_minutes": minutes,
        "cpu": machine(),
        "losses": losses[-3:],
        "quality": quality,
    }
    path = sae_path(policy, agent.hook, cfg.tag)
    save_sae(sae, path, info)
    info["path"] = str(path)
    return info


def lines_of(action: str, result: dict[str, Any]) -> list[str]:
    """The printed summary of an action's result."""
    if action == "train":
        q = result["quality"]
        return [
            f"saved {result['path']}: FVE {q['fve']:.3f}, mean L0 {q['mean_l0']:.2f}, dead "
            f"{q['dead']}/{q['width']}, P(cheese) spliced {q['p_cheese']['spliced']:.3f} / "
            f"{q['p_cheese']['original']:.3f} = {q['p_cheese']['share']:.3f} of the original "
            f"({result['train_minutes']:.1f} min, {result['cpu']})"
        ] + (
            [f"the features' change holds {q['move_fve']:.3f} of the cheese's move (its fit's)"]
            if "move_fve" in q
            else []
        ) + (
            [f"the first {result['move_within']} features' change holds "
             f"{q['move_fve_within']:.3f} of it"]
            if "move_fve_within" in q
            else []
        ) + (
            [f"each target's own top {result['move_per_target']} features' change holds "
             f"{q['move_fve_per_target']:.3f} of its move (over the whole map)"]
            if "move_fve_per_target" in q
            else []
        )  # fmt: skip
    if action == "find-features":
        return [
            f"- feature {r['feature']}: tracking {r['tracking_accuracy']:.3f}"
            for r in result["top"]
        ]
    if action == "resample-features":
        return [
            f"features {result['features']}: same place {100 * result['cheese_same_place']:.2f} %, "
            f"elsewhere {100 * result['cheese_elsewhere']:.2f} %; random "
            + ", ".join(f"{100 * x:.2f} %" for x in result["random_elsewhere"])
        ]
    if action == "layers":
        return layer_lines(result)
    if action == "dictionaries":
        return dictionary_lines(result)
    if action == "follow-map":
        return follow_lines(result)
    lines = []
    if result.get("wall_map"):
        w = result["wall_map"]
        lines.append(
            f"wall map r{w['radius']}: explains {w['fve']:.3f} of the move features' change on "
            f"held-out mazes (the averaged map {w['fve_averaged']:.3f})"
        )
    if result.get("conv_map"):
        c = result["conv_map"]
        lines.append(
            f"conv map ({c['mazes']} fit mazes, {c['steps']} steps): explains {c['fve']:.3f} of "
            "the move features' change on held-out mazes"
        )
    for label, r in result["interventions"].items():
        ok = r.get("success_not_behind_cheese")
        lines.append(
            f"- {label}: {r['success']['p']:.3f} ({r['x_none']:.2f}x none, "
            f"{r['x_real_cheese']:.2f}x real cheese)"
            + ("" if ok is None else f"; targets not behind the cheese {ok['p']:.3f}")
        )
    return lines


def run_sae(cfg: SaeConfig) -> dict[str, Any]:
    """Runs ``cfg.action``; prints and saves its result."""
    validate_sae(cfg)
    torch.set_num_threads(cfg.torch_threads)
    policy = load_policy(cfg.run)
    agent = study_agent(policy.run.name, policy, cfg.hook, cfg.maze_set)
    tagged = agent.hook + (f"-{cfg.tag}" if cfg.tag and cfg.action != "dictionaries" else "")
    layer = () if cfg.action == "layers" else (tagged,)
    out = Path(cfg.out) if cfg.out else policy.report_dir("sae", *layer)
    if cfg.action == "train":
        result = train(policy, agent, cfg)
    elif cfg.action in ("layers", "dictionaries", "follow-map"):
        t0 = time.perf_counter()
        if cfg.action == "follow-map":
            result = follow_measure(policy, cfg, out / "follow_map.png")
        else:
            measured = layer_ceilings if cfg.action == "layers" else dictionary_bounds
            result = measured(policy, cfg)
        result["cpu"] = machine()
        result["minutes"] = (time.perf_counter() - t0) / 60
        if cfg.action == "follow-map" and not cfg.out:  # the map kept beside the SAE
            kind = "follow-map-layer" if cfg.follow_layer else "follow-map"
            write_json(measured_path(policy, result["hook"], cfg.tag, kind), result)
    else:
        sae, info = load_sae(policy, agent.hook, cfg.tag)
        tests = generate_levels(range(agent.start, agent.start + cfg.mazes), agent.test_env)
        if cfg.action == "find-features":
            found = find_cheese_features(agent.net, agent.hook, sae, tests, agent.test_env)
            result = {"hook": agent.hook, "top": found.top(16), "figure": "feature_maps.png"}
            out.mkdir(parents=True, exist_ok=True)
            plot_features(tests, found, out / "feature_maps.png", agent.hook, policy.run.name)
        elif cfg.action == "resample-features":
            found = find_cheese_features(agent.net, agent.hook, sae, tests, agent.test_env)
            first = agent.start + ANALYSIS_OFFSET // 2
            pool = generate_levels(range(first, first + 4 * cfg.mazes), agent.test_env)
            rng = np.random.default_rng(cfg.seed)
            result = resample_features(
                agent.net, agent.hook, sae, tests, pool, agent.test_env, found.ranked[:3], rng
            )
        else:
            t0 = time.perf_counter()
            erase_sae = None  # the upstream rows' SAE, by its tag ("" the untagged one)
            if cfg.erase_hook and cfg.erase_tag is not None:
                erase_sae, _ = load_sae(policy, cfg.erase_hook, cfg.erase_tag)
            result = measure(agent, sae, cfg, erase_sae)
            result["minutes"] = (time.perf_counter() - t0) / 60
            result["cpu"] = machine()
            result["sae"] = {k: info.get(k) for k in ("width", "k", "removed_share", "quality")}
            out.mkdir(parents=True, exist_ok=True)
            if plot_best_map(agent, sae, result["best_present"], out / "best_map.png",
                             policy.run.name):  # fmt: skip
                result["figure"] = "best_map.png"
            if not cfg.out:  # the measurement the study's table reads, beside the SAE
                write_json(measured_path(policy, agent.hook, cfg.tag), result)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / f"{cfg.action}.json", result)
    for line in lines_of(cfg.action, result):
        print(line)
    return result
