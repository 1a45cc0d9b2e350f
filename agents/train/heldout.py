"""Held-out evaluation of a policy in training: fixed mazes of the training and the test
distribution, scored as TensorBoard scalars and one console line, and the final metrics that
``metrics.json`` records (the levels and sampling ``experiments.evaluate`` uses by default)."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.policy.hooked import HookedMazeNet
from agents.policy.metrics import scalar_view, summarize
from agents.policy.rollout import Episodes, net_act_fn, random_act_fn, rollout
from agents.settings.train import TrainConfig
from mazegen import MazeConfig, generate_levels, render_frame
from mazegen.queries import has_decision_square
from mazegen.state import BatchState


class HeldOut:
    """Fixed held-out mazes of the training and the test distribution, and how to score them."""

    def __init__(self, cfg: TrainConfig, episodes: int) -> None:
        self.train_cfg: MazeConfig = cfg.env.held_out()
        self.test_cfg: MazeConfig = self.train_cfg.test_distribution()
        self.region = cfg.env.eval_region
        levels = range(cfg.eval.start_level, cfg.eval.start_level + episodes)
        self.states: dict[str, BatchState] = {
            "train": generate_levels(levels, self.train_cfg),
            "test": generate_levels(levels, self.test_cfg),
        }
        # mazes where the paths to the cheese and to the top-right corner part
        self.decision = {d: has_decision_square(s) for d, s in self.states.items()}
        self.deterministic = cfg.eval.deterministic

    def scalars(self, episodes: dict[str, Episodes]) -> dict[str, float]:
        """``eval/<dist>/<measure>`` of a `run`, decision-square P(cheese) included."""
        out: dict[str, float] = {}
        for dist, ep in episodes.items():
            out.update(scalar_view(summarize(ep), f"eval/{dist}"))
            dec = self.decision[dist]
            out[f"eval/{dist}/p_cheese_decision"] = (
                float(ep.success[dec].mean()) if dec.any() else float("nan")
            )
        return out

    def run(
        self, net: HookedMazeNet, seed: int = 0, record_path: bool = False
    ) -> dict[str, Episodes]:
        """One episode on every held-out maze of both distributions, actions sampled with
        ``seed`` (the network is left in eval mode)."""
        act = net_act_fn(net.eval(), net.device)
        rng = np.random.default_rng(seed)
        return {
            dist: rollout(
                act,
                states,
                self.train_cfg if dist == "train" else self.test_cfg,
                region=self.region,
                rng=rng,
                deterministic=self.deterministic,
                record_path=record_path,
            )
            for dist, states in self.states.items()
        }


def path_image(ep: Episodes, i: int, region: int, square_px: int = 12) -> np.ndarray:
    """``[H, W, 3]`` frame of maze i with the squares the mouse visited tinted."""
    state = ep.states[i]
    frame = render_frame(state, square_px=square_px, region=region)
    if ep.path is not None:
        for r, c in {tuple(x) for x in ep.path[:, i].tolist()} - {state.mouse}:
            block = frame[r * square_px : (r + 1) * square_px, c * square_px : (c + 1) * square_px]
            block[:] = (0.5 * block + 0.5 * np.array([80, 140, 255])).astype(np.uint8)
    return frame


def eval_line(step: int, total: int, scalars: dict[str, float], rate: float | None) -> str:
    """The console line of one evaluation."""
    pct = f"{step:,}/{total:,} steps"
    p = scalars
    line = (
        f"{pct} | held-out P(cheese): train {p['eval/train/p_cheese']:.3f}, test "
        f"{p['eval/test/p_cheese']:.3f}, test with a decision square "
        f"{p['eval/test/p_cheese_decision']:.3f}"
    )
    if rate:
        eta = max(total - step, 0) / rate
        line += f" | {rate:,.0f} steps/s, ETA {eta / 60:.0f} min"
    return line


FINAL_SEED = 0  # experiments.evaluate's default seed: both report the same numbers


def final_metrics(model: Any, cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, float]]:
    """Held-out evaluation of the trained policy and of a random policy, both distributions,
    on the levels and with the action sampling that ``experiments.evaluate`` uses by default.
    Returns the metrics and their TensorBoard scalars."""
    held = HeldOut(cfg, cfg.eval.final_episodes)
    out: dict[str, Any] = {"policy": {}, "random": {}}
    episodes = held.run(HookedMazeNet.of(model.policy), seed=FINAL_SEED)
    for dist, ep in episodes.items():
        out["policy"][dist] = summarize(ep)
    act = random_act_fn(int(model.action_space.n))
    rng = np.random.default_rng(0)
    for dist, states in held.states.items():
        env_cfg = held.train_cfg if dist == "train" else held.test_cfg
        out["random"][dist] = summarize(rollout(act, states, env_cfg, region=held.region, rng=rng))
    out["region"] = held.region
    out["episodes_per_distribution"] = cfg.eval.final_episodes
    out["seed"] = FINAL_SEED
    return out, held.scalars(episodes)
