"""`MazeState` (one maze) and `BatchState` (N mazes as arrays): validated edits, save and load.

Coordinates are ``(row, col)`` in the world, row 0 at the top. The inner maze of odd size S sits
centred in the W x W world at offset ``o = (W - S) // 2``; its open squares have even inner
coordinates. The mouse starts on the inner bottom-left square ``(o + S - 1, o)``; the inner
top-right corner is ``(o, o + S - 1)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from mazegen.bfs import UNREACHABLE, grid_distances
from mazegen.files import atomic_write

Square = tuple[int, int]
NO_CHEESE = (-1, -1)
#: `BatchState`'s arrays, in order (also the fields of its file, `save_states`).
_FIELDS = ("walls", "mouse", "cheese", "inner_size", "level")


class MazeStateError(ValueError):
    """A maze state is malformed or an edit would make it invalid."""


def _square(value: object, what: str) -> Square:
    try:
        r, c = (int(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise MazeStateError(
            f"{what} must be a (row, col) pair of integers, got {value!r}"
        ) from None
    return r, c


@dataclass(frozen=True, eq=False)
class MazeState:
    """One maze: walls, mouse, cheese (or none), inner size and level number. Immutable.

    Edits (`with_cheese`, `without_cheese`, `with_mouse`, `with_wall`) return a new, validated
    state. ``level`` is -1 for hand-made or edited mazes.

    Attributes:
        walls: ``[W, W]`` bool, True where there is a wall.
        mouse: ``(row, col)`` of the mouse.
        cheese: ``(row, col)`` of the cheese, or None.
        inner_size: Side S of the inner maze (odd).
        level: Level number the maze was generated from (-1 if edited or hand-made).
    """

    walls: np.ndarray
    mouse: Square
    cheese: Square | None
    inner_size: int
    level: int = -1
    _checked: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        walls = np.asarray(self.walls)
        if walls.ndim != 2 or walls.shape[0] != walls.shape[1] or walls.shape[0] < 3:
            raise MazeStateError(
                f"walls must be a square [W, W] array with W >= 3, got shape {walls.shape}"
            )
        walls = walls.astype(bool, copy=True)
        walls.setflags(write=False)
        object.__setattr__(self, "walls", walls)
        object.__setattr__(self, "mouse", _square(self.mouse, "mouse"))
        if self.cheese is not None:
            object.__setattr__(self, "cheese", _square(self.cheese, "cheese"))
        object.__setattr__(self, "inner_size", int(self.inner_size))
        object.__setattr__(self, "level", int(self.level))
        if not self._checked:
            self.validate()

    # ---- geometry -----------------------------------------------------------------------------
    @property
    def world_size(self) -> int:
        return int(self.walls.shape[0])

    @property
    def offset(self) -> int:
        """World coordinate of the inner maze's first row and column."""
        return (self.world_size - self.inner_size) // 2

    @property
    def start(self) -> Square:
        """The inner bottom-left square, where the mouse starts."""
        o = self.offset
        return o + self.inner_size - 1, o

    @property
    def top_right(self) -> Square:
        """The inner top-right corner."""
        o = self.offset
        return o, o + self.inner_size - 1

    def in_region(self, square: Square, n: int) -> bool:
        """Whether ``square`` lies in the inner top-right n x n (n clipped to the inner size)."""
        mask = region_masks(self.world_size, np.array([self.inner_size]), n)[0]
        return bool(mask[square])

    # ---- validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Raises `MazeStateError` if the state is not a playable maze."""
        w, s = self.world_size, self.inner_size
        if s < 1 or s % 2 == 0 or s > w or (w - s) % 2:
            raise MazeStateError(
                f"inner_size must be odd, <= world size {w} and of the same parity as it, got {s}"
            )
        for name, sq in (("mouse", self.mouse), ("cheese", self.cheese)):
            if sq is None:
                continue
            r, c = sq
            if not (0 <= r < w and 0 <= c < w):
                raise MazeStateError(
                    f"{name} {sq} is off the grid; rows and cols must be in [0, {w - 1}]"
                )
            if self.walls[r, c]:
                raise MazeStateError(f"{name} {sq} is on a wall; put it on an open square")
        if self.cheese is not None:
            if self.cheese == self.mouse:
                raise MazeStateError(f"cheese and mouse are both at {self.cheese}; move one")
            if grid_distances(self.walls, [self.mouse])[self.cheese] == UNREACHABLE:
                raise MazeStateError(
                    f"the walls cut the mouse at {self.mouse} off from the cheese "
                    f"at {self.cheese}; open a path between them"
                )

    # ---- edits --------------------------------------------------------------------------------
    def _edit(self, **changes: object) -> MazeState:
        values = dict(
            walls=self.walls,
            mouse=self.mouse,
            cheese=self.cheese,
            inner_size=self.inner_size,
            level=-1,
        )
        values.update(changes)
        return MazeState(**values)  # type: ignore[arg-type]

    def with_cheese(self, square: Square) -> MazeState:
        """The same maze with the cheese moved to ``square`` (must be open and reachable)."""
        return self._edit(cheese=_square(square, "cheese"))

    def without_cheese(self) -> MazeState:
        return self._edit(cheese=None)

    def with_mouse(self, square: Square) -> MazeState:
        """The same maze with the mouse moved to ``square`` (must be open)."""
        return self._edit(mouse=_square(square, "mouse"))

    def with_wall(self, square: Square, wall: bool = True) -> MazeState:
        """The same maze with ``square`` made a wall (``wall=True``) or opened."""
        r, c = _square(square, "square")
        w = self.world_size
        if not (0 <= r < w and 0 <= c < w):
            raise MazeStateError(
                f"square {(r, c)} is off the grid; rows and cols must be in [0, {w - 1}]"
            )
        walls = self.walls.copy()
        walls[r, c] = bool(wall)
        return self._edit(walls=walls)

    def with_walls(self, walls: np.ndarray) -> MazeState:
        return self._edit(walls=np.asarray(walls))

    # ---- comparison and files -----------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MazeState):
            return NotImplemented
        return (
            np.array_equal(self.walls, other.walls)
            and self.mouse == other.mouse
            and self.cheese == other.cheese
            and self.inner_size == other.inner_size
            and self.level == other.level
        )

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the state to an ``.npz`` file atomically."""
        save_states(path, BatchState.stack([self]))

    @staticmethod
    def load(path: str | os.PathLike[str]) -> MazeState:
        batch = load_states(path)
        if batch.num != 1:
            raise MazeStateError(f"{path} holds {batch.num} mazes; use load_states for batches")
        return batch[0]

    def __repr__(self) -> str:
        return (
            f"MazeState(world={self.world_size}, inner_size={self.inner_size}, "
            f"mouse={self.mouse}, cheese={self.cheese}, level={self.level})"
        )

    def __str__(self) -> str:
        """ASCII picture (``print(state)``): ``#`` wall, ``.`` floor, ``M`` mouse, ``C`` cheese."""
        rows = []
        for r in range(self.world_size):
            line = []
            for c in range(self.world_size):
                if (r, c) == self.mouse:
                    line.append("M")
                elif (r, c) == self.cheese:
                    line.append("C")
                else:
                    line.append("#" if self.walls[r, c] else ".")
            rows.append("".join(line))
        return "\n".join(rows)


def region_masks(world_size: int, inner_size: np.ndarray, n: int) -> np.ndarray:
    """``[N, W, W]`` bool: the inner top-right n x n of each centred maze of ``inner_size [N]``
    (n clipped to the maze): the training cheese region. The one definition of the region."""
    w = world_size
    inner = np.asarray(inner_size, dtype=np.int64)
    o = (w - inner) // 2
    k = np.minimum(n, inner)
    idx = np.arange(w)[None, :]
    rows = (idx >= o[:, None]) & (idx < (o + k)[:, None])
    cols = (idx >= (o + inner - k)[:, None]) & (idx < (o + inner)[:, None])
    return rows[:, :, None] & cols[:, None, :]


@dataclass(frozen=True, eq=False)
class BatchState:
    """N mazes of one world size as arrays (the batched twin of `MazeState`).

    Attributes:
        walls: ``[N, W, W]`` bool.
        mouse: ``[N, 2]`` int64 (row, col).
        cheese: ``[N, 2]`` int64 (row, col); ``(-1, -1)`` where there is no cheese.
        inner_size: ``[N]`` int64.
        level: ``[N]`` int64 (-1 for edited mazes).
    """

    walls: np.ndarray
    mouse: np.ndarray
    cheese: np.ndarray
    inner_size: np.ndarray
    level: np.ndarray

    @property
    def num(self) -> int:
        return int(self.walls.shape[0])

    @property
    def world_size(self) -> int:
        return int(self.walls.shape[1])

    def region_mask(self, n: int) -> np.ndarray:
        """``[N, W, W]`` bool: each maze's inner top-right n x n (`region_masks`)."""
        return region_masks(self.world_size, self.inner_size, n)

    @property
    def has_cheese(self) -> np.ndarray:  # [N] bool
        return self.cheese[:, 0] >= 0

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, i: int) -> MazeState:
        cheese = self.cheese[i]
        return MazeState(
            walls=self.walls[i],
            mouse=tuple(self.mouse[i]),  # type: ignore[arg-type]
            cheese=None if cheese[0] < 0 else tuple(cheese),  # type: ignore[arg-type]
            inner_size=int(self.inner_size[i]),
            level=int(self.level[i]),
            _checked=True,
        )

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(self.num))

    @staticmethod
    def stack(states: list[MazeState]) -> BatchState:
        if not states:
            raise MazeStateError("cannot stack an empty list of states")
        sizes = {s.world_size for s in states}
        if len(sizes) != 1:
            raise MazeStateError(f"all states must have one world size, got {sorted(sizes)}")
        return BatchState(
            walls=np.stack([s.walls for s in states]),
            mouse=np.array([s.mouse for s in states], dtype=np.int64),
            cheese=np.array(
                [s.cheese if s.cheese is not None else NO_CHEESE for s in states], dtype=np.int64
            ),
            inner_size=np.array([s.inner_size for s in states], dtype=np.int64),
            level=np.array([s.level for s in states], dtype=np.int64),
        )

    @staticmethod
    def concat(batches: list[BatchState]) -> BatchState:
        """The batches one after the other (one world size)."""
        if not batches:
            raise MazeStateError("cannot concatenate an empty list of batches")
        sizes = {b.world_size for b in batches}
        if len(sizes) != 1:
            raise MazeStateError(f"all batches must have one world size, got {sorted(sizes)}")
        return BatchState(**{f: np.concatenate([getattr(b, f) for b in batches]) for f in _FIELDS})

    def take(self, idx: np.ndarray | list[int] | slice) -> BatchState:
        """The mazes at ``idx`` (indices, a mask or a slice) as a new batch."""
        return BatchState(**{f: getattr(self, f)[idx] for f in _FIELDS})

    def placed(
        self, mouse: np.ndarray | None = None, cheese: np.ndarray | None = None
    ) -> BatchState:
        """The same mazes with the mouse and/or cheese (``[N, 2]``; -1 rows: no cheese) on
        other squares (not checked again: for probing a policy)."""
        return BatchState(
            walls=self.walls,
            mouse=self.mouse if mouse is None else np.asarray(mouse, dtype=np.int64),
            cheese=self.cheese if cheese is None else np.asarray(cheese, dtype=np.int64),
            inner_size=self.inner_size,
            level=self.level,
        )

    @staticmethod
    def mouse_on(state: MazeState, squares: list[Square]) -> BatchState:
        """Copies of ``state`` with the mouse on each of ``squares`` (open squares, not checked
        again: for probing a policy square by square)."""
        n = len(squares)
        return BatchState(
            walls=np.broadcast_to(state.walls, (n, *state.walls.shape)).copy(),
            mouse=np.array(squares, dtype=np.int64).reshape(n, 2),
            cheese=np.tile(
                np.array(state.cheese if state.cheese is not None else NO_CHEESE, dtype=np.int64),
                (n, 1),
            ),
            inner_size=np.full(n, state.inner_size, dtype=np.int64),
            level=np.full(n, state.level, dtype=np.int64),
        )

    def validate(self) -> None:
        """Validates every maze (raises `MazeStateError` naming the first bad index)."""
        for i in range(self.num):
            try:
                self[i].validate()
            except MazeStateError as e:
                raise MazeStateError(f"maze {i}: {e}") from None


def save_states(path: str | os.PathLike[str], states: BatchState) -> None:
    """Writes a batch of states to ``path`` (.npz) atomically (temp file, then rename)."""
    atomic_write(
        path,
        lambda f: np.savez_compressed(
            f, format_version=np.int64(1), **{k: getattr(states, k) for k in _FIELDS}
        ),
    )


def load_states(path: str | os.PathLike[str]) -> BatchState:
    """Reads and validates a file written by `save_states` / `MazeState.save`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _FIELDS if k not in data]
            if missing:
                raise MazeStateError(f"{path} is not a maze state file: missing {missing}")
            arrays = {k: np.asarray(data[k]) for k in _FIELDS}
    except MazeStateError:
        raise
    except FileNotFoundError:
        raise MazeStateError(f"maze state file {path} does not exist") from None
    except Exception as e:  # zip, pickle and format errors all mean the same to the user
        raise MazeStateError(
            f"{path} is not a readable maze state file ({type(e).__name__}: {e})"
        ) from None
    n = arrays["walls"].shape[0] if arrays["walls"].ndim == 3 else -1
    shapes_ok = (
        arrays["walls"].ndim == 3
        and arrays["walls"].shape[1] == arrays["walls"].shape[2]
        and arrays["mouse"].shape == (n, 2)
        and arrays["cheese"].shape == (n, 2)
        and arrays["inner_size"].shape == (n,)
        and arrays["level"].shape == (n,)
    )
    if not shapes_ok:
        raise MazeStateError(
            f"{path} has inconsistent array shapes { {k: v.shape for k, v in arrays.items()} }"
        )
    batch = BatchState(
        walls=arrays["walls"].astype(bool),
        mouse=arrays["mouse"].astype(np.int64),
        cheese=arrays["cheese"].astype(np.int64),
        inner_size=arrays["inner_size"].astype(np.int64),
        level=arrays["level"].astype(np.int64),
    )
    batch.validate()
    return batch
