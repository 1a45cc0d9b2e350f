"""`MazeBatch`: the batched core. N mazes as arrays, one array step for all, autoreset.

This is the only implementation of the environment's dynamics; the Gymnasium `Env` is a batch
of one and the `VectorEnv` and the stable-baselines3 adapter wrap it directly.

Internals: walls live in a padded ``[N, (W+2)^2]`` array whose border is wall, and the mouse and
cheese are flat indices into it, so a move is one add and one gather with no bounds checks.
Levels come from per-env generators (env i of a batch seeded ``s`` uses ``s + i``, as
Gymnasium's `SyncVectorEnv` does) and are generated ahead in batches, so an autoreset costs a
copy, not a maze generation (in procgen mode not a static-frame redraw either).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

from mazegen.actions import ACTION_DIRECTIONS, DIRECTION_DELTAS
from mazegen.batch_options import (
    _cheese_option,
    _levels_option,
    _merge_queue,
    _states_option,
    _with_cheese,
)
from mazegen.config import MazeConfig
from mazegen.generate import generate_levels
from mazegen.levels import draw_training_level
from mazegen.procgen_render import ProcgenFrames, ProcgenObs
from mazegen.queries import batch_distances
from mazegen.render import GridObs, RgbObs, draw_states, make_obs_renderer
from mazegen.state import BatchState, MazeState, MazeStateError


class Autoreset(str, Enum):
    """When a finished sub-environment is reset (Gymnasium's `AutoresetMode` values)."""

    NEXT_STEP = "NextStep"  # the step after the last one resets it and ignores its action
    SAME_STEP = "SameStep"  # the last step resets it at once; final obs returned separately
    DISABLED = "Disabled"  # the caller resets with ``reset(options={"reset_mask": ...})``


_MAX_SEED = 2**31 - 1  # an unseeded reset draws its stream seed below this


class MazeBatch:
    """N cheese mazes stepped together.

    Args:
        num_envs: Number of mazes N.
        config: Maze distribution and environment settings.
        autoreset: `Autoreset` mode (or its value).
        copy_obs: Return a copy of the observation buffer (else the live buffer, which the next
            step overwrites).
        track_distance: Keep each maze's BFS distance map to its cheese (one wavefront per
            reset), so `distance_to_cheese` and ``info["distance"]`` are available (used for
            reward shaping).
    """

    def __init__(
        self,
        num_envs: int,
        config: MazeConfig,
        autoreset: Autoreset | str = Autoreset.NEXT_STEP,
        copy_obs: bool = True,
        track_distance: bool = False,
    ) -> None:
        if (
            isinstance(num_envs, bool)
            or not isinstance(num_envs, (int, np.integer))
            or num_envs < 1
        ):
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        config.validate()
        self.num_envs = n = int(num_envs)
        self.config = config
        self.autoreset = Autoreset(autoreset)
        self.copy_obs = copy_obs
        w = config.world_size
        self._w = w
        self._p = p = w + 2
        self._procgen = ProcgenFrames(n, w) if config.procgen else None
        self._plain = make_obs_renderer(config.obs_mode, w, config.obs_size)
        self.renderer: GridObs | RgbObs | ProcgenObs = (
            self._procgen.renderer if self._procgen is not None else self._plain
        )
        self._dirs = dirs = ACTION_DIRECTIONS[config.action_mode]
        pad = np.arange(p * p)
        self._cell_of_pad = (pad // p - 1) * w + pad % p - 1  # padded flat -> r * W + c
        deltas = DIRECTION_DELTAS[dirs]
        self._step_delta = deltas[:, 0] * p + deltas[:, 1]  # [A] flat padded offsets
        self.num_actions = int(dirs.size)
        self._walls = np.ones((n, p * p), dtype=bool)  # padded walls, border = wall
        self._base = np.arange(n, dtype=np.int64) * (p * p)
        self._mouse = np.zeros(n, dtype=np.int64)  # padded flat index
        self._cheese = np.full(n, -1, dtype=np.int64)  # padded flat index, -1 = none
        self._inner = np.zeros(n, dtype=np.int64)
        self._level = np.full(n, -1, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._pending = np.zeros(n, dtype=bool)  # finished last step (NEXT_STEP mode)
        self._obs = np.zeros((n, *self.renderer.shape), dtype=np.uint8)
        self.track_distance = track_distance
        self._dist = np.full((n, p * p), -1, dtype=np.int32) if track_distance else None
        self._rngs: list[np.random.Generator] = []
        self._queue_size = max(2, min(16, 512 // n))
        self._queue: BatchState | None = None  # [N * K] future levels, env-major
        self._qstatic: np.ndarray | None = None  # [N * K, 3, 64, 64] their frames (procgen)
        self._queue_next = np.zeros(n, dtype=np.int64)  # next unused slot per env (0..K)
        self._ever_reset = False

    # ---- seeding and levels ------------------------------------------------------------------
    def _seed(self, seed: int | None) -> None:
        if seed is None:
            entropy = np.random.SeedSequence().entropy
            seed = int(entropy % _MAX_SEED)  # type: ignore[operator]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self._rngs = [np.random.default_rng(int(seed) + i) for i in range(self.num_envs)]
        self._queue = None
        self._queue_next[:] = self._queue_size

    def _draw_level(self, rng: np.random.Generator) -> int:
        c = self.config
        return draw_training_level(rng, c.start_level, c.num_levels, c.procgen)

    def _refill(self) -> None:
        """Tops every env's queue up to K future levels, drawn in order from its generator."""
        levels: list[int] = []
        for i in range(self.num_envs):
            levels.extend(self._draw_level(self._rngs[i]) for _ in range(int(self._queue_next[i])))
        fresh = generate_levels(levels, self.config)
        # procgen mode draws the static frames of the whole batch at once, not reset by reset
        statics = self._procgen.statics(fresh) if self._procgen is not None else None
        if self._queue is None:
            self._queue, self._qstatic = fresh, statics
        else:  # env i keeps its unused levels first, then its fresh ones, in stream order
            self._queue, self._qstatic = _merge_queue(
                self._queue, self._qstatic, fresh, statics, self._queue_next
            )
        self._queue_next[:] = 0

    def _next_levels(self, idx: np.ndarray) -> tuple[BatchState, np.ndarray | None]:
        """The next queued levels of envs ``idx`` and their static frames (procgen mode)."""
        if self._queue is None or (self._queue_next[idx] >= self._queue_size).any():
            self._refill()
        assert self._queue is not None
        slots = idx * self._queue_size + self._queue_next[idx]
        self._queue_next[idx] += 1
        statics = self._qstatic[slots] if self._qstatic is not None else None
        return self._queue.take(slots), statics

    def set_distribution(self, config: MazeConfig) -> None:
        """Draws future levels from ``config`` (a curriculum stage, say); running episodes keep
        their mazes. Only the distribution may change: world, observation, actions and time
        limit must stay the same."""
        config.validate()
        fixed = ("world_size", "obs_mode", "action_mode", "obs_size", "max_steps")
        changed = [f for f in fixed if getattr(config, f) != getattr(self.config, f)]
        if changed:
            raise ValueError(f"set_distribution cannot change {changed}; make a new MazeBatch")
        self.config = config
        self._queue = None  # queued levels came from the old distribution
        self._queue_next[:] = self._queue_size

    # ---- state in and out --------------------------------------------------------------------
    def _pad_flat(self, squares: np.ndarray) -> np.ndarray:  # [K, 2] -> [K]
        return (squares[:, 0] + 1) * self._p + squares[:, 1] + 1

    def _unpad(self, flat: np.ndarray) -> np.ndarray:  # [K] -> [K, 2]
        return np.stack([flat // self._p - 1, flat % self._p - 1], axis=1)

    def _write(
        self, idx: np.ndarray, states: BatchState, statics: np.ndarray | None = None
    ) -> None:
        """Installs ``states`` into envs ``idx`` (t = 0) and redraws their observations
        (procgen mode: from ``statics``, their static frames, when given)."""
        w = self._w
        if states.world_size != w:
            raise MazeStateError(f"state world size {states.world_size} != env world size {w}")
        padded = np.ones((len(idx), self._p, self._p), dtype=bool)
        padded[:, 1:-1, 1:-1] = states.walls
        self._walls[idx] = padded.reshape(len(idx), -1)
        self._mouse[idx] = self._pad_flat(states.mouse)
        has = states.has_cheese
        self._cheese[idx] = np.where(has, self._pad_flat(np.maximum(states.cheese, 0)), -1)
        self._inner[idx] = states.inner_size
        self._level[idx] = states.level
        self._t[idx] = 0
        self._pending[idx] = False
        if self._procgen is not None:
            self._procgen.write(self._obs, idx, states, statics)
        else:
            self._obs[idx] = draw_states(self.renderer, states)
        if self._dist is not None:
            dist = np.full((len(idx), self._p, self._p), -1, dtype=np.int32)
            if has.any():
                dist[has, 1:-1, 1:-1] = batch_distances(states.walls[has], states.cheese[has])
            self._dist[idx] = dist.reshape(len(idx), -1)

    def get_state(self, idx: np.ndarray | None = None) -> BatchState:
        """The current states of envs ``idx`` (default all) as a `BatchState` copy."""
        idx = np.arange(self.num_envs) if idx is None else np.asarray(idx, dtype=np.int64)
        walls = self._walls[idx].reshape(len(idx), self._p, self._p)[:, 1:-1, 1:-1].copy()
        cheese = self._cheese[idx]
        cheese_sq = np.where((cheese >= 0)[:, None], self._unpad(np.maximum(cheese, 0)), -1)
        return BatchState(
            walls=walls,
            mouse=self._unpad(self._mouse[idx]),
            cheese=cheese_sq,
            inner_size=self._inner[idx].copy(),
            level=self._level[idx].copy(),
        )

    def set_state(
        self, states: BatchState | list[MazeState], idx: np.ndarray | None = None
    ) -> np.ndarray:
        """Replaces the states of envs ``idx`` (default all), validated; returns observations."""
        if not isinstance(states, BatchState):
            states = BatchState.stack(list(states))
        states.validate()
        idx = np.arange(self.num_envs) if idx is None else np.asarray(idx, dtype=np.int64)
        if len(idx) != states.num:
            raise MazeStateError(f"got {states.num} states for {len(idx)} environments")
        self._write(idx, states)
        return self._out(self._obs)

    # ---- reset and step ----------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets all envs (or those in ``options["reset_mask"]``).

        Options:
            state: a `BatchState` / list of `MazeState` (one per env reset) to start from.
            level: level number(s) to play instead of the next ones.
            cheese: ``(row, col)`` or ``[K, 2]``: move the cheese there after generating.
            reset_mask: ``[N]`` bool, reset only these envs.
        """
        options = dict(options or {})
        unknown = set(options) - {"state", "level", "cheese", "reset_mask"}
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(unknown)}; allowed: state, level, "
                "cheese, reset_mask"
            )
        if seed is not None or not self._ever_reset:
            self._seed(seed)
        self._ever_reset = True
        mask = options.get("reset_mask")
        if mask is None:
            idx = np.arange(self.num_envs)
        else:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
            idx = np.flatnonzero(mask)
        statics = None
        if "state" in options:
            states = _states_option(options["state"], len(idx))
        elif "level" in options:
            states = generate_levels(_levels_option(options["level"], len(idx)), self.config)
        else:
            states, statics = self._next_levels(idx)
        if "cheese" in options:
            states = _with_cheese(states, _cheese_option(options["cheese"], len(idx)))
            statics = None
        self._write(idx, states, statics)
        return self._out(self._obs), {"level": self._level.copy()}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every env with ``actions`` ``[N]``; see `Autoreset` for finished envs."""
        if not self._ever_reset:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be an integer array of shape ({self.num_envs},), "
                f"got {actions.dtype} {actions.shape}"
            )
        if actions.min() < 0 or actions.max() >= self.num_actions:
            raise ValueError(f"actions must be in [0, {self.num_actions - 1}]")
        old = self._mouse
        target = old + self._step_delta[actions]
        new = np.where(self._walls.ravel()[self._base + target], old, target)
        moved = np.flatnonzero(new != old)
        if self._procgen is not None:
            cell = self._cell_of_pad
            self._procgen.step(self._obs, cell[old], cell[new], self._dirs[actions])
        elif moved.size:
            self._plain.move(self._obs, moved, self._unpad(old[moved]), self._unpad(new[moved]))
        self._mouse = new
        self._t += 1
        terminated = new == self._cheese
        truncated = (self._t >= self.config.max_steps) & ~terminated
        reward = terminated * np.float32(self.config.reward)
        info: dict[str, Any] = {}
        if self._dist is not None:  # before any autoreset replaces a finished maze
            info["distance"] = self._dist.ravel()[self._base + new]
        if self.autoreset is Autoreset.NEXT_STEP:
            if self._pending.any():
                idx = np.flatnonzero(self._pending)
                self._write(idx, *self._next_levels(idx))
                reward[idx] = 0.0
                terminated[idx] = False
                truncated[idx] = False
            self._pending = terminated | truncated
        elif self.autoreset is Autoreset.SAME_STEP:
            done = terminated | truncated
            if done.any():
                idx = np.flatnonzero(done)
                info["final_obs"] = self._obs[idx].copy()
                info["final_index"] = idx
                self._write(idx, *self._next_levels(idx))
        return self._out(self._obs), reward, terminated, truncated, info

    def _out(self, obs: np.ndarray) -> np.ndarray:
        return obs.copy() if self.copy_obs else obs

    # ---- read-only views ---------------------------------------------------------------------
    @property
    def observations(self) -> np.ndarray:
        """``[N, C, H, W]`` the current observations (a copy)."""
        return self._obs.copy()

    @property
    def distance_to_cheese(self) -> np.ndarray:
        """``[N]`` BFS distance from each mouse to its cheese (-1: no cheese); needs
        ``track_distance``."""
        if self._dist is None:
            raise RuntimeError("make the MazeBatch with track_distance=True")
        return self._dist.ravel()[self._base + self._mouse]

    @property
    def mouse(self) -> np.ndarray:
        """``[N, 2]`` mouse squares."""
        return self._unpad(self._mouse)
