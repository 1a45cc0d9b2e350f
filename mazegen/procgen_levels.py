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

import numpy as np

from mazegen.state import BatchState

#: Number of procgen's top-down backgrounds (``topdown_backgrounds`` in ``resources.cpp``).
NUM_BACKGROUNDS = 9


class _Stream:
    """The 32-bit outputs of ``std::mt19937(seed)`` (numpy's legacy seeding is the same
    ``init_genrand``), read in blocks."""

    def __init__(self, seed: int) -> None:
        self._rs = np.random.RandomState(int(seed) & 0xFFFFFFFF)
        self._buf: list[int] = []
        self._pos = 0

    def next(self) -> int:
        if self._pos == len(self._buf):
            self._buf = self._rs.randint(0, 2**32, size=512, dtype=np.uint32).tolist()
            self._pos = 0
        x = self._buf[self._pos]
        self._pos += 1
        return x

    def randn(self, n: int) -> int:
        return self.next() % n


def mt19937_outputs(seed: int, n: int) -> np.ndarray:
    """``[n]`` uint32: the first n outputs of ``std::mt19937(seed)``."""
    s = _Stream(seed)
    return np.array([s.next() for _ in range(n)], dtype=np.uint32)


def _walls(d: int) -> list[tuple[int, int, int, int]]:
    out = [(i - 1, j, i + 1, j) for i in range(1, d, 2) for j in range(0, d, 2)]
    out += [(i, j - 1, i, j + 1) for i in range(0, d, 2) for j in range(1, d, 2)]
    return out


def procgen_level(
    level: int, world_size: int, rand_region: int | None
) -> tuple[np.ndarray, int, tuple[int, int] | None, int]:
    """One level as procgen builds it.

    Returns:
        ``(walls [W, W] bool with row 0 at the top, maze_dim, cheese (row, col) or None,
        background index)``.
    """
    rng = _Stream(level)
    rng.next()  # bg_pct_x
    background = rng.randn(NUM_BACKGROUNDS)
    d = rng.randn((world_size - 1) // 2) * 2 + 3
    sets = list(range(d * d))  # set label per cell index d * y + x
    members: dict[int, list[int]] = {i: [i] for i in range(d * d)}
    free: list[int] = []
    is_free = bytearray(d * d)
    walls = _walls(d)
    while walls:
        n = rng.randn(len(walls))
        x1, y1, x2, y2 = walls.pop(n)
        a, b = sets[d * y1 + x1], sets[d * y2 + x2]
        if a != b:
            centre = d * ((y1 + y2) // 2) + (x1 + x2) // 2
            for c in (d * y1 + x1, centre, d * y2 + x2):
                if not is_free[c]:
                    is_free[c] = 1
                    free.append(c)
            moved = members.pop(a) + [centre]
            for c in moved:
                sets[c] = b
            members[b].extend(moved)
    cell: int | None = None
    if rand_region is None:
        m = rng.randn(len(free))
        while free[m] == 0:
            m = rng.randn(len(free))
        cell = free[m]
    else:
        k = min(rand_region, d)
        if k <= 0:
            cell = d * (d - 1) + d - 1
        else:
            rng.randn(len(free))
            for _ in range(d * 100):
                c = free[rng.randn(len(free))]
                if c != 0 and c % d >= d - k and c // d >= d - k:
                    cell = c
                    break
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
    made = [procgen_level(int(x), world_size, rand_region) for x in levels]
    n = len(made)
    inner = np.array([m[1] for m in made], dtype=np.int64)
    margin = (world_size - inner) // 2
    cheese = np.array([m[2] if m[2] is not None else (-1, -1) for m in made], dtype=np.int64)
    states = BatchState(
        walls=np.stack([m[0] for m in made]) if n else np.ones((0, world_size, world_size), bool),
        mouse=np.stack([world_size - 1 - margin, margin], axis=1).reshape(n, 2),
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
            s = _Stream(lv)
            s.next()
            out[i] = s.randn(NUM_BACKGROUNDS)
    return out
