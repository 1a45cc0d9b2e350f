"""Parsing and applying `MazeBatch`'s reset options, and merging level queues."""

from __future__ import annotations

from typing import Any

import numpy as np

from mazegen.state import BatchState, MazeState, MazeStateError

_MAX_OPTION_LEVEL = 2**63 - 1  # levels asked for by number fit an int64


def _mix_rows(
    x: np.ndarray, a_idx: np.ndarray, y: np.ndarray, b_idx: np.ndarray, from_a: np.ndarray
) -> np.ndarray:
    """Row j of the result is ``x[a_idx[...]]`` where ``from_a[j]``, else the next ``y[b_idx]``."""
    merged = np.empty((from_a.size, *x.shape[1:]), dtype=x.dtype)
    merged[from_a] = x[a_idx]
    merged[~from_a] = y[b_idx]
    return merged


def _take_mixed(
    a: BatchState, a_idx: np.ndarray, b: BatchState, b_idx: np.ndarray, from_a: np.ndarray
) -> BatchState:
    """Interleaves rows of ``a`` and ``b``: row j comes from ``a`` where ``from_a[j]``."""
    names = ("walls", "mouse", "cheese", "inner_size", "level")
    return BatchState(
        **{n: _mix_rows(getattr(a, n), a_idx, getattr(b, n), b_idx, from_a) for n in names}
    )


def _merge_queue(
    queue: BatchState,
    qstatic: np.ndarray | None,
    fresh: BatchState,
    statics: np.ndarray | None,
    used: np.ndarray,
) -> tuple[BatchState, np.ndarray | None]:
    """Refills a ``[N * K]`` env-major level queue (and its static frames, if any): env i
    keeps its ``K - used[i]`` unused levels first, then its ``used[i]`` fresh ones (``fresh``
    holds them env by env), so each env's stream order is preserved."""
    n = used.size
    k = queue.num // n
    j = np.arange(k)[None, :]  # [1, K]
    from_old = (j < k - used[:, None]).ravel()
    old_idx = (np.arange(n)[:, None] * k + used[:, None] + j).ravel()[from_old]
    fresh_start = np.concatenate([[0], np.cumsum(used)[:-1]])[:, None]
    fresh_idx = (fresh_start + j - (k - used[:, None])).ravel()[~from_old]
    merged = _take_mixed(queue, old_idx, fresh, fresh_idx, from_old)
    if qstatic is None or statics is None:
        return merged, None
    return merged, _mix_rows(qstatic, old_idx, statics, fresh_idx, from_old)


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _states_option(value: Any, n: int) -> BatchState:
    """``options["state"]``: a `MazeState` (for every env reset), a list of them, or a
    `BatchState`, validated."""
    if isinstance(value, MazeState):
        value = [value] * n
    if not isinstance(value, BatchState):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, MazeState) for v in value):
            raise MazeStateError(
                f"reset option 'state' must be a MazeState, a list of them or a BatchState, "
                f"got {type(value).__name__}"
            )
        value = BatchState.stack(list(value))
    value.validate()
    if value.num != n:
        raise MazeStateError(f"got {value.num} states for {n} environments")
    return value


def _levels_option(value: Any, n: int) -> list[int]:
    """``options["level"]``: one level for every env reset, or one per env."""
    levels = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    if len(levels) not in (1, n):
        raise ValueError(f"reset option 'level' needs 1 or {n} levels, got {len(levels)}")
    for x in levels:
        if not _is_int(x) or not 0 <= int(x) <= _MAX_OPTION_LEVEL:
            raise ValueError(
                f"levels must be integers in [0, 2**63 - 1], got {x!r} ({type(x).__name__})"
            )
    return [int(x) for x in levels] * (n if len(levels) == 1 else 1)


def _cheese_option(value: Any, n: int) -> np.ndarray:
    """``options["cheese"]``: one ``(row, col)`` for every env reset, or ``[n, 2]``."""
    arr = np.asarray(value, dtype=object)
    if arr.shape == (2,):
        arr = np.broadcast_to(arr, (n, 2))
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] != n:
        raise ValueError(
            f"reset option 'cheese' must be (row, col) or one per environment reset ({n}), "
            f"got shape {np.shape(value)}"
        )
    if not all(_is_int(x) for x in arr.ravel()):
        bad = next(x for x in arr.ravel() if not _is_int(x))
        raise ValueError(f"cheese coordinates must be integers, got {bad!r}")
    return arr.astype(np.int64)


def _with_cheese(states: BatchState, squares: np.ndarray) -> BatchState:
    moved = BatchState.stack([states[i].with_cheese(tuple(squares[i])) for i in range(states.num)])
    moved.level[:] = states.level  # same maze, only the cheese moved: keep its level number
    return moved
