"""The batched maze as a stable-baselines3 `VecEnv`: one array step for all environments."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from mazegen import MazeBatch, MazeConfig
from mazegen.batch import Autoreset


class MazeVecEnv(VecEnv):
    """An SB3 `VecEnv` over one `MazeBatch`: one array step for all envs, no per-env loop.

    Finished envs reset in the same step (SB3's convention); their last observation is in
    ``infos[i]["terminal_observation"]`` and their return and length in ``infos[i]["episode"]``.
    Rewards passed to the learner are multiplied by ``reward_scale``; with ``shaping`` c > 0 the
    learner also gets the potential-based term ``c * (d - gamma * d')`` (d, d': BFS distance to
    the cheese before and after the step), which leaves the optimal policy unchanged (Ng et al.
    1999). Episode returns in ``infos`` are always the env's own.
    """

    def __init__(
        self,
        config: MazeConfig,
        num_envs: int,
        seed: int = 0,
        reward_scale: float = 1.0,
        shaping: float = 0.0,
        gamma: float = 0.99,
    ) -> None:
        self.core = MazeBatch(
            num_envs,
            config,
            autoreset=Autoreset.SAME_STEP,
            copy_obs=False,
            track_distance=shaping > 0,
        )
        self.shaping = shaping
        self.gamma = gamma
        self._d = np.zeros(num_envs, dtype=np.float64)
        obs_space = gym.spaces.Box(0, self.core.renderer.high, self.core.renderer.shape, np.uint8)
        self.render_mode = None
        super().__init__(num_envs, obs_space, gym.spaces.Discrete(self.core.num_actions))
        self._seed: int | None = seed
        self.reward_scale = reward_scale  # what the learner sees; episode returns stay unscaled
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self.finished = 0  # episodes finished since construction (read by the curriculum)
        self.succeeded = 0

    def reset(self) -> np.ndarray:
        seed = self._seeds[0] if self._seeds[0] is not None else self._seed
        obs, _ = self.core.reset(seed=seed)
        self._seed = None  # later resets continue the level streams
        self._reset_seeds()
        self._returns[:] = 0
        self._lengths[:] = 0
        if self.shaping:
            self._d = self.core.distance_to_cheese.astype(np.float64)
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, reward, terminated, truncated, info = self.core.step(self._actions)
        self._returns += reward
        self._lengths += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if "final_index" in info:
            self.finished += int(dones.sum())
            self.succeeded += int(terminated.sum())
            for j, i in enumerate(info["final_index"].tolist()):
                infos[i] = {
                    "terminal_observation": info["final_obs"][j],
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self._lengths[i])},
                }
            self._returns[dones] = 0
            self._lengths[dones] = 0
        learner = reward * self.reward_scale
        if self.shaping:
            after = np.where(terminated, 0.0, info["distance"])
            learner = learner + self.shaping * (self._d - self.gamma * after)
            self._d = self.core.distance_to_cheese.astype(np.float64)
        return obs.copy(), learner.astype(np.float32), dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        n = len(list(self._get_indices(indices)))
        value = (
            getattr(self, attr_name)
            if attr_name == "render_mode"
            else getattr(self.core, attr_name)
        )
        return [value] * n

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.core, attr_name, value)

    def env_method(
        self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any
    ) -> list[Any]:
        raise NotImplementedError("MazeVecEnv has no per-env objects; use .core")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def get_images(self) -> list[np.ndarray]:
        from mazegen import render_frame

        return [render_frame(s) for s in self.core.get_state()]


def unwrap(env: VecEnv) -> MazeVecEnv:
    """The `MazeVecEnv` under any SB3 wrappers (VecNormalize, monitors)."""
    while not isinstance(env, MazeVecEnv):
        inner = getattr(env, "venv", None)
        if inner is None:
            raise TypeError(f"{type(env).__name__} does not wrap a MazeVecEnv")
        env = inner
    return env
