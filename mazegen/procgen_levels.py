"""procgen ``maze`` levels, number for number: the same random stream, maze and cheese.

Facts from procgen's C++ (openai/procgen, ``game.cpp``, ``basic-abstract-game.cpp``,
``games/maze.cpp``, ``mazegen.cpp``, ``randgen.cpp``) and procgenAISC's ``maze_aisc.cpp``:

- Level L seeds a ``std::mt19937`` with L (``RandGen::seed``); ``randn(n)`` is ``next() % n``
  and ``rand01()`` ``next() / 2**32``.
- The reset draws, in order: ``rand01()`` (the background's horizontal offset, which square
  backgrounds ignore), ``randn(9)`` (which of the 9 top-down backgrounds), then
  ``maze_dim = randn((W - 1) / 2) * 2 + 3``.
- ``MazeGen::generate_maze``: a list of walls between cells two apart (first those between
  ``(x, y)`` and ``(x + 2, y)``, x outer, then ``(x, y)``-``(x, y + 2)``); while it is not
  empty, ``n = randn(len)`` picks one, it is knocked down if its two cells are in different
  sets (the cells, then the wall, then the other cell join the free-cell list when first
  freed), and it is erased from the list.
- Vanilla cheese (``place_objects``): ``m = randn(num_free)`` until ``free_cells[m]`` is not
  cell 0 (the start). procgenAISC (``deterministic_place``, ``rand_region = n``, clipped to
  the maze): one ``randn(num_free)`` drawn and dropped, then up to ``maze_dim * 100`` draws,
  the first that lands on a cell other than the start with ``x, y >= maze_dim - n`` gets the
  cheese; if none does the level has no cheese.
- y points up: cell ``(x, y)`` of the inner maze is world row ``W - 1 - (margin + y)``,
  column ``margin + x``; the mouse starts on cell (0, 0), the inner bottom-left.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mazegen.state import BatchState

#: Number of procgen's top-down backgrounds (``topdown_backgrounds`` in ``resources.cpp``).
NUM_BACKGROUNDS = 9
_BACKGROUNDS: dict[int, int] = {}  # level -> background, remembered from generation


class _Stream:
    """The 32-bit outputs of ``std::mt19937(seed)`` (numpy's legacy seeding is the same
    ``init_genrand``), read in blocks; ``first`` holds outputs computed ahead (`_mt_batch`)."""

    def __init__(self, seed: int, first: list[int] | None = None, skip: int = 0) -> None:
        self._seed = int(seed) & 0xFFFFFFFF
        self._rs: np.random.RandomState | None = None
        self._buf: list[int] = first if first is not None else []
        self._done = skip  # outputs consumed before the current buffer
        self._pos = 0

    def next(self) -> int:
        if self._pos == len(self._buf):
            if self._rs is None:  # past the outputs computed ahead: the slow, exact way
                self._rs = np.random.RandomState(self._seed)
                self._rs.randint(0, 2**32, size=self._done + self._pos, dtype=np.uint32)
            self._done += self._pos
            self._buf = self._rs.randint(0, 2**32, size=1024, dtype=np.uint32).tolist()
            self._pos = 0
        x = self._buf[self._pos]
        self._pos += 1
        return x

    def randn(self, n: int) -> int:
        return self.next() % n


_N, _M = 624, 397


_U32 = np.uint32


def _twist(mt: np.ndarray) -> np.ndarray:
    """One mt19937 twist of ``[B, 624]`` uint32 states, vectorized over B (uint32 wraps)."""
    mt = mt.copy()

    def span(lo: int, hi: int, nxt: np.ndarray, far: np.ndarray) -> None:
        y = (mt[:, lo:hi] & _U32(0x80000000)) | (nxt & _U32(0x7FFFFFFF))
        mt[:, lo:hi] = far ^ (y >> _U32(1)) ^ ((y & _U32(1)) * _U32(0x9908B0DF))

    span(0, 227, mt[:, 1:228], mt[:, 397:624])
    span(227, 454, mt[:, 228:455], mt[:, 0:227].copy())
    span(454, 623, mt[:, 455:624], mt[:, 227:396].copy())
    span(623, 624, mt[:, 0:1], mt[:, 396:397].copy())
    return mt


def _temper(y: np.ndarray) -> np.ndarray:
    y = y ^ (y >> _U32(11))
    y = y ^ ((y << _U32(7)) & _U32(0x9D2C5680))
    y = y ^ ((y << _U32(15)) & _U32(0xEFC60000))
    return y ^ (y >> _U32(18))


def _mt_batch(seeds: Sequence[int], blocks: int = 1) -> np.ndarray:
    """``[B, 624 * blocks]`` uint32: the first outputs of ``std::mt19937(seed)`` per seed."""
    init = np.empty((_N, len(seeds)), dtype=np.uint32)  # [624, B]: each step writes one row
    init[0] = np.array([int(s) & 0xFFFFFFFF for s in seeds], dtype=np.uint32)
    tmp = np.empty(len(seeds), dtype=np.uint32)
    mul = _U32(1812433253)
    for i in range(1, _N):  # x_i = 1812433253 * (x_{i-1} ^ (x_{i-1} >> 30)) + i  (mod 2**32)
        np.right_shift(init[i - 1], 30, out=tmp)
        np.bitwise_xor(tmp, init[i - 1], out=tmp)
        np.multiply(tmp, mul, out=tmp)
        np.add(tmp, _U32(i), out=init[i])
    mt = np.ascontiguousarray(init.T)
    out = []
    for _ in range(blocks):
        mt = _twist(mt)
        out.append(_temper(mt))
    return np.concatenate(out, axis=1)


def mt19937_outputs(seed: int, n: int) -> np.ndarray:
    """``[n]`` uint32: the first n outputs of ``std::mt19937(seed)``."""
    rs = np.random.RandomState(int(seed) & 0xFFFFFFFF)
    return rs.randint(0, 2**32, size=n, dtype=np.uint32)


@lru_cache(maxsize=64)
def _wall_cells(d: int) -> tuple[tuple[int, int, int], ...]:
    """The walls of a ``d x d`` maze in ``MazeGen``'s order, each as its ``(cell, wall,
    other cell)`` flat indices ``d * y + x``."""
    out = [(i - 1, j, i + 1, j) for i in range(1, d, 2) for j in range(0, d, 2)]
    out += [(i, j - 1, i, j + 1) for i in range(0, d, 2) for j in range(1, d, 2)]
    return tuple(
        (d * y1 + x1, d * ((y1 + y2) // 2) + (x1 + x2) // 2, d * y2 + x2) for x1, y1, x2, y2 in out
    )


@lru_cache(maxsize=64)
def _lengths(d: int) -> np.ndarray:
    """``[num_walls]`` the wall list's length before each of its pops."""
    return np.arange(len(_wall_cells(d)), 0, -1, dtype=np.uint32)


def _carve(
    level: int, world_size: int, rand_region: int | None, raw: np.ndarray
) -> tuple[int, list[int], int | None, int]:
    """One level from its stream's first outputs ``raw [624]`` uint32.

    Returns:
        ``(maze_dim, free cells d * y + x in the order freed, cheese cell or None,
        background index)``.
    """
    background = int(raw[1]) % NUM_BACKGROUNDS
    _BACKGROUNDS[int(level)] = background
    d = int(raw[2]) % ((world_size - 1) // 2) * 2 + 3
    walls = list(_wall_cells(d))
    used = 3 + len(walls)  # the reset's draws fit in the first 624 outputs
    pop = walls.pop
    order = [pop(k) for k in (raw[3:used] % _lengths(d)).tolist()]
    parent = list(range(d * d))  # union-find over cell indices d * y + x
    free: list[int] = []
    is_free = bytearray(d * d)
    for c1, wall, c2 in order:
        a, b = c1, c2
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a != b:  # a wall is first freed here; its two cells may have been freed before
            parent[a] = b
            if not is_free[c1]:
                is_free[c1] = 1
                free.append(c1)
            free.append(wall)
            if not is_free[c2]:
                is_free[c2] = 1
                free.append(c2)
    rng = _Stream(level, raw[used:].tolist(), skip=used)
    nf = len(free)
    cell: int | None = None
    if rand_region is None:
        m = rng.randn(nf)
        while free[m] == 0:
            m = rng.randn(nf)
        cell = free[m]
    else:
        k = min(rand_region, d)
        if k <= 0:
            cell = d * (d - 1) + d - 1
        else:
            rng.randn(nf)
            for _ in range(d * 100):
                c = free[rng.randn(nf)]
                if c != 0 and c % d >= d - k and c // d >= d - k:
                    cell = c
                    break
    return d, free, cell, background


def procgen_level(
    level: int, world_size: int, rand_region: int | None, first: np.ndarray | None = None
) -> tuple[np.ndarray, int, tuple[int, int] | None, int]:
    """One level as procgen builds it (``first``: its stream's first 624 outputs, if computed).

    Returns:
        ``(walls [W, W] bool with row 0 at the top, maze_dim, cheese (row, col) or None,
        background index)``.
    """
    raw = np.asarray(first, np.uint32) if first is not None else mt19937_outputs(level, _N)
    d, free, cell, background = _carve(level, world_size, rand_region, raw)
    margin = (world_size - d) // 2
    grid = np.ones((world_size, world_size), dtype=bool)
    fr = np.array(free, dtype=np.int64)
    grid[world_size - 1 - (margin + fr // d), margin + fr % d] = False
    cheese = None
    if cell is not None:
        cheese = (world_size - 1 - (margin + cell // d), margin + cell % d)
    return grid, d, cheese, background


def procgen_levels(
    levels: Sequence[int], world_size: int, rand_region: int | None
) -> tuple[BatchState, np.ndarray]:
    """The mazes of procgen levels ``levels`` and their ``[N]`` background indices."""
    w, n = world_size, len(levels)
    first = _mt_batch(levels) if n else np.zeros((0, _N), np.uint32)  # [N, 624]
    made = [_carve(int(x), w, rand_region, f) for x, f in zip(levels, first)]
    inner = np.array([m[0] for m in made], dtype=np.int64).reshape(n)
    margin = (w - inner) // 2
    walls = np.ones((n, w, w), dtype=bool)
    counts = [len(m[1]) for m in made]
    fr = np.fromiter((c for m in made for c in m[1]), dtype=np.int64, count=sum(counts))
    env = np.repeat(np.arange(n), counts)
    d, mg = inner[env], margin[env]
    walls[env, w - 1 - (mg + fr // d), mg + fr % d] = False  # every level's free cells at once
    cell = np.array([-1 if m[2] is None else m[2] for m in made], dtype=np.int64).reshape(n)
    cheese = np.stack([w - 1 - (margin + cell // inner), margin + cell % inner], axis=1)
    cheese[cell < 0] = -1
    states = BatchState(
        walls=walls,
        mouse=np.stack([w - 1 - margin, margin], axis=1).reshape(n, 2),
        cheese=cheese.reshape(n, 2),
        inner_size=inner,
        level=np.array([int(x) for x in levels], dtype=np.int64),
    )
    return states, np.array([m[3] for m in made], dtype=np.int64)


def background_of(levels: np.ndarray) -> np.ndarray:
    """``[N]`` the background index of each level (0 for -1, an edited or hand-made maze)."""
    out = np.zeros(len(levels), dtype=np.int64)
    for i, lv in enumerate(np.asarray(levels).tolist()):
        if lv >= 0:
            bg = _BACKGROUNDS.get(lv)
            if bg is None:
                s = _Stream(lv)
                s.next()
                bg = s.randn(NUM_BACKGROUNDS)
            out[i] = bg
    if len(_BACKGROUNDS) > 1 << 16:
        _BACKGROUNDS.clear()
    return out
