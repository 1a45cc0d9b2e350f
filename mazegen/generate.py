"""Perfect-maze generation (randomized Kruskal) and cheese placement.

Every maze is a pure function of its own `numpy.random.Generator`: the generator is drawn from
in a fixed order (inner size, one key per candidate passage, one uniform for the cheese), so the
maze of a level does not depend on the cheese distribution nor on the other mazes of a batch.
Level ``L`` uses ``numpy.random.default_rng(L)``, as procgen seeds level L with L.

The batch is generated together: Kruskal's union-find runs over all mazes at once, one array
operation per candidate passage, so the Python overhead is paid once per batch, not per maze.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from mazegen.config import MazeConfig
from mazegen.procgen_levels import procgen_levels
from mazegen.state import BatchState, MazeState, region_masks


def level_rng(level: int) -> np.random.Generator:
    """The generator that level ``level`` is built from."""
    return np.random.default_rng(int(level))


@lru_cache(maxsize=32)
def _edge_layout(k: int, k_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical passages of a k x k cell grid, as cell ids in a k_max x k_max grid.

    Returns ``(u, v, between)``: ``[E]`` endpoint cell ids and the passage square as a
    (row, col) offset pair ``[E, 2]`` in inner coordinates, horizontal passages first.
    """
    ii, jj = np.meshgrid(np.arange(k), np.arange(k - 1), indexing="ij")
    h_u = ii * k_max + jj
    h_v = h_u + 1
    h_mid = np.stack([2 * ii, 2 * jj + 1], axis=-1).reshape(-1, 2)
    ii, jj = np.meshgrid(np.arange(k - 1), np.arange(k), indexing="ij")
    v_u = ii * k_max + jj
    v_v = v_u + k_max
    v_mid = np.stack([2 * ii + 1, 2 * jj], axis=-1).reshape(-1, 2)
    u = np.concatenate([h_u.ravel(), v_u.ravel()])
    v = np.concatenate([h_v.ravel(), v_v.ravel()])
    return u, v, np.concatenate([h_mid, v_mid])


@lru_cache(maxsize=64)
def _edge_slots(k: int, k_max: int) -> np.ndarray:
    """Positions of a k x k grid's canonical passages within the k_max x k_max layout."""
    full_u, full_v, _ = _edge_layout(k_max, k_max)
    index = {(a, c): e for e, (a, c) in enumerate(zip(full_u.tolist(), full_v.tolist()))}
    u, v, _ = _edge_layout(k, k_max)
    return np.array([index[(a, c)] for a, c in zip(u.tolist(), v.tolist())], dtype=np.int64)


def _sizes(config: MazeConfig) -> np.ndarray:
    return np.arange(config.min_size, config.max_size + 1, 2)


def _cheese_candidates(
    walls: np.ndarray, inner: np.ndarray, start: np.ndarray, config: MazeConfig
) -> np.ndarray:
    """[B, W, W] bool: the squares the cheese may be placed on under ``config``."""
    b, w, _ = walls.shape
    cand = ~walls
    cand[np.arange(b), start[:, 0], start[:, 1]] = False
    if config.cheese_region is not None:
        cand &= region_masks(w, inner, config.cheese_region)
    elif config.cheese_exclude_region is not None:
        cand &= ~region_masks(w, inner, config.cheese_exclude_region)
    return cand


def generate_batch(
    rngs: Sequence[np.random.Generator], config: MazeConfig, levels: Sequence[int] | None = None
) -> BatchState:
    """Generates one maze (with its cheese) from each generator.

    Args:
        rngs: One generator per maze; each is advanced.
        config: Sizes and cheese distribution.
        levels: Level numbers to record in the state (default -1).

    Returns:
        A `BatchState` of ``len(rngs)`` mazes with the mouse on the start square.
    """
    b = len(rngs)
    if b == 0:
        raise ValueError("generate_batch needs at least one generator")
    w = config.world_size
    sizes = _sizes(config)
    k_max = (config.max_size + 1) // 2
    full_u, full_v, _ = _edge_layout(k_max, k_max)
    n_edges = full_u.size

    inner = np.empty(b, dtype=np.int64)
    keys = np.full((b, n_edges), 2.0)  # edges a small maze lacks sort last and are skipped
    valid = np.zeros((b, n_edges), dtype=bool)
    cheese_u = np.empty(b)
    for i, rng in enumerate(rngs):
        s = int(sizes[rng.integers(sizes.size)])
        pos = _edge_slots((s + 1) // 2, k_max)
        inner[i] = s
        keys[i, pos] = rng.random(pos.size)
        valid[i, pos] = True
        cheese_u[i] = rng.random()

    accepted = _kruskal(keys, valid, full_u, full_v, k_max)

    # Carve: cells and accepted passages become floor.
    o = (w - inner) // 2
    walls = np.ones((b, w, w), dtype=bool)
    k_of = (inner + 1) // 2
    ci, cj = np.meshgrid(np.arange(k_max), np.arange(k_max), indexing="ij")
    cell_ok = (ci[None] < k_of[:, None, None]) & (cj[None] < k_of[:, None, None])
    bi, ri, rj = np.nonzero(cell_ok)
    walls[bi, o[bi] + 2 * ri, o[bi] + 2 * rj] = False
    _, _, mid = _edge_layout(k_max, k_max)
    be, ee = np.nonzero(accepted)
    walls[be, o[be] + mid[ee, 0], o[be] + mid[ee, 1]] = False

    start = np.stack([o + inner - 1, o], axis=1)
    cand = _cheese_candidates(walls, inner, start, config).reshape(b, -1)
    counts = cand.sum(axis=1)
    pick = np.minimum((cheese_u * counts).astype(np.int64), counts - 1)
    flat = np.argmax(np.cumsum(cand, axis=1) > pick[:, None], axis=1)
    cheese = np.stack([flat // w, flat % w], axis=1)

    return BatchState(
        walls=walls,
        mouse=start.astype(np.int64),
        cheese=cheese.astype(np.int64),
        inner_size=inner,
        level=np.full(b, -1, dtype=np.int64) if levels is None else np.asarray(levels, np.int64),
    )


def _kruskal(
    keys: np.ndarray, valid: np.ndarray, u: np.ndarray, v: np.ndarray, k_max: int
) -> np.ndarray:
    """Batched Kruskal: ``[B, E]`` bool of the passages kept, visiting edges by ascending key."""
    b, n_edges = keys.shape
    n_cells = k_max * k_max
    order = np.argsort(keys, axis=1, kind="stable")
    su = u[order]  # [B, E] cell ids in visiting order
    sv = v[order]
    svalid = np.take_along_axis(valid, order, axis=1)
    base = np.arange(b, dtype=np.int64) * n_cells
    parent = np.arange(b * n_cells, dtype=np.int64)  # flat [B * C] global ids
    rank = np.zeros(b * n_cells, dtype=np.int8)
    kept_sorted = np.zeros((b, n_edges), dtype=bool)
    depth = 0  # union by rank keeps every tree at most max(rank) deep
    last = int(svalid.sum(axis=1).max())
    for t in range(last):
        ru = base + su[:, t]
        rv = base + sv[:, t]
        for _ in range(depth):
            ru = parent[ru]
            rv = parent[rv]
        join = (ru != rv) & svalid[:, t]
        if not join.any():
            continue
        ru, rv = ru[join], rv[join]
        rku, rkv = rank[ru], rank[rv]
        low = rku < rkv
        child = np.where(low, ru, rv)
        root = np.where(low, rv, ru)
        parent[child] = root
        grow = rku == rkv
        if grow.any():
            grown = root[grow]
            rank[grown] += 1
            depth = max(depth, int(rank[grown].max()))
        kept_sorted[join, t] = True
    kept = np.zeros_like(kept_sorted)
    np.put_along_axis(kept, order, kept_sorted, axis=1)
    return kept


def generate(rng: np.random.Generator, config: MazeConfig, level: int = -1) -> MazeState:
    """Generates one maze (a batch of one): a pure function of ``rng``'s state and ``config``."""
    return generate_batch([rng], config, levels=[level])[0]


def generate_levels(levels: Sequence[int], config: MazeConfig) -> BatchState:
    """The mazes of the given level numbers (each from ``default_rng(level)``; in procgen mode
    procgen's own levels, `procgen_levels`)."""
    levels = [int(x) for x in levels]
    if config.procgen:
        return procgen_levels(levels, config.world_size, config.cheese_region)[0]
    return generate_batch([level_rng(x) for x in levels], config, levels=levels)
