"""Which dictionary can carry the cheese's move in few features, with the cheese present.

For each dictionary of the layer (``cfg.tags``) and each ``n`` of ``cfg.counts``: its top ``n``
move features (`agents.interp.features.rows.move_features`, ranked on the search mazes) with
their own change written at every step (`every_step_splice` x1: the change between the
observation with the cheese on the target and as it is, taken again at each step). No write of
those ``n`` features, fixed or predicted from the maze, can do better than their own change
following the mouse, so this is each dictionary's bound for an ``n``-feature row. A ``moves``
dictionary (the signed principal directions of the move, not sparse; ``dictionary=moves``) is
read as ``n`` directions: its features ``j`` and ``j + C`` for ``j < n`` (each of the top ``n``
directions and its opposite, `agents.interp.features.train.moves_dictionary`); a signed one
(``signed=true``, a feature going both ways along its direction) as its first ``n`` features.

Played on each of ``cfg.maze_sets``' retargeting mazes (`STUDY_RETARGET_OFFSET`) beside no
intervention, the real cheese moved and the maze's bound (`cheese_shown`), and pooled over the
sets; each row also as its share of the maze's bound's gain over no intervention. The bound and
every dictionary's rows play one by one from the same state of the sampler (`paired`): rows
whose policies agree take the same actions, so their differences are the policies', not the
draws'.

With ``cfg.per_target`` each ``n`` has a second row: as many features as the first writes (``n``;
``2n`` for ``n`` directions), those that carry most of each target's own move
(`agents.interp.features.every_step.target_picks`, picked on the played targets themselves: an
oracle's pick, like the rows' own change), so that a row may write other features at other
targets, still as many at each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.interp.features.ceiling import BOUND, cheese_shown
from agents.interp.features.dictionary import load_sae
from agents.interp.features.every_step import EVERY_STEP, every_step_splice
from agents.interp.features.rows import move_features
from agents.interp.interventions import (
    NONE,
    REAL_CHEESE_MOVED,
    Intervention,
    Trial,
    ratio,
    successes,
)
from agents.interp.study.agent import study_agent
from agents.interp.study.retargeting import baselines
from agents.policy.loading import LoadedPolicy
from agents.settings.levels import STUDY_RETARGET_OFFSET, STUDY_SEARCH_OFFSET
from agents.settings.sae import SaeConfig


def row_label(tag: str, n: int, directions: bool, per_target: bool = False) -> str:
    """A dictionary's row: ``"<tag>: top <n> move features, at every step"`` (``per_target``:
    ``"<tag>: each target's top <n> features, at every step"``)."""
    if per_target:
        what = f"each target's top {n} features"
    else:
        what = f"top {n} directions" if directions else f"top {n} move features"
    return f"{tag or '(untagged)'}: {what}{EVERY_STEP}"


def written(
    ranked: list[int], n: int, moves_width: int | None = None, signed: bool = False
) -> list[int]:
    """The features an ``n``-feature row writes: the top ``n`` of ``ranked``; of a ``moves``
    dictionary of width ``moves_width`` (2C), its top ``n`` directions, each a feature and its
    opposite: ``j`` and ``j + C`` for ``j < n``; of a ``signed`` one (C), features ``j < n``."""
    if moves_width is None:
        return ranked[:n]
    if signed:
        return list(range(min(n, moves_width)))
    half = moves_width // 2
    return [*range(min(n, half)), *range(half, half + min(n, half))]


def paired(rows: list[Intervention], trial: Trial) -> dict[str, np.ndarray]:
    """Each row's successes, every row played alone from the same state of the trial's sampler
    (common random numbers), which is left as after the last."""
    rng = trial.setting.rng
    start = rng.bit_generator.state
    got: dict[str, np.ndarray] = {}
    for row in rows:
        rng.bit_generator.state = start
        got |= successes([row], trial)
    return got


def dictionary_bounds(policy: LoadedPolicy, cfg: SaeConfig) -> dict[str, Any]:
    """Every dictionary's rows on every maze set (`row_label`), their success by set and pooled
    (``{"sets": {set: {label: p}}, "pooled": {label: figures}, "targets": K, ...}``)."""
    hook = study_agent(policy.run.name, policy, cfg.hook, cfg.maze_set).hook
    saes = {tag: load_sae(policy, hook, tag) for tag in list(cfg.tags) or [cfg.tag]}
    info = {
        tag: {
            k: meta.get(k)
            for k in (
                "dictionary",
                "width",
                "k",
                "move_weight",
                "move_within",
                "move_per_target",
                "init",
                "signed",
            )
        }  # fmt: skip
        for tag, (_, meta) in saes.items()
    }
    hits: dict[str, list[np.ndarray]] = {}
    sets: dict[str, dict[str, float]] = {}
    for maze_set in list(cfg.maze_sets) or [cfg.maze_set]:
        agent = study_agent(policy.run.name, policy, hook, maze_set)
        rng = np.random.default_rng([cfg.seed, 38])  # the retargeting measurement's targets
        search = agent.trial(STUDY_SEARCH_OFFSET, cfg.search_mazes, cfg.targets_per_maze, rng, 2.0)
        trial = agent.trial(
            STUDY_RETARGET_OFFSET, cfg.retarget_mazes, cfg.targets_per_maze, rng, 2.0
        )
        got = successes(baselines(), trial)
        rows = [cheese_shown()]
        for tag, (sae, meta) in saes.items():
            directions = meta.get("dictionary") == "moves"
            most = sae.width // 2 if directions and not sae.signed else sae.width
            # ranked again on each set's search targets (the rows' features may differ by set)
            ranked = [] if directions else move_features(sae, search)
            for n in sorted({min(n, most) for n in cfg.counts}):
                feats = written(ranked, n, sae.width if directions else None, sae.signed)
                row = every_step_splice(sae, feats, 1.0, "move ")
                rows.append(Intervention(row_label(tag, n, directions), row.build))
                if cfg.per_target:  # as many features as the row above writes
                    own = len(feats)
                    row = every_step_splice(sae, range(sae.width), 1.0, "move ", per_target=own)
                    rows.append(Intervention(row_label(tag, own, False, True), row.build))
        got |= paired(rows, trial)
        sets[str(maze_set)] = {label: float(h.mean()) for label, h in got.items()}
        for label, h in got.items():
            hits.setdefault(label, []).append(h)
    return {
        "hook": hook,
        "maze_sets": [int(k) for k in sets],
        "targets": len(np.concatenate(hits[NONE])),
        "dictionaries": info,
        "sets": sets,
        "pooled": pooled_figures(hits),
    }


def pooled_figures(hits: dict[str, list[np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Each row's successes (one ``[K]`` array a maze set) pooled over the sets: its success,
    as a multiple of no intervention's and of the real cheese moved's, and as its share of the
    maze's bound's gain over no intervention (the rows must hold these three)."""
    pooled = {label: np.concatenate(h) for label, h in hits.items()}
    none, real = float(pooled[NONE].mean()), float(pooled[REAL_CHEESE_MOVED].mean())
    bound = float(pooled[BOUND].mean())
    return {
        label: {
            "p": float(h.mean()),
            "x_none": ratio(float(h.mean()), none),
            "x_real_cheese": ratio(float(h.mean()), real),
            "share_of_bound": (float(h.mean()) - none) / (bound - none) if bound > none else None,
        }
        for label, h in pooled.items()
    }


def dictionary_lines(result: dict[str, Any]) -> list[str]:
    """The printed table: each row pooled over the maze sets."""
    lines = [
        f"{result['hook']}, maze sets {result['maze_sets']} ({result['targets']} targets), "
        "cheese present, pooled:"
    ]
    return lines + pooled_lines(result["pooled"])


def pooled_lines(pooled: dict[str, dict[str, Any]]) -> list[str]:
    """One printed line a row of `pooled_figures`."""
    lines = []
    for label, f in pooled.items():
        ratios = [
            f"{f[key]:.2f}x {name}"
            for key, name in (("x_none", "none"), ("x_real_cheese", "real cheese"))
            if f[key] is not None
        ]
        if f["share_of_bound"] is not None:
            ratios.append(f"{f['share_of_bound']:.2f} of the bound's gain")
        lines.append(f"- {label}: {f['p']:.3f}" + (f" ({'; '.join(ratios)})" if ratios else ""))
    return lines
