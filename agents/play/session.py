"""`PlaySession`: one maze played by a policy (or by hand), with the viewer's controls as
methods. It holds no pygame state: the window (`agents.play.window`) maps keys and clicks to its
methods and the recorder (`agents.play.recorder`) steps it headless."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.policy.rollout import ActFn, policy_at_squares, sample
from agents.settings.levels import VIEWER_OFFSET
from mazegen import MazeBatch, MazeConfig, generate_levels, render_frame, save_states
from mazegen.actions import DIRECTION_ACTIONS, direction_probs
from mazegen.batch import Autoreset
from mazegen.levels import HELD_OUT_START
from mazegen.queries import open_squares
from mazegen.render import draw_arrows
from mazegen.state import BatchState, MazeState, MazeStateError

MAZE_PX = 480  # the maze is drawn about this many pixels wide
HUD_WIDTH = 340
CONTROLS = (
    ("space", "pause / resume"),
    (".", "single step"),
    ("+ / -", "faster / slower"),
    ("n", "new maze"),
    ("r", "restart"),
    ("d", "train / test distribution"),
    ("click", "move cheese"),
    ("right-click", "move mouse"),
    ("v", "vector field"),
    ("c", "patch: subtract cheese vector"),
    ("t", "patch: retarget (then click)"),
    ("s", "save state + screenshot"),
    ("arrows", "move (play-yourself mode)"),
    ("q", "quit"),
)


@dataclass
class PlaySession:
    """One maze played by a policy (or by hand), with the viewer's controls as methods.

    Args:
        config: The environment settings of the policy's run.
        act_fn: The policy (None: play yourself).
        start_level: First level shown; each new maze takes the next one.
        patch_factory: label -> function(state, target) -> act_fn under that patch (from the
            patching library), offered as toggles.
        seed: Seed of the sampled actions.
        name: How the panel names the policy (`LoadedPolicy.label`: a shipped policy by its
            name, a run by its checkpoint's path); empty: an unnamed policy.
    """

    config: MazeConfig
    act_fn: ActFn | None = None
    start_level: int = HELD_OUT_START + VIEWER_OFFSET
    patch_factory: dict[str, Callable[[MazeState, tuple[int, int] | None], ActFn]] = field(
        default_factory=dict
    )
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        self.distribution = "test"
        self.level = self.start_level
        self.paused = False
        self.speed = 5.0  # steps per second
        self.show_field = False
        self.patch: str | None = None
        self.target: tuple[int, int] | None = None
        self.awaiting_target = False
        self.steps = 0
        self.episode_return = 0.0
        self.done = False
        self.last_probs: np.ndarray | None = None
        self.message = ""
        self._rng = np.random.default_rng(self.seed)
        self._acc = 0.0
        self.env = MazeBatch(1, self.config, autoreset=Autoreset.DISABLED, copy_obs=False)
        self.env.reset(seed=self.seed)
        self._start_state = self._generate()
        self.restart()

    # ---- mazes and episodes ------------------------------------------------------------------
    @property
    def env_config(self) -> MazeConfig:
        base = self.config.held_out()
        return base.test_distribution() if self.distribution == "test" else base

    def _generate(self) -> MazeState:
        return generate_levels([self.level], self.env_config)[0]

    @property
    def state(self) -> MazeState:
        return self.env.get_state()[0]

    @property
    def square_px(self) -> int:
        """Pixels per square in the window."""
        return max(12, MAZE_PX // self.config.world_size)

    def restart(self) -> None:
        """Back to the start of the current maze (with its edits)."""
        self.env.set_state([self._start_state])
        self.steps, self.episode_return, self.done = 0, 0.0, False
        self._refresh_probs()

    def new_maze(self) -> None:
        self.level += 1
        self._start_state = self._generate()
        self.target = None
        self.restart()

    def toggle_distribution(self) -> None:
        self.distribution = "train" if self.distribution == "test" else "test"
        self._start_state = self._generate()
        self.restart()

    def move_cheese(self, square: tuple[int, int]) -> bool:
        """Moves the cheese (now and in the restart state); False if the square is invalid."""
        return self._edit(lambda s: s.with_cheese(square))

    def move_mouse(self, square: tuple[int, int]) -> bool:
        return self._edit(lambda s: s.with_mouse(square))

    def _edit(self, fn: Callable[[MazeState], MazeState]) -> bool:
        try:
            now = fn(self.state)
            self._start_state = fn(self._start_state) if self.steps == 0 else self._start_state
        except MazeStateError as e:
            self.message = str(e)
            return False
        self.env.set_state([now])
        self.done = False
        self.message = ""
        self._refresh_probs()
        return True

    # ---- stepping ----------------------------------------------------------------------------
    def current_act_fn(self) -> ActFn | None:
        if self.patch is not None and self.patch in self.patch_factory:
            return self.patch_factory[self.patch](self._start_state, self.target)
        return self.act_fn

    def _refresh_probs(self) -> None:
        act = self.current_act_fn()
        if act is None:
            self.last_probs = None
            return
        obs = self.env.observations
        self.last_probs = act(obs, np.zeros(1, dtype=np.int64))[0]

    def step(self, action: int | None = None) -> None:
        """One step: the given action (play yourself) or the policy's sampled action."""
        if self.done:
            return
        if action is None:
            if self.last_probs is None:
                return
            action = int(sample(self.last_probs[None], self._rng)[0])
        _, reward, term, trunc, _ = self.env.step(np.array([action]))
        self.steps += 1
        self.episode_return += float(reward[0])
        self.done = bool(term[0] or trunc[0])
        self._refresh_probs()

    def move(self, direction: int) -> None:
        """Play yourself: direction index (0 up, 1 down, 2 left, 3 right)."""
        self.step(int(DIRECTION_ACTIONS[self.config.action_mode][direction]))

    def tick(self, seconds: float) -> int:
        """Advances real time; returns how many policy steps were taken."""
        if self.paused or self.done or self.act_fn is None:
            return 0
        self._acc += seconds * self.speed
        n = int(self._acc)
        self._acc -= n
        for _ in range(n):
            self.step()
        return n

    def faster(self) -> None:
        self.speed = min(self.speed * 2, 200.0)

    def slower(self) -> None:
        self.speed = max(self.speed / 2, 0.25)

    # ---- patches -----------------------------------------------------------------------------
    def toggle_patch(self, label: str) -> None:
        if label not in self.patch_factory:
            self.message = f"patch {label!r} unavailable (needs the patching library)"
            return
        self.patch = None if self.patch == label else label
        self.awaiting_target = self.patch == "retarget" and self.target is None
        self._refresh_probs()

    def set_target(self, square: tuple[int, int]) -> None:
        from agents.interp.retarget import check_target
        from agents.policy.hooked import HookError

        try:
            check_target(self.state, square)
        except HookError as e:
            self.message = str(e)
            return
        self.target = square
        self.awaiting_target = False
        self._refresh_probs()

    # ---- what is drawn -----------------------------------------------------------------------
    def field_probs(self) -> tuple[list[tuple[int, int]], np.ndarray] | None:
        """Direction probabilities ``[K, 5]`` with the mouse on every open square."""
        act = self.current_act_fn()
        if act is None:
            return None
        state = self.state
        squares = [sq for sq in open_squares(state.walls) if sq != state.cheese]
        probs = policy_at_squares(act, state, squares, self.config)
        return squares, direction_probs(probs, self.config.action_mode)

    def frame(self, square_px: int | None = None) -> np.ndarray:
        """The maze as drawn (``[H, W, 3]``), with the vector field if it is on."""
        square_px = square_px or self.square_px
        region = self.config.cheese_region
        img = render_frame(self.state, square_px=square_px, region=region, target=self.target)
        if self.show_field:
            field_ = self.field_probs()
            if field_ is not None:
                draw_arrows(img, *field_, square_px)
        return img

    def direction_probs(self) -> np.ndarray | None:
        """``[4]`` P(up, down, left, right) of the policy's next move, or None."""
        if self.last_probs is None:
            return None
        return direction_probs(self.last_probs[None], self.config.action_mode)[0, :4]

    def who(self) -> str:
        """The policy shown (or the player), e.g. ``agent: shipped policy 'quick'``."""
        name = self.name or "an unnamed policy"
        if self.act_fn is None:
            return f"you play (arrow keys) in the world of {name}"
        return f"agent: {name}"

    def mazes(self) -> str:
        """The maze distribution, e.g. ``test distribution: cheese outside the top-right 5x5``."""
        n = self.config.cheese_region
        if n is None:
            return f"{self.distribution} distribution: cheese anywhere"
        where = "in" if self.distribution == "train" else "outside"
        return f"{self.distribution} distribution: cheese {where} the top-right {n}x{n}"

    def maze(self) -> str:
        """The maze: its number in this session and its level, e.g. ``maze 1: held-out level
        2,149,483,648`` (``generate_levels([level], ...)`` rebuilds it)."""
        kind = "held-out" if self.level >= HELD_OUT_START else "training"
        return f"maze {self.level - self.start_level + 1}: {kind} level {self.level:,}"

    def describe(self) -> list[str]:
        """What is shown, for every view's panel or caption: `who`, `mazes`, `maze`."""
        return [self.who(), self.mazes(), self.maze()]

    def hud_lines(self) -> list[str]:
        overlays = [
            *(["vector field"] if self.show_field else []),
            *([f"patch {self.patch}"] if self.patch else []),
            *([f"target {self.target}"] if self.target else []),
        ]
        return [
            *self.describe(),
            "",
            f"step {self.steps}/{self.config.max_steps}   return {self.episode_return:.1f}",
            f"episode: {outcome(self)}" + ("   PAUSED" if self.paused else ""),
            f"on: {', '.join(overlays) if overlays else 'nothing (v, c, t toggle)'}"
            + ("  - click a target" if self.awaiting_target else ""),
            f"speed {self.speed:g} steps/s",
            self.message[:60],
            "next move (policy):",
            "",
            "",
            "",
            "",
            *(f"{k:>11}  {v}" for k, v in CONTROLS),
        ]

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Writes the current state (.npz) and a screenshot (.png)."""
        import imageio.v2 as imageio

        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"maze_level{self.level}_step{self.steps}"
        save_states(stem.with_suffix(".npz"), BatchState.stack([self.state]))
        imageio.imwrite(stem.with_suffix(".png"), self.frame())
        self.message = f"saved {stem.name}.npz/.png"
        return stem.with_suffix(".npz"), stem.with_suffix(".png")


def wrap(line: str, fits: Callable[[str], bool]) -> list[str]:
    """``line`` split after spaces or slashes into pieces that each ``fits`` (a piece with no
    such break in it stays whole); continuation pieces are indented."""
    out: list[str] = []
    for piece in re.split(r"(?<=[ /])", line):
        if out and not fits(out[-1] + piece):
            out.append("  " + piece)
        elif out:
            out[-1] += piece
        else:
            out.append(piece)
    return [p.rstrip() for p in out]


def outcome(session: PlaySession) -> str:
    """``running``, ``reached the cheese`` or ``time-out``."""
    if not session.done:
        return "running"
    return "reached the cheese" if session.episode_return > 0 else "time-out"
