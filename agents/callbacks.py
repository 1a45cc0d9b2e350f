"""Training callbacks: held-out evaluation on both distributions, and atomic checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Image

from agents.analysis.metrics import scalar_view, summarize
from agents.config import TrainConfig
from agents.rollout import Episodes, net_act_fn, rollout
from agents.runs import atomic_write_bytes, checkpoint_path, checkpoints, save_model
from agents.sb3 import maze_net
from mazegen import MazeConfig, generate_levels, render_frame
from mazegen.state import BatchState


class HeldOut:
    """Fixed held-out mazes of the training and the test distribution, and how to score them."""

    def __init__(self, cfg: TrainConfig, episodes: int) -> None:
        self.train_cfg: MazeConfig = cfg.env.replace(num_levels=0, start_level=0)
        self.test_cfg: MazeConfig = self.train_cfg.test_distribution()
        self.region = cfg.env.cheese_region if cfg.env.cheese_region is not None else 1
        levels = range(cfg.eval.start_level, cfg.eval.start_level + episodes)
        self.states: dict[str, BatchState] = {
            "train": generate_levels(levels, self.train_cfg),
            "test": generate_levels(levels, self.test_cfg),
        }
        self.deterministic = cfg.eval.deterministic

    def run(self, model: Any, seed: int = 0, record_path: bool = False) -> dict[str, Episodes]:
        net = maze_net(model)
        act = net_act_fn(net, model.device)
        rng = np.random.default_rng(seed)
        try:
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
        finally:
            model.policy.set_training_mode(False)


def path_image(ep: Episodes, i: int, region: int, square_px: int = 12) -> np.ndarray:
    """``[H, W, 3]`` frame of maze i with the squares the mouse visited tinted."""
    state = ep.states[i]
    frame = render_frame(state, square_px=square_px, region=region)
    if ep.path is not None:
        for r, c in {tuple(x) for x in ep.path[:, i].tolist()} - {state.mouse}:
            block = frame[r * square_px : (r + 1) * square_px, c * square_px : (c + 1) * square_px]
            block[:] = (0.5 * block + 0.5 * np.array([80, 140, 255])).astype(np.uint8)
    return frame


class EvalCallback(BaseCallback):
    """Every ``every_steps``: held-out P(cheese) on train and test distributions, P(top-right
    first / end in top-right) on the test distribution, mean length -> TensorBoard ``eval/``."""

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.every = cfg.eval.every_steps
        self.held_out = HeldOut(cfg, cfg.eval.episodes)
        self._next = 0

    def _on_training_start(self) -> None:
        if self.every:
            self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.every and self.num_timesteps >= self._next:
            self._next += self.every
            self.evaluate()
        return True

    def evaluate(self) -> None:
        episodes = self.held_out.run(
            self.model, seed=self.num_timesteps, record_path=self.cfg.eval.video
        )
        for dist, ep in episodes.items():
            for key, value in scalar_view(summarize(ep), f"eval/{dist}").items():
                self.logger.record(key, value)
        if self.cfg.eval.video:
            test = episodes["test"]
            strip = np.concatenate(
                [path_image(test, i, self.held_out.region) for i in range(min(4, test.states.num))],
                axis=1,
            )
            self.logger.record(
                "eval/test_paths", Image(strip, "HWC"), exclude=("stdout", "log", "json", "csv")
            )
        self.logger.dump(self.num_timesteps)


class CheckpointCallback(BaseCallback):
    """Writes ``checkpoints/step_<N>.zip`` atomically every ``every`` steps; keeps the last
    ``keep``."""

    def __init__(self, run: Path, every: int, keep: int = 3) -> None:
        super().__init__()
        self.run = run
        self.every = every
        self.keep = keep
        self._next = 0

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.every
            self.save()
        return True

    def save(self) -> Path:
        path = checkpoint_path(self.run, self.num_timesteps)
        save_model(self.model, path)
        vecnorm = self.model.get_vec_normalize_env()
        if vecnorm is not None:
            import pickle

            atomic_write_bytes(path.with_suffix(".vecnorm.pkl"), pickle.dumps(vecnorm))
        for _, old in checkpoints(self.run)[: -self.keep]:
            old.unlink(missing_ok=True)
            old.with_suffix(".vecnorm.pkl").unlink(missing_ok=True)
        return path


__all__ = ["CheckpointCallback", "EvalCallback", "HeldOut", "path_image"]
