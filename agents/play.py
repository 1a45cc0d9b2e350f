"""The rollout viewer's logic: `PlaySession` (policy, maze, patches, controls) and its pygame
front end `run_window`, plus headless recording (`record`).

The session holds no pygame state; the window maps keys and clicks to its methods, so tests
drive either the session directly or the window with synthesized pygame events.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agents.rollout import ActFn, policy_at_squares, sample
from mazegen import MazeBatch, MazeConfig, generate_levels, render_frame, save_states
from mazegen.actions import DIRECTION_ACTIONS, direction_probs
from mazegen.batch import Autoreset
from mazegen.levels import HELD_OUT_START, VIEWER_FIT_OFFSET, VIEWER_OFFSET
from mazegen.queries import open_squares
from mazegen.state import BatchState, MazeState, MazeStateError
from mazegen.viewer import DisplayUnavailableError

if TYPE_CHECKING:
    from agents.analysis.goal_field import GoalField

MAZE_PX = 480  # the maze is drawn about this many pixels wide
HUD_WIDTH = 300
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
    """

    config: MazeConfig
    act_fn: ActFn | None = None
    start_level: int = HELD_OUT_START + VIEWER_OFFSET
    patch_factory: dict[str, Callable[[MazeState, tuple[int, int] | None], ActFn]] = field(
        default_factory=dict
    )
    seed: int = 0

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
        obs = self.env._obs  # the live observation of the one maze
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
        from agents.analysis.hooks import HookError
        from agents.analysis.retarget import check_target

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

    def hud_lines(self) -> list[str]:
        overlays = [
            *(["vector field"] if self.show_field else []),
            *([f"patch {self.patch}"] if self.patch else []),
            *([f"target {self.target}"] if self.target else []),
        ]
        return [
            f"step {self.steps}/{self.config.max_steps}   return {self.episode_return:.1f}",
            f"episode: {outcome(self)}" + ("   PAUSED" if self.paused else ""),
            f"{self.distribution} distribution, level {self.level}",
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


def draw_arrows(
    img: np.ndarray,
    squares: list[tuple[int, int]],
    probs: np.ndarray,
    square_px: int,
    color: tuple[int, int, int] = (255, 120, 20),
) -> None:
    """Draws, in place, an arrow with a head on each square, from its centre along the policy's
    mean move (right - left, down - up), as long as that mean is strong (a square's half at
    full confidence); a dot where the policy favours no direction. Arrows are outlined in black
    so they read on walls and floor alike (the 2023 vector-field figures)."""
    k = square_px
    yy, xx = np.mgrid[0:k, 0:k].astype(float) + 0.5
    for (r, c), p in zip(squares, probs):
        dy, dx = float(p[1] - p[0]), float(p[3] - p[2])
        norm = float(np.hypot(dx, dy))
        cy = cx = k / 2
        if norm < 0.15:
            rr = (yy - cy) ** 2 + (xx - cx) ** 2
            fill, outline = rr <= (0.09 * k) ** 2, rr <= (0.09 * k + 1.2) ** 2
        else:
            uy, ux = dy / norm, dx / norm
            length = 0.48 * k * min(1.0, 0.3 + norm)
            head = min(0.45 * length + 2, 0.3 * k)
            along = (yy - cy) * uy + (xx - cx) * ux  # distance along the arrow
            across = np.abs(-(yy - cy) * ux + (xx - cx) * uy)
            half = max(1.0, k / 16)
            shaft = (along >= 0) & (along <= length - head) & (across <= half)
            tip = (along >= length - head) & (along <= length)
            cone = tip & (across <= (length - along) * 0.55 + 0.3)
            fill = shaft | cone
            grown = (along >= -1.2) & (along <= length + 1.2)
            outline = grown & (
                ((along <= length - head) & (across <= half + 1.2))
                | ((along >= length - head - 1.2) & (across <= (length + 1.2 - along) * 0.55 + 1.2))
            )
        block = img[r * k : (r + 1) * k, c * k : (c + 1) * k]
        block[outline & ~fill] = (0, 0, 0)
        block[fill] = color


def caption(lines: list[str], width: int, height: int = 0) -> np.ndarray:
    """``[H, width, 3]`` dark strip with ``lines`` of text (Pillow's default font)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font: Any = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    step = 18
    im = Image.new("RGB", (width, max(height, 6 + step * len(lines))), (24, 24, 30))
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        draw.text((6, 4 + step * i), line, fill=(235, 235, 235), font=font)
    return np.asarray(im)


DisplayError = DisplayUnavailableError  # no display (or no pygame) for the window


def run_window(
    session: PlaySession,
    save_dir: Path,
    max_frames: int | None = None,
    events: Callable[[], list[Any]] | None = None,
) -> None:
    """The pygame window: draws the session and maps keys and clicks to it.

    Args:
        session: What is shown.
        save_dir: Where ``s`` saves states and screenshots.
        max_frames: Stop after this many frames (tests); None runs until quit.
        events: Source of events (default ``pygame.event.get``; tests inject their own).
    """
    from mazegen.viewer import import_pygame

    pg = import_pygame()
    if os.environ.get("SDL_VIDEODRIVER") != "dummy" and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise DisplayError(
            "no display available; use the headless record mode "
            "(python -m experiments.play mode=record out=rollout.gif)"
        )
    pg.display.init()
    pg.font.init()
    px = session.square_px
    w = session.config.world_size * px
    try:
        screen = pg.display.set_mode((w + HUD_WIDTH, max(w, 420)))
    except pg.error as e:
        raise DisplayError(f"cannot open a window ({e}); use mode=record") from None
    pg.display.set_caption("cheese-maze")
    font = pg.font.Font(None, 18)
    clock = pg.time.Clock()
    get_events = events or pg.event.get
    frames = 0
    running = True
    keys = {
        pg.K_SPACE: lambda: setattr(session, "paused", not session.paused),
        pg.K_PERIOD: session.step,
        pg.K_PLUS: session.faster,
        pg.K_EQUALS: session.faster,
        pg.K_KP_PLUS: session.faster,
        pg.K_MINUS: session.slower,
        pg.K_KP_MINUS: session.slower,
        pg.K_n: session.new_maze,
        pg.K_r: session.restart,
        pg.K_d: session.toggle_distribution,
        pg.K_v: lambda: setattr(session, "show_field", not session.show_field),
        pg.K_c: lambda: session.toggle_patch("cheese_vector"),
        pg.K_t: lambda: session.toggle_patch("retarget"),
        pg.K_s: lambda: session.save(save_dir),
        pg.K_UP: lambda: session.move(0),
        pg.K_DOWN: lambda: session.move(1),
        pg.K_LEFT: lambda: session.move(2),
        pg.K_RIGHT: lambda: session.move(3),
    }
    try:
        while running and (max_frames is None or frames < max_frames):
            dt = clock.tick(30) / 1000.0
            for ev in get_events():
                if ev.type == pg.QUIT or (
                    ev.type == pg.KEYDOWN and ev.key in (pg.K_q, pg.K_ESCAPE)
                ):
                    running = False
                elif ev.type == pg.KEYDOWN and ev.key in keys:
                    keys[ev.key]()
                elif ev.type == pg.MOUSEBUTTONDOWN:
                    x, y = ev.pos
                    if x < w and y < w:
                        square = (y // px, x // px)
                        if session.awaiting_target:
                            session.set_target(square)
                        elif ev.button == 1:
                            session.move_cheese(square)
                        else:
                            session.move_mouse(square)
            session.tick(dt)
            draw(pg, screen, font, session)
            pg.display.flip()
            frames += 1
    finally:
        pg.display.quit()


def draw(pg: Any, screen: Any, font: Any, session: PlaySession) -> None:
    frame = session.frame()
    screen.fill((24, 24, 30))
    surf = pg.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
    screen.blit(surf, (0, 0))
    x0 = frame.shape[1] + 10
    lines = session.hud_lines()
    for i, line in enumerate(lines):
        screen.blit(font.render(line, True, (230, 230, 230)), (x0, 8 + 16 * i))
    probs = session.direction_probs()
    if probs is not None:  # a small bar chart under "next move"
        top = 8 + 16 * (lines.index("next move (policy):") + 1)
        for k, (name, p) in enumerate(zip(("up", "down", "left", "right"), probs)):
            y = top + 16 * k
            screen.blit(font.render(f"{name:>5} {p:.2f}", True, (230, 230, 230)), (x0, y))
            pg.draw.rect(screen, (255, 120, 20), (x0 + 80, y + 2, int(150 * p), 10))


def _with_progress(img: np.ndarray, step: int, limit: int) -> np.ndarray:
    """The frame with a 4-pixel step bar below it (so every frame of a video differs)."""
    bar = np.full((4, img.shape[1], 3), 40, dtype=np.uint8)
    bar[:, : max(1, round(img.shape[1] * min(step, limit) / limit))] = (90, 170, 250)
    return np.concatenate([img, bar])


RECORD_PX = 400  # recorded mazes are at least this many pixels wide


def outcome(session: PlaySession) -> str:
    if not session.done:
        return "running"
    return "reached the cheese" if session.episode_return > 0 else "time-out"


def video_frame(session: PlaySession, limit: int, title: str | None = None) -> np.ndarray:
    """One recorded frame: the maze (>= `RECORD_PX` wide), a step bar and a text strip with the
    step, return, outcome, distribution, patch and action probabilities."""
    px = max(8, -(-RECORD_PX // session.config.world_size))
    img = _with_progress(session.frame(square_px=px), session.steps, limit)
    probs = (
        "-"
        if session.last_probs is None
        else "  ".join(
            f"{name} {p:.2f}"
            for name, p in zip(
                ("up", "down", "left", "right"),
                direction_probs(session.last_probs[None], session.config.action_mode)[0],
            )
        )
    )
    lines = [
        *([title] if title else []),
        f"step {session.steps}/{limit}   return {session.episode_return:.1f}   {outcome(session)}",
        f"{session.distribution} distribution, level {session.level}   "
        f"patch: {session.patch or 'none'}",
        f"P(move) {probs}",
    ]
    return np.concatenate([img, caption(lines, img.shape[1])])


def record(
    session: PlaySession,
    path: Path,
    episodes: int,
    fps: int = 8,
    max_steps: int | None = None,
    compare: PlaySession | None = None,
) -> int:
    """Plays ``episodes`` episodes headless and writes them as a GIF or MP4; returns frames.

    With ``compare`` (a second session on the same mazes, e.g. with a patch on), each frame
    shows the two side by side; an episode lasts until both are done.
    """
    import imageio.v2 as imageio

    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"record output must end in .gif or .mp4, got {path.name}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError(
                "MP4 needs the imageio-ffmpeg package (make setup installs it); or write a .gif"
            ) from None
    sessions = [session] if compare is None else [session, compare]
    titles = [None] if compare is None else ["unpatched", f"patched: {compare.patch}"]
    frames: list[Any] = []
    limit = max_steps or session.config.max_steps

    def shot() -> np.ndarray:
        parts = [video_frame(s, limit, t) for s, t in zip(sessions, titles)]
        gap = np.full((parts[0].shape[0], 8, 3), 255, dtype=np.uint8)
        return np.concatenate([x for part in parts for x in (part, gap)][:-1], axis=1)

    for e in range(episodes):
        if e:
            for s in sessions:
                s.new_maze()
        frames.append(shot())
        while any(not s.done and s.steps < limit for s in sessions):
            for s in sessions:
                if not s.done and s.steps < limit:
                    s.step()
            frames.append(shot())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        if suffix == ".gif":
            # imageio's GIF writer takes the frame duration in milliseconds
            imageio.mimsave(tmp, frames, duration=1000.0 / fps, loop=0)
        else:
            even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
            imageio.mimsave(tmp, even, fps=fps, format="FFMPEG", macro_block_size=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(frames)


def patch_factories(
    net: Any,
    config: MazeConfig,
    hook: str | None = None,
    mazes: int = 100,
    goal_field: GoalField | None = None,
) -> dict[str, Callable[[MazeState, tuple[int, int] | None], ActFn]]:
    """The viewer's patch toggles, built on the patching library.

    - ``cheese_vector``: subtract the current maze's cheese vector (taken at its start).
    - ``retarget``: the top cheese-tracking channel set to twice its largest activation at
      the clicked target square; with ``goal_field``, that field centred on the target.
    """

    from agents.analysis.activations import (
        activations,
        default_hook,
        map_position,
        patched_act_fn,
    )
    from agents.analysis.channels import find_cheese_channels
    from agents.analysis.patches import add_vector, set_channels
    from agents.analysis.vectors import cheese_vector

    layer = hook or default_hook(net)
    test_cfg = config.held_out().test_distribution()
    found: dict[str, Any] = {}

    def subtract_cheese(state: MazeState, _target: tuple[int, int] | None) -> ActFn:
        if state.cheese is None:
            return patched_act_fn(net, lambda idx: {})
        vec = cheese_vector(net, layer, BatchState.stack([state]), config)[0]
        return patched_act_fn(net, lambda idx: {layer: add_vector(vec, -1.0)})

    def retarget(state: MazeState, target: tuple[int, int] | None) -> ActFn:
        if target is None:
            return patched_act_fn(net, lambda idx: {})
        if goal_field is not None:
            gf = goal_field
            shape = activations(net, gf.hook, BatchState.stack([state]), config).shape[2:]
            fpos = map_position(np.array([target]), config.world_size, tuple(shape))
            return patched_act_fn(net, lambda idx: {gf.hook: gf.patch(fpos)})
        if not found:
            res = find_cheese_channels(
                net,
                layer,
                generate_levels(
                    range(
                        HELD_OUT_START + VIEWER_FIT_OFFSET,
                        HELD_OUT_START + VIEWER_FIT_OFFSET + mazes,
                    ),
                    test_cfg,
                ),
                test_cfg,
            )
            ch = res.top[0]["channel"]
            found.update(channel=ch, value=2.0 * res.largest([ch]), shape=res.with_cheese.shape[1:])
        pos = map_position(np.array([target]), config.world_size, found["shape"])[0]
        patch = set_channels([found["channel"]], (int(pos[0]), int(pos[1])), found["value"])
        return patched_act_fn(net, lambda idx: {layer: patch})

    return {"cheese_vector": subtract_cheese, "retarget": retarget}
