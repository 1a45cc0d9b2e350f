"""Observations (symbolic grid, RGB with sprites) drawn for whole batches and updated incrementally,
and large frames for people. Pure numpy.

Square kinds: 0 floor, 1 wall, 2 mouse, 3 cheese. Observations are channel-first
(``[N, 3, H, W]`` uint8), the layout torch and stable-baselines3's CNNs take without a transpose.
"""

from __future__ import annotations

import numpy as np

from mazegen.config import MazeConfig
from mazegen.procgen_levels import background_of
from mazegen.procgen_render import ProcgenObs, procgen_renderer
from mazegen.state import BatchState, MazeState

FLOOR, WALL, MOUSE, CHEESE = range(4)
#: RGB of each square kind in observations: dark walls, light floor, blue-grey mouse, yellow cheese.
PALETTE = np.array([[214, 204, 178], [38, 38, 52], [92, 96, 170], [250, 196, 20]], dtype=np.uint8)


def square_kinds(walls: np.ndarray, mouse: np.ndarray, cheese: np.ndarray) -> np.ndarray:
    """``[N, W, W]`` uint8 kinds from walls ``[N, W, W]``, mouse, cheese ``[N, 2]`` (-1: none)."""
    kinds = walls.astype(np.uint8)  # WALL == 1
    n = np.arange(walls.shape[0])
    has = cheese[:, 0] >= 0
    kinds[n[has], cheese[has, 0], cheese[has, 1]] = CHEESE
    kinds[n, mouse[:, 0], mouse[:, 1]] = MOUSE
    return kinds


#: The cheese's channel of grid observations (channels: wall, mouse, cheese).
GRID_CHEESE_CHANNEL = 2


class GridObs:
    """Symbolic observation ``[N, 3, W, W]`` uint8 in {0, 1}: channels wall, mouse, cheese."""

    def __init__(self, world_size: int) -> None:
        self.shape = (3, world_size, world_size)
        self.high = 1

    def draw(self, kinds: np.ndarray) -> np.ndarray:  # [N, W, W] -> [N, 3, W, W]
        return np.stack([kinds == WALL, kinds == MOUSE, kinds == CHEESE], axis=1).astype(np.uint8)

    def move(self, obs: np.ndarray, idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Moves the mouse of envs ``idx`` from squares ``old`` to ``new`` (``[K, 2]`` each)."""
        obs[idx, 1, old[:, 0], old[:, 1]] = 0
        obs[idx, 1:, new[:, 0], new[:, 1]] = (1, 0)  # a mouse on the cheese has eaten it


#: Texels per square side of the observation sprites.
TEXELS = 8


def _sprites() -> np.ndarray:
    """``[4, 3, T, T]`` uint8 textures of the square kinds, drawn from discs in a unit square.

    floor: plain light; wall: dark with a lighter top-left bevel; mouse: a grey body with pink
    ears and a dark eye; cheese: a yellow disc with an orange rim and a hole. Mouse and cheese
    sit on floor, so they differ from their surroundings in shape as well as colour.
    """
    t = TEXELS
    yy, xx = (np.mgrid[0:t, 0:t] + 0.5) / t  # texel centres in [0, 1]

    def disc(cy: float, cx: float, r: float) -> np.ndarray:
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2

    out = np.empty((4, t, t, 3), dtype=np.uint8)
    out[:] = PALETTE[FLOOR]
    out[WALL] = PALETTE[WALL]
    out[WALL][(yy < 0.2) | (xx < 0.2)] = (74, 74, 96)  # bevel
    body = disc(0.56, 0.5, 0.4)
    out[MOUSE][body] = PALETTE[MOUSE]
    out[MOUSE][disc(0.2, 0.22, 0.17) | disc(0.2, 0.78, 0.17)] = (236, 150, 170)  # ears
    out[MOUSE][disc(0.5, 0.66, 0.09)] = (20, 20, 30)  # eye
    out[CHEESE][disc(0.5, 0.5, 0.48)] = (196, 120, 0)  # rim
    out[CHEESE][disc(0.5, 0.5, 0.38)] = PALETTE[CHEESE]
    out[CHEESE][disc(0.38, 0.62, 0.1)] = (206, 150, 10)  # hole
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class RgbObs:
    """RGB observation ``[N, 3, P, P]`` uint8 of the whole world, drawn like procgen's.

    Each square kind is a small sprite (`_sprites`, 8 x 8 texels) and each pixel takes the texel
    under its centre (nearest sampling, no antialiasing, as procgen draws its 64 x 64 frame). At
    P = 64 and W = 25 (2.56 px a square) or P = 38 and W = 15 (2.53) a square is 2 or 3 pixels,
    and the mouse and the cheese are small multi-pixel sprites whose pixels depend on where in
    the pixel grid their square falls. An incremental update repaints only the changed squares.
    """

    def __init__(self, world_size: int, size: int = 64) -> None:
        self.shape = (3, size, size)
        self.high = 255
        centre = (np.arange(size) + 0.5) * world_size / size  # pixel centres in squares
        self.square_of_px = np.minimum(centre.astype(np.int64), world_size - 1)  # [P]
        self.texel_of_px = np.minimum(((centre % 1) * TEXELS).astype(np.int64), TEXELS - 1)
        span = int(np.bincount(self.square_of_px, minlength=world_size).max())
        first = np.searchsorted(self.square_of_px, np.arange(world_size))
        last = np.searchsorted(self.square_of_px, np.arange(world_size), side="right") - 1
        # [W, span] pixel indices of each square (repeating the last one if it is narrower)
        self.px = np.minimum(first[:, None] + np.arange(span)[None, :], last[:, None])
        self.sprites = _sprites()  # [4, 3, T, T]
        # [4 * T * T, 3] texel colours, indexed by kind * T * T + texel row * T + texel col
        self._flat = self.sprites.transpose(0, 2, 3, 1).reshape(-1, 3)

    def _colors(self, kinds: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``[..., 3]`` colours of pixels at ``rows``/``cols`` whose squares are of ``kinds``."""
        t = TEXELS
        return self._flat[kinds * (t * t) + self.texel_of_px[rows] * t + self.texel_of_px[cols]]

    def draw(self, kinds: np.ndarray) -> np.ndarray:  # [N, W, W] -> [N, 3, P, P]
        px = kinds[:, self.square_of_px][:, :, self.square_of_px]  # [N, P, P]
        p = np.arange(self.shape[1])
        rgb = self._colors(px.astype(np.int64), p[:, None], p[None, :])  # [N, P, P, 3]
        return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))

    def paint(self, obs: np.ndarray, idx: np.ndarray, squares: np.ndarray, kind: int) -> None:
        rows = self.px[squares[:, 0]][:, :, None]  # [K, span, 1]
        cols = self.px[squares[:, 1]][:, None, :]  # [K, 1, span]
        rgb = self._colors(np.full(rows.shape[:1] + (1, 1), kind), rows, cols)  # [K, s, s, 3]
        chan = np.arange(3)[None, :, None, None]
        obs[idx[:, None, None, None], chan, rows[:, None], cols[:, None]] = rgb.transpose(
            0, 3, 1, 2
        )

    def move(self, obs: np.ndarray, idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        self.paint(obs, idx, old, FLOOR)
        self.paint(obs, idx, new, MOUSE)


def make_obs_renderer(obs_mode: str, world_size: int, obs_size: int) -> GridObs | RgbObs:
    return GridObs(world_size) if obs_mode == "grid" else RgbObs(world_size, obs_size)


def draw_states(renderer: GridObs | RgbObs | ProcgenObs, states: BatchState) -> np.ndarray:
    """``[N, C, H, W]`` uint8: the observations of ``states`` drawn by ``renderer`` (procgen's:
    the mouse unmirrored, the background of each state's level)."""
    if isinstance(renderer, ProcgenObs):
        return renderer.draw(states, background_of(states.level))
    return renderer.draw(square_kinds(states.walls, states.mouse, states.cheese))


def observe(states: BatchState, config: MazeConfig) -> np.ndarray:
    """``[N, C, H, W]`` uint8: the observations an env with ``config`` shows of ``states``
    (the one way to draw them outside the env, for policies run on given mazes)."""
    if config.procgen:
        return draw_states(procgen_renderer(config.world_size), states)
    renderer = make_obs_renderer(config.obs_mode, config.world_size, config.obs_size)
    return draw_states(renderer, states)


# ---- frames for people ------------------------------------------------------------------------
_FRAME_COLORS = {
    "floor": (232, 224, 200),
    "wall": (44, 46, 62),
    "region": (246, 226, 170),
    "mouse": (120, 120, 132),
    "mouse_ear": (236, 170, 170),
    "cheese": (252, 200, 24),
    "cheese_edge": (200, 140, 0),
    "target": (220, 40, 40),
}


def _disc(px: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:px, 0:px] + 0.5
    return (yy - px / 2) ** 2 + (xx - px / 2) ** 2 <= radius**2


def render_frame(
    state: MazeState,
    square_px: int = 20,
    region: int | None = None,
    target: tuple[int, int] | None = None,
) -> np.ndarray:
    """A large RGB frame ``[W*px, W*px, 3]`` uint8 of one maze, for viewers and videos.

    Args:
        state: The maze.
        square_px: Pixels per square.
        region: If given, tint the inner top-right n x n (the training cheese region).
        target: If given, ring this square (a retargeting goal).
    """
    w, p = state.world_size, square_px
    img = np.empty((w, w, 3), dtype=np.uint8)
    img[:] = _FRAME_COLORS["floor"]
    if region is not None:
        n = min(region, state.inner_size)
        o, s = state.offset, state.inner_size
        img[o : o + n, o + s - n : o + s] = _FRAME_COLORS["region"]
    img[state.walls] = _FRAME_COLORS["wall"]
    frame = np.repeat(np.repeat(img, p, axis=0), p, axis=1)

    def stamp(square: tuple[int, int], mask: np.ndarray, color: tuple[int, int, int]) -> None:
        r, c = square
        block = frame[r * p : (r + 1) * p, c * p : (c + 1) * p]
        block[mask] = color

    if state.cheese is not None:
        stamp(state.cheese, _disc(p, 0.42 * p), _FRAME_COLORS["cheese_edge"])
        stamp(state.cheese, _disc(p, 0.34 * p), _FRAME_COLORS["cheese"])
    if target is not None:
        ring = _disc(p, 0.48 * p) & ~_disc(p, 0.36 * p)
        stamp(target, ring, _FRAME_COLORS["target"])
    ear = np.roll(np.roll(_disc(p, 0.16 * p), -p // 4, axis=0), -p // 4, axis=1)
    stamp(state.mouse, ear | np.roll(ear, p // 2, axis=1), _FRAME_COLORS["mouse_ear"])
    stamp(state.mouse, _disc(p, 0.3 * p), _FRAME_COLORS["mouse"])
    return frame


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
