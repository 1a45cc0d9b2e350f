"""procgen ``maze``'s 64 x 64 observation, pixel for pixel, drawn for whole batches in numpy.

How procgen draws a frame (``basic-abstract-game.cpp``; Qt 5.9's raster engine, antialiasing
and smooth scaling off, into an RGB32 image), and how this module follows it:

- ``unit = 64 / W`` px a square, and every rectangle is computed in float32 as procgen's C++
  does (`_screen_rect`), then handed to Qt as doubles.
- Black fill, then the level's background stretched over the world; then, x (column) outer and
  y (from the bottom) inner, each wall (``sandCenter.png``) and the cheese (``cheese.png``) on
  its square grown by ``RENDER_EPS = 0.02`` on every side; then the mouse (``mouse_move.png``,
  mirrored while it last moved right) on its square.
- Qt scales an image onto a rectangle (``qt_scale_image_32bit``): pixels ``qRound(left)`` to
  ``qRound(right)`` (exclusive), the source texel of pixel k being ``(base + k * step) >> 16``
  with ``step = int(65536 / scale)`` and ``base = ceil((first + 0.5 - left) * step) - 1`` in
  16.16 fixed point, the last pixel dropped if its texel falls outside the image (`_axis`).
- Sprites are premultiplied (``qPremultiply``) and drawn source-over with Qt's integer
  ``BYTE_MUL`` (`_premultiply`, `_blend`); the background and walls are opaque.

The frame is the static layer (background, walls, cheese; redrawn when a maze is written) with
the mouse composed on top, so a step repaints only the squares the mouse left and entered.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mazegen.actions import LEFT, RIGHT
from mazegen.procgen_levels import background_of
from mazegen.procgen_textures import ProcgenTextures, load_textures
from mazegen.state import BatchState

RES = 64
RENDER_EPS = np.float32(0.02)
_F = np.float32


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    """``[..., 4]`` uint8 straight RGBA -> premultiplied (Qt's ``qPremultiply`` rounding)."""
    a = rgba[..., 3:4].astype(np.uint32)
    p = rgba[..., :3].astype(np.uint32) * a
    rgb = (p + (p >> 8) + 128) >> 8
    return np.concatenate([rgb, a], axis=-1).astype(np.uint8)


def _blend(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Source-over of premultiplied ``src [..., 4]`` on opaque ``dst [..., 3]`` (Qt's
    ``src + BYTE_MUL(dst, 255 - alpha)``), uint8 ``[..., 3]``."""
    ia = 255 - src[..., 3:4].astype(np.uint16)
    p = dst.astype(np.uint16) * ia  # <= 255 * 255: uint16 holds every intermediate
    return (src[..., :3] + ((p + (p >> 8) + 128) >> 8)).astype(np.uint8)


class _Geometry:
    """procgen's drawing constants for a W x W world, in float32 (``prepare_for_drawing``)."""

    def __init__(self, world: int) -> None:
        self.world = world
        visibility = _F(world)
        raw_unit = _F(_F(64) / visibility)
        self.unit = _F(float(raw_unit) * (float(_F(RES)) / 64.0))
        self.view_dim = _F(64.0 / float(raw_unit))
        centre = _F(world * 0.5)
        self.x_off = _F(self.unit * _F(centre - _F(self.view_dim / _F(2))))
        self.y_off = self.x_off

    def screen_rect(
        self, x: float, y: float, dx: float, dy: float, render_eps: float = 0.0
    ) -> tuple[float, float, float, float]:
        """``get_screen_rect``: (left, top, width, height) as Qt receives them."""
        u, eps = self.unit, _F(render_eps)
        left = _F(_F(_F(_F(x) - eps) * u) - self.x_off)
        top = _F(_F(_F(_F(self.view_dim - _F(y)) - eps) * u) + self.y_off)
        w = _F(_F(_F(dx) + _F(_F(2) * eps)) * u)
        h = _F(_F(_F(dy) + _F(_F(2) * eps)) * u)
        return float(left), float(top), float(w), float(h)


def _qround(v: float) -> int:
    return int(np.floor(v + 0.5))


def _axis(start: float, length: float, src: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and source texels of one axis of Qt's nearest-neighbour scaled draw."""
    ix = int(65536 / (length / src))
    p1, p2 = max(_qround(start), 0), min(_qround(start + length), RES)
    if p1 >= p2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    base = int(np.ceil((p1 + 0.5 - start) * ix)) - 1
    n = p2 - p1
    if (base + ix * (n - 1)) >> 16 >= src:
        n -= 1
    k = np.arange(n, dtype=np.int64)
    return p1 + k, (base + k * ix) >> 16


def _sprite_box(
    rect: tuple[float, float, float, float], image: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows [h], cols [w], texels [h, w, C])`` of ``image`` drawn onto ``rect``."""
    left, top, w, h = rect
    cols, tx = _axis(left, w, image.shape[1])
    rows, ty = _axis(top, h, image.shape[0])
    return rows, cols, image[ty][:, tx]


class ProcgenObs:
    """procgen's observation ``[N, 3, 64, 64]`` uint8 of a W x W maze world (W = 15 or 25).

    Args:
        world_size: W.
        textures: Decoded textures (default: `load_textures`, from the cache that
            ``make procgen-textures`` fills; `ProcgenTexturesMissing` if it is absent).
    """

    def __init__(self, world_size: int, textures: ProcgenTextures | None = None) -> None:
        tex = load_textures() if textures is None else textures
        self.shape = (3, RES, RES)
        self.high = 255
        w = self.world = world_size
        g = _Geometry(w)
        # backgrounds: [B, 64, 64, 3] over a black frame
        self.backgrounds = np.zeros((len(tex.backgrounds), RES, RES, 3), dtype=np.uint8)
        for b, img in enumerate(tex.backgrounds):
            rows, cols, texels = _sprite_box(g.screen_rect(0, w, w, w), img)
            self.backgrounds[b][np.ix_(rows, cols)] = texels
        wall = _premultiply(tex.wall)
        cheese = _premultiply(tex.cheese)
        # every (pixel, covering square) pair in draw order, up to K per pixel
        k = 4
        self._cov = np.full((RES, RES, k), -1, dtype=np.int64)  # flat square r * W + c
        self._cov_wall = np.zeros((RES, RES, k, 3), dtype=np.uint8)
        self._cov_cheese = np.zeros((RES, RES, k, 4), dtype=np.uint8)
        count = np.zeros((RES, RES), dtype=np.int64)
        for x in range(w):
            for y in range(w):
                rect = g.screen_rect(x, y + 1, 1, 1, float(RENDER_EPS))
                rows, cols, wt = _sprite_box(rect, wall)
                _, _, ct = _sprite_box(rect, cheese)
                rr, cc = np.meshgrid(rows, cols, indexing="ij")
                slot = count[rr, cc]
                self._cov[rr, cc, slot] = (w - 1 - y) * w + x
                self._cov_wall[rr, cc, slot] = wt[..., :3]
                self._cov_cheese[rr, cc, slot] = ct
                count[rr, cc] += 1
        assert count.max() <= k
        # walls only: the pixel's colour for each pattern of walls among its covering squares
        # (bit 3 - k: slot k is a wall, as `static` packs it), per background and channel:
        # [3, B * P * P * 2^K]
        assert k == 4
        pats = np.arange(2**k)
        bits = (pats[:, None] >> (3 - np.arange(k))[None, :]) & 1  # [2^K, K]: slot k's bit
        top_slot = np.where(bits, np.arange(k), -1).max(axis=1)  # [2^K] last wall drawn
        walls_only = self._cov_wall[:, :, np.maximum(top_slot, 0)]  # [P, P, 2^K, 3]
        table = np.broadcast_to(walls_only, (len(tex.backgrounds), *walls_only.shape)).copy()
        table[:, :, :, 0] = self.backgrounds
        self._table = np.ascontiguousarray(table.reshape(-1, 3).T)
        self._table_stride = RES * RES * 2**k
        self._pix = np.arange(RES * RES, dtype=np.int64) * 2**k
        self._cov_idx = np.where(self._cov >= 0, self._cov, w * w).reshape(-1)  # [P * P * K]
        # the pixels each square's (grown) rect covers: [W * W, S2] rows and cols
        s2 = int(np.ceil(float(g.unit) * 1.04)) + 1
        self._c_rows = np.zeros((w * w, s2), dtype=np.int64)
        self._c_cols = np.zeros((w * w, s2), dtype=np.int64)
        for x in range(w):
            for y in range(w):
                rect = g.screen_rect(x, y + 1, 1, 1, float(RENDER_EPS))
                rows, cols, _ = _sprite_box(rect, wall)
                sq = (w - 1 - y) * w + x
                self._c_rows[sq] = rows[np.minimum(np.arange(s2), len(rows) - 1)]
                self._c_cols[sq] = cols[np.minimum(np.arange(s2), len(cols) - 1)]
        # the mouse on each square, plain and mirrored: [2, W, W, S, S, 4] premultiplied texels
        # on pixel rows/cols [W, S] (a narrower box repeats its last pixel and texel)
        mouse = _premultiply(tex.mouse)
        s = int(np.ceil(float(g.unit))) + 1  # the widest box a square's rect rounds to
        self._m_rows = np.zeros((w, s), dtype=np.int64)
        self._m_cols = np.zeros((w, s), dtype=np.int64)
        self._m_tex = np.zeros((2, w, w, s, s, 4), dtype=np.uint8)
        for r in range(w):
            for c in range(w):
                rect = g.screen_rect(c, w - r, 1, 1)
                for m, img in enumerate((mouse, mouse[:, ::-1])):
                    rows, cols, texels = _sprite_box(rect, img)
                    ri = np.minimum(np.arange(s), len(rows) - 1)
                    ci = np.minimum(np.arange(s), len(cols) - 1)
                    self._m_rows[r], self._m_cols[c] = rows[ri], cols[ci]
                    self._m_tex[m, r, c] = texels[ri][:, ci]
        # flat forms for stepping: the box of square r * W + c as offsets into one env's
        # [3, P, P] frame, [W * W, 3, S * S]; the sprite as uint16 colour and 255 - alpha
        box = self._m_rows[:, None, :, None] * RES + self._m_cols[None, :, None, :]  # [W,W,S,S]
        box = box.reshape(w * w, 1, s * s)
        self._box = box + (np.arange(3) * RES * RES)[None, :, None]
        tex_cf = self._m_tex.reshape(2, w * w, s * s, 4).transpose(0, 1, 3, 2)  # [2, W*W, 4, SS]
        # indexed by mirrored * W * W + square
        self._m_src = tex_cf[:, :, :3].astype(np.uint16).reshape(2 * w * w, 3, s * s)
        self._m_ia = (255 - tex_cf[:, :, 3:].astype(np.uint16)).reshape(2 * w * w, 1, s * s)

    # ---- drawing ------------------------------------------------------------------------------
    def static(self, states: BatchState, backgrounds: np.ndarray) -> np.ndarray:
        """``[N, 3, 64, 64]``: background, walls and cheese of ``states`` (no mouse)."""
        n, w, k = states.num, self.world, self._cov.shape[-1]
        walls = np.zeros((n, w * w + 1), dtype=np.uint8)  # the last column: "no square"
        walls[:, :-1] = states.walls.reshape(n, -1)
        is_wall = np.take(walls, self._cov_idx, axis=1)  # [N, P*P*K] 0/1 bytes
        # four 0/1 bytes b0..b3 as one little-endian word; * 0x08040201 sums 8 b0 + 4 b1 +
        # 2 b2 + b3 into the top byte (no carries)
        packed = is_wall.view(np.uint32) * np.uint32(0x08040201)  # [N, P*P]
        flat = (packed >> 24).astype(np.int64)
        flat += backgrounds[:, None] * self._table_stride + self._pix
        out_cf = np.empty((n, 3, RES * RES), dtype=np.uint8)
        for ch in range(3):
            np.take(self._table[ch], flat, out=out_cf[:, ch])
        out = out_cf.reshape(n, 3, RES, RES).transpose(0, 2, 3, 1)  # a view, channel-last
        has = np.flatnonzero(states.has_cheese)
        if has.size:  # the cheese's box: resolved draw by draw
            sq = states.cheese[has, 0] * w + states.cheese[has, 1]
            rows = self._c_rows[sq][:, :, None]  # [M, S2, 1]
            cols = self._c_cols[sq][:, None, :]  # [M, 1, S2]
            cov = self._cov[rows, cols]  # [M, S2, S2, K]
            wall = walls[has[:, None, None, None], np.where(cov >= 0, cov, w * w)] > 0
            kk = np.arange(k)
            last_wall = np.where(wall, kk, -1).max(axis=-1)  # [M, S2, S2]
            cheese_k = np.where(cov == sq[:, None, None, None], kk, -1).max(axis=-1)
            under_k = np.where(wall & (kk < cheese_k[..., None]), kk, -1).max(axis=-1)
            bg = self.backgrounds[backgrounds[has][:, None, None], rows, cols]  # [M, S2, S2, 3]

            def wall_at(slot: np.ndarray) -> np.ndarray:
                pick = self._cov_wall[rows, cols, np.maximum(slot, 0)]
                return np.where((slot >= 0)[..., None], pick, bg)

            src = self._cov_cheese[rows, cols, np.maximum(cheese_k, 0)]  # [M, S2, S2, 4]
            top = (cheese_k >= 0) & (cheese_k > last_wall)
            value = np.where(top[..., None], _blend(src, wall_at(under_k)), wall_at(last_wall))
            out[has[:, None, None], rows, cols] = value
        return out_cf.reshape(n, 3, RES, RES)

    def paint_mouse(
        self,
        obs: np.ndarray,
        static: np.ndarray,
        idx: np.ndarray,
        squares: np.ndarray,
        mirrored: np.ndarray,
    ) -> None:
        """Draws the mouse of envs ``idx`` on ``squares [K, 2]`` over their static layers."""
        self.paint_cells(obs, static, idx, squares[:, 0] * self.world + squares[:, 1], mirrored)

    def paint_cells(
        self,
        obs: np.ndarray,
        static: np.ndarray,
        idx: np.ndarray,
        cells: np.ndarray,
        mirrored: np.ndarray,
    ) -> None:
        """`paint_mouse` with squares as flat indices ``r * W + c`` ``[K]``."""
        flat = idx[:, None, None] * (3 * RES * RES) + self._box[cells]  # [K, 3, S*S]
        mc = cells + mirrored * (self.world * self.world)
        p = static.reshape(-1)[flat].astype(np.uint16) * self._m_ia[mc]
        p += (p >> 8) + 128
        p >>= 8
        p += self._m_src[mc]
        obs.reshape(-1)[flat] = p

    def restore_cells(
        self, obs: np.ndarray, static: np.ndarray, idx: np.ndarray, cells: np.ndarray
    ) -> None:
        """Repaints the static layer over the mouse's box on squares ``cells [K]``."""
        flat = idx[:, None, None] * (3 * RES * RES) + self._box[cells]
        obs.reshape(-1)[flat] = static.reshape(-1)[flat]

    def draw(
        self, states: BatchState, backgrounds: np.ndarray, mirrored: np.ndarray | None = None
    ) -> np.ndarray:
        """``[N, 3, 64, 64]``: the frames procgen shows of ``states`` (mouse not mirrored unless
        ``mirrored [N]`` says so)."""
        static = self.static(states, backgrounds)
        obs = static.copy()
        mir = np.zeros(states.num, bool) if mirrored is None else np.asarray(mirrored, bool)
        self.paint_mouse(obs, static, np.arange(states.num), states.mouse, mir)
        return obs


#: mirrored after a step, by ``direction * 2 + mirrored before`` (directions: mazegen.actions)
_TURN = np.array(
    [[d == RIGHT or (m and d != LEFT) for m in (0, 1)] for d in range(5)], dtype=bool
).reshape(-1)


@lru_cache(maxsize=4)
def procgen_renderer(world_size: int) -> ProcgenObs:
    """The `ProcgenObs` of a world size, built once (its tables take ~0.1 s)."""
    return ProcgenObs(world_size)


class ProcgenFrames:
    """The observation state of N envs in procgen mode: static layers, background and whether
    each mouse is mirrored (procgen's ``is_reflected``: set by a move right, even into a wall,
    cleared by a move left, false at every reset)."""

    def __init__(self, num_envs: int, world_size: int) -> None:
        self.renderer = procgen_renderer(world_size)
        self.static = np.zeros((num_envs, 3, RES, RES), dtype=np.uint8)
        self.mirrored = np.zeros(num_envs, dtype=bool)

    def statics(self, states: BatchState) -> np.ndarray:
        """``[N, 3, 64, 64]``: the static frames (no mouse) of ``states``."""
        return self.renderer.static(states, background_of(states.level))

    def write(
        self,
        obs: np.ndarray,
        idx: np.ndarray,
        states: BatchState,
        statics: np.ndarray | None = None,
    ) -> None:
        """Draws the freshly written ``states`` of envs ``idx`` into ``obs`` (``statics``: their
        static frames, if drawn already)."""
        self.static[idx] = self.statics(states) if statics is None else statics
        self.mirrored[idx] = False
        obs[idx] = self.static[idx]
        self.renderer.paint_mouse(obs, self.static, idx, states.mouse, self.mirrored[idx])

    def step(self, obs: np.ndarray, old: np.ndarray, new: np.ndarray, dirs: np.ndarray) -> None:
        """Redraws the mice that moved or turned (squares as flat indices ``r * W + c``
        ``[N]``, directions ``[N]``)."""
        mirrored = _TURN[dirs * 2 + self.mirrored]
        moved = old != new
        changed = moved | (mirrored != self.mirrored)
        self.mirrored = mirrored
        if moved.any():  # a mouse that only turned is repainted over its own box
            idx = np.flatnonzero(moved)
            self.renderer.restore_cells(obs, self.static, idx, old[idx])
        if changed.any():
            idx = np.flatnonzero(changed)
            self.renderer.paint_cells(obs, self.static, idx, new[idx], mirrored[idx])
