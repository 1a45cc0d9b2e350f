"""Gymnasium `Env` and `VectorEnv` over the batched core `MazeBatch`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from mazegen.batch import Autoreset, MazeBatch
from mazegen.config import MazeConfig, MazeConfigError, from_dict
from mazegen.render import render_frame
from mazegen.state import BatchState, MazeState

RENDER_MODES = ("rgb_array", "human")


def _config(config: MazeConfig | None, kwargs: dict[str, Any]) -> MazeConfig:
    if config is not None:
        return config.replace(**kwargs) if kwargs else config
    return from_dict(kwargs)


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")


class CheeseMazeEnv(gym.Env[np.ndarray, np.int64]):
    """A mouse looks for cheese in a procedurally generated perfect maze (procgen's ``maze``).

    **Description.** A W x W world (W = 25) holds a perfect maze of odd size S, drawn uniformly
    from the odd values in [min_size, max_size] and centred; the rest is wall. The mouse starts
    on the inner bottom-left square. The cheese sits on an open square of the inner top-right
    n x n (``cheese_region=n``, the training distribution of Langosco et al.), anywhere but the
    start (``cheese_region=None``, procgen's distribution), or anywhere outside the top-right
    n x n (``cheese_exclude_region=n``, the held-out test distribution).

    **Observation.** ``obs_mode="rgb"``: ``Box(0, 255, (3, P, P), uint8)`` with P = ``obs_size``
    (64), the whole world, channel-first, drawn like procgen's frame: each square a sprite
    (wall, floor, a mouse, a cheese) sampled at the pixel centres, 2.56 px a square at W = 25.
    ``obs_mode="grid"``: ``Box(0, 1, (3, W, W), uint8)``, channels wall, mouse,
    cheese.

    **Actions.** ``action_mode="procgen"``: ``Discrete(15)``; 0-2 left, 3 down, 5 up, 6-8 right,
    4 and 9-14 no-op. ``action_mode="cardinal"``: ``Discrete(4)``; 0 left, 1 down, 2 up, 3 right.
    Moving into a wall leaves the mouse in place.

    **Reward.** ``reward`` (10) on reaching the cheese, else 0.

    **Termination.** Reaching the cheese terminates; the episode is truncated after
    ``max_steps`` (500) steps.

    **Levels.** ``num_levels`` / ``start_level`` as in procgen: each reset plays level
    ``start_level + u`` with u uniform in [0, num_levels) (num_levels = 0: unlimited), and level L
    is always the same maze. ``reset(seed=s)`` fixes the level sequence.

    **Reset options.** ``{"state": MazeState}``, ``{"level": L}``, ``{"cheese": (row, col)}``.

    **Registered ids.** ``mazegen/CheeseMaze-v0`` (keyword arguments: the `MazeConfig` fields and
    ``render_mode``); ``gymnasium.make_vec`` gives the native `CheeseMazeVectorEnv`.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self, config: MazeConfig | None = None, render_mode: str | None = None, **kwargs: Any
    ) -> None:
        _check_render_mode(render_mode)
        self.config = _config(config, kwargs)
        self.render_mode = render_mode
        self.core = MazeBatch(1, self.config, autoreset=Autoreset.DISABLED, copy_obs=False)
        shape = self.core.renderer.shape
        self.observation_space = spaces.Box(0, self.core.renderer.high, shape, np.uint8)
        self.action_space = spaces.Discrete(self.core.num_actions)
        self._window: Any = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        if isinstance(options.get("state"), MazeState):
            options["state"] = [options["state"]]
        obs, info = self.core.reset(seed=seed, options=options)
        if self.render_mode == "human":
            self.render()
        return obs[0].copy(), {"level": int(info["level"][0])}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = np.asarray([action])
        if a.dtype.kind == "f" and float(a[0]).is_integer():
            a = a.astype(np.int64)  # e.g. 3.0 from a float array
        obs, reward, terminated, truncated, _ = self.core.step(a)
        if self.render_mode == "human":
            self.render()
        return obs[0].copy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    @property
    def state(self) -> MazeState:
        """The current maze (a copy; edit it and pass it back through ``reset(options=...)``)."""
        return self.core.get_state()[0]

    def set_state(self, state: MazeState) -> np.ndarray:
        """Replaces the current maze mid-episode (validated); returns the new observation."""
        return self.core.set_state([state])[0].copy()

    def render(self) -> np.ndarray | None:
        frame = render_frame(self.state, region=self.config.cheese_region)
        if self.render_mode == "human":
            if self._window is None:
                from mazegen.viewer import Window

                self._window = Window(frame.shape[1], frame.shape[0], "cheese-maze")
            self._window.show(frame, fps=self.metadata["render_fps"])
            return None
        return frame

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


class CheeseMazeVectorEnv(gym.vector.VectorEnv):
    """N cheese mazes stepped as one array operation (see `CheeseMazeEnv` for the spec).

    Sub-environment i of ``reset(seed=s)`` behaves exactly as a `CheeseMazeEnv` reset with seed
    ``s + i``. Autoreset follows Gymnasium 1.x (``autoreset_mode``, default next-step).
    ``get_state()`` / ``set_state()`` read and write the whole batch as a `BatchState`.
    """

    def __init__(
        self,
        num_envs: int,
        config: MazeConfig | None = None,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        _check_render_mode(render_mode)
        if render_mode == "human":
            raise ValueError("render_mode='human' is for the single env; use 'rgb_array' here")
        self.config = _config(config, kwargs)
        mode = AutoresetMode(autoreset_mode)
        self.core = MazeBatch(num_envs, self.config, autoreset=Autoreset(mode.value))
        self.num_envs = self.core.num_envs
        self.render_mode = render_mode
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": mode}
        self.single_observation_space = spaces.Box(
            0, self.core.renderer.high, self.core.renderer.shape, np.uint8
        )
        self.single_action_space = spaces.Discrete(self.core.num_actions)
        self.observation_space = spaces.Box(
            0, self.core.renderer.high, (self.num_envs, *self.core.renderer.shape), np.uint8
        )
        self.action_space = spaces.MultiDiscrete(np.full(self.num_envs, self.core.num_actions))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._np_random, _ = gym.utils.seeding.np_random(seed)
            self.action_space.seed(seed)
        return self.core.reset(seed=seed, options=options)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.core.step(np.asarray(actions))
        if "final_obs" in info:  # Gymnasium's same-step layout: object array plus mask
            idx = info.pop("final_index")
            final = np.empty(self.num_envs, dtype=object)
            final[idx] = list(info.pop("final_obs"))
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[idx] = True
            info.update(final_obs=final, _final_obs=mask)
        return obs, reward, terminated, truncated, info

    def get_state(self) -> BatchState:
        return self.core.get_state()

    def set_state(self, states: BatchState | list[MazeState]) -> np.ndarray:
        return self.core.set_state(states)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        states = self.core.get_state()
        return tuple(render_frame(s, region=self.config.cheese_region) for s in states)


def make_vector_env(num_envs: int, **kwargs: Any) -> CheeseMazeVectorEnv:
    """The ``vector_entry_point`` of ``mazegen/CheeseMaze-v0``."""
    kwargs.pop("max_episode_steps", None)
    return CheeseMazeVectorEnv(num_envs, **kwargs)


PROCGEN_WORLDS = {"easy": 15, "hard": 25}


def procgen_config(
    distribution_mode: str = "hard", rand_region: int | None = None, **kwargs: Any
) -> MazeConfig:
    """The procgen-faithful `MazeConfig` of a procgen distribution mode: ``"hard"`` (25 x 25)
    or ``"easy"`` (15 x 15); ``rand_region=n`` places the cheese as procgenAISC's
    ``maze_aisc`` does (None: vanilla ``maze``). Other `MazeConfig` fields as keywords."""
    if distribution_mode not in PROCGEN_WORLDS:
        raise MazeConfigError(
            f"distribution_mode must be one of {sorted(PROCGEN_WORLDS)}, got {distribution_mode!r}"
        )
    w = PROCGEN_WORLDS[distribution_mode]
    values = dict(world_size=w, min_size=3, max_size=w, cheese_region=rand_region, procgen=True)
    return from_dict({**values, **kwargs})


def make_procgen_env(
    distribution_mode: str = "hard",
    rand_region: int | None = None,
    render_mode: str | None = None,
    **kwargs: Any,
) -> CheeseMazeEnv:
    """The ``entry_point`` of ``mazegen/ProcgenMaze-v0``."""
    config = procgen_config(distribution_mode, rand_region, **kwargs)
    return CheeseMazeEnv(config, render_mode=render_mode)


def make_procgen_vector_env(
    num_envs: int, distribution_mode: str = "hard", rand_region: int | None = None, **kwargs: Any
) -> CheeseMazeVectorEnv:
    """The ``vector_entry_point`` of ``mazegen/ProcgenMaze-v0``."""
    kwargs.pop("max_episode_steps", None)
    env_kwargs = {k: kwargs.pop(k) for k in ("render_mode", "autoreset_mode") if k in kwargs}
    config = procgen_config(distribution_mode, rand_region, **kwargs)
    return CheeseMazeVectorEnv(num_envs, config, **env_kwargs)
