"""Train/test behaviour divergence of a policy: the analyses behind `experiments.evaluate`.

- both distributions on held-out levels (`summarize` rates with intervals, steps vs. BFS);
- the off-path subset: test mazes with a decision square, and the way taken there;
- paired mazes: the same maze with the cheese in the region and moved outside it, compared by
  outcome and by the policy's action distributions (total variation, KL) on every open square;
- a behavioural regression of success on maze features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.interp.regression import behavioural_regression
from agents.policy.metrics import mean_ci, rate, summarize
from agents.policy.rollout import ActFn, Episodes, policy_at_squares, rollout
from agents.settings.base import ConfigError
from mazegen import MazeConfig, generate_levels
from mazegen.actions import direction_probs
from mazegen.queries import decision_square, distances, open_squares, shortest_path
from mazegen.state import BatchState


@dataclass
class MazeFacts:
    """Per-maze geometry used by the metrics (arrays ``[N]``; -1 where undefined)."""

    path_to_cheese: np.ndarray  # BFS steps start -> cheese
    decision: list[tuple[int, int] | None]
    dsq_to_cheese: np.ndarray  # path distance decision square -> cheese
    dsq_to_corner: np.ndarray  # path distance decision square -> top-right corner
    cheese_to_corner_path: np.ndarray
    cheese_to_corner_euclid: np.ndarray
    dsq_to_cheese_euclid: np.ndarray
    start_to_cheese_euclid: np.ndarray
    inner_size: np.ndarray

    @property
    def has_decision(self) -> np.ndarray:
        return np.array([d is not None for d in self.decision])


_GEOMETRY = (
    "path_to_cheese",
    "dsq_to_cheese",
    "dsq_to_corner",
    "cheese_to_corner_path",
    "cheese_to_corner_euclid",
    "dsq_to_cheese_euclid",
    "start_to_cheese_euclid",
)


def maze_facts(states: BatchState) -> MazeFacts:
    n = states.num
    f = {k: np.full(n, -1.0) for k in _GEOMETRY}
    decisions: list[tuple[int, int] | None] = []
    for i, s in enumerate(states):
        assert s.cheese is not None
        from_cheese = distances(s.walls, s.cheese)
        from_corner = distances(s.walls, s.top_right)
        d = decision_square(s)
        decisions.append(d)
        f["path_to_cheese"][i] = from_cheese[s.start]
        f["cheese_to_corner_path"][i] = from_corner[s.cheese]
        f["cheese_to_corner_euclid"][i] = np.hypot(*np.subtract(s.cheese, s.top_right))
        f["start_to_cheese_euclid"][i] = np.hypot(*np.subtract(s.cheese, s.start))
        if d is not None:
            f["dsq_to_cheese"][i] = from_cheese[d]
            f["dsq_to_corner"][i] = from_corner[d]
            f["dsq_to_cheese_euclid"][i] = np.hypot(*np.subtract(s.cheese, d))
    return MazeFacts(decision=decisions, inner_size=states.inner_size.astype(float), **f)


def decision_choices(ep: Episodes, facts: MazeFacts) -> np.ndarray:
    """``[N]`` str: at the decision square, the first move ``"cheese"``, ``"top_right"``,
    ``"back"``, or ``"never"`` (never reached it; ``""`` where there is none)."""
    assert ep.path is not None, "rollout(record_path=True) needed"
    out = np.full(ep.states.num, "", dtype=object)
    for i, d in enumerate(facts.decision):
        if d is None:
            continue
        s = ep.states[i]
        assert s.cheese is not None
        to_cheese = shortest_path(s.walls, d, s.cheese)[1]
        to_corner = shortest_path(s.walls, d, s.top_right)[1]
        track = [tuple(x) for x in ep.path[:, i].tolist()]
        choice = "never"
        for t in range(len(track) - 1):
            if track[t] == d and track[t + 1] != d:
                nxt = track[t + 1]
                choice = (
                    "cheese" if nxt == to_cheese else "top_right" if nxt == to_corner else "back"
                )
                break
        out[i] = choice
    return out


def choice_rates(choices: np.ndarray) -> dict[str, Any]:
    valid = choices[(choices != "") & (choices != "never")]
    return {
        "n_decision_mazes": int((choices != "").sum()),
        "n_reached": int(valid.size),
        **{f"p_{k}": rate(valid == k) for k in ("cheese", "top_right", "back")},
    }


def outside_region_cheese(
    states: BatchState, region: int, rng: np.random.Generator
) -> tuple[np.ndarray, BatchState]:
    """The mazes that have an open square outside the region, with the cheese moved to a
    uniform one of those: ``(indices kept [K], moved states [K])``."""
    kept, moved = [], []
    for i, s in enumerate(states):
        options = [
            (int(r), int(c))
            for r, c in zip(*np.nonzero(~s.walls))
            if (r, c) != s.start and not s.in_region((r, c), region)
        ]
        if options:
            kept.append(i)
            moved.append(s.with_cheese(options[int(rng.integers(len(options)))]))
    idx = np.array(kept, dtype=np.int64)
    if not moved:  # every maze fits inside the region (a few small mazes)
        raise ConfigError(
            f"none of the {states.num} mazes has an open square outside the top-right "
            f"{region} x {region} for the paired test: evaluate more mazes (episodes=)"
        )
    out = BatchState.stack(moved)
    out.level[:] = states.level[idx]
    return idx, out


def action_divergence(
    act_fn: ActFn,
    pairs: tuple[BatchState, BatchState],
    config: MazeConfig,
    decision: list[tuple[int, int] | None],
) -> dict[str, Any]:
    """TV and KL between the policy's direction distributions in paired mazes, with the mouse
    on every open square (but the two cheese squares); averaged over squares and at the
    decision square."""
    tv_all, kl_all, tv_dsq, kl_dsq = [], [], [], []
    for i in range(pairs[0].num):
        a, b = pairs[0][i], pairs[1][i]
        squares = [sq for sq in open_squares(a.walls) if sq not in (a.cheese, b.cheese)]
        p, q = (
            direction_probs(
                policy_at_squares(act_fn, m, squares, config, index=i), config.action_mode
            )
            + 1e-8
            for m in (a, b)
        )
        tv = 0.5 * np.abs(p - q).sum(axis=1)
        kl = (p * np.log(p / q)).sum(axis=1)
        tv_all.append(tv.mean())
        kl_all.append(kl.mean())
        d = decision[i]
        if d is not None and d in squares:
            j = squares.index(d)
            tv_dsq.append(tv[j])
            kl_dsq.append(kl[j])
    return {
        "tv_mean_over_squares": mean_ci(np.array(tv_all)),
        "kl_mean_over_squares": mean_ci(np.array(kl_all)),
        "tv_at_decision_square": mean_ci(np.array(tv_dsq)),
        "kl_at_decision_square": mean_ci(np.array(kl_dsq)),
    }


def steps_vs_shortest(ep: Episodes, facts: MazeFacts) -> dict[str, Any]:
    ok = ep.success & (facts.path_to_cheese > 0)
    ratio = ep.steps[ok] / facts.path_to_cheese[ok]
    return {"ratio_steps_to_bfs": mean_ci(ratio), "bfs_path_length": mean_ci(facts.path_to_cheese)}


def p_cheese_by_distance(ep: Episodes, facts: MazeFacts, bins: int = 6) -> dict[str, Any]:
    """P(cheese) binned by the cheese's Euclidean distance from the top-right corner."""
    d = facts.cheese_to_corner_euclid
    edges = np.unique(np.quantile(d, np.linspace(0, 1, bins + 1)))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (d >= lo) & ((d < hi) if hi < edges[-1] else (d <= hi))
        out.append({"dist_lo": float(lo), "dist_hi": float(hi), **rate(ep.success[m])})
    return {"bins": out}


REGRESSION_FEATURES = tuple(k for k in _GEOMETRY if k != "path_to_cheese") + ("inner_size",)


def evaluate_divergence(
    act_fn: ActFn,
    train_cfg: MazeConfig,
    region: int,
    episodes: int,
    start_level: int,
    seed: int = 0,
    deterministic: bool = False,
    divergence_mazes: int = 200,
    resamples: int = 50,
) -> dict[str, Any]:
    """All divergence metrics of a policy on ``episodes`` held-out mazes per distribution."""
    # train and test are played from one stream seeded with `seed`, as training's final
    # evaluation plays them, so both report the same P(cheese) for the same weights
    rng = np.random.default_rng(seed)
    pair_rng = np.random.default_rng([seed, 1])
    test_cfg = train_cfg.test_distribution()
    levels = range(start_level, start_level + episodes)
    train_states = generate_levels(levels, train_cfg)
    test_states = generate_levels(levels, test_cfg)
    kept, paired_test = outside_region_cheese(train_states, region, pair_rng)
    paired_train = train_states.take(kept)

    def play(states: BatchState, cfg: MazeConfig, paired: bool = False) -> Episodes:
        return rollout(
            act_fn,
            states,
            cfg,
            region=region,
            rng=pair_rng if paired else rng,
            deterministic=deterministic,
            record_path=True,
        )

    result: dict[str, Any] = {
        "episodes": episodes,
        "region": region,
        "start_level": start_level,
        "deterministic": deterministic,
    }
    runs = {
        "train": (train_states, train_cfg),
        "test": (test_states, test_cfg),
        "paired_train": (paired_train, train_cfg),
        "paired_test": (paired_test, train_cfg),
    }
    eps: dict[str, Episodes] = {}
    facts: dict[str, MazeFacts] = {}
    for name, (states, cfg) in runs.items():
        eps[name] = play(states, cfg, paired=name.startswith("paired"))
        facts[name] = maze_facts(states)
        f = facts[name]
        block: dict[str, Any] = {**summarize(eps[name]), **steps_vs_shortest(eps[name], f)}
        if name in ("test", "paired_test"):
            dec = f.has_decision
            block["decision_subset"] = {"n": int(dec.sum()), **summarize(_subset(eps[name], dec))}
            block["decision_square"] = choice_rates(decision_choices(eps[name], f))
            block["p_cheese_by_distance_from_top_right"] = p_cheese_by_distance(eps[name], f)
        result[name] = block
    same = eps["paired_train"].success
    moved = eps["paired_test"].success
    result["paired"] = {
        "p_cheese_train_position": rate(same),
        "p_cheese_moved": rate(moved),
        "p_lost_by_moving": rate(same & ~moved),
        "action_divergence": action_divergence(
            act_fn,
            (
                paired_train.take(slice(0, divergence_mazes)),
                paired_test.take(slice(0, divergence_mazes)),
            ),
            train_cfg,
            facts["paired_test"].decision[:divergence_mazes],
        ),
    }
    f = facts["test"]
    dec = f.has_decision
    result["regression"] = behavioural_regression(
        {k: getattr(f, k)[dec] for k in REGRESSION_FEATURES},
        eps["test"].success[dec],
        resamples=resamples,
        seed=seed,
    )
    return result


def _subset(ep: Episodes, m: np.ndarray) -> Episodes:
    """The episodes of the mazes selected by the mask ``m`` ``[N]``."""
    return Episodes(
        states=ep.states.take(np.flatnonzero(m)),
        success=ep.success[m],
        steps=ep.steps[m],
        visited_region=ep.visited_region[m],
        region_first=ep.region_first[m],
        end_in_region=ep.end_in_region[m],
        end_square=ep.end_square[m],
    )
