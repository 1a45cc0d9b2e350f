"""Training throughput: PPO steps/s for a config, and the share of wall time in the environment."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnvWrapper

from agents.config import TrainConfig
from agents.sb3 import MazeVecEnv, build_ppo


class _TimedVecEnv(VecEnvWrapper):
    """Accumulates the wall time spent inside the wrapped env's reset and step."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self.seconds = 0.0

    def reset(self) -> np.ndarray:
        t = time.perf_counter()
        obs = self.venv.reset()
        self.seconds += time.perf_counter() - t
        return obs

    def step_wait(self) -> Any:
        t = time.perf_counter()
        out = self.venv.step_wait()
        self.seconds += time.perf_counter() - t
        return out


def training_throughput(cfg: TrainConfig, steps: int, threads: int) -> dict[str, float]:
    """Trains ``cfg`` for ``steps`` (after one warm-up rollout) and times it.

    Returns:
        ``steps_per_s`` (whole PPO loop: collection and updates) and ``env_share`` (fraction
        of that wall time spent stepping the environment).
    """
    torch.set_num_threads(threads)
    env = _TimedVecEnv(
        MazeVecEnv(cfg.env, cfg.num_envs, seed=cfg.seed, reward_scale=cfg.agent.ppo.reward_scale)
    )
    model = build_ppo(cfg, env, None)
    rollout = cfg.agent.ppo.n_steps * cfg.num_envs
    model.learn(rollout)  # warm-up: allocations, first optimizer step
    env.seconds = 0.0
    start = time.perf_counter()
    model.learn(max(steps, rollout), reset_num_timesteps=False)
    total = time.perf_counter() - start
    done = max(steps, rollout)
    done = -(-done // rollout) * rollout  # SB3 finishes whole rollouts
    return {"steps_per_s": done / total, "env_share": env.seconds / total}
