import numpy as np
import pytest

from mazegen import MazeConfig, MazeState, MazeStateError, generate_levels, load_states, save_states
from mazegen.queries import decision_square, distances, is_tree, open_squares, shortest_path
from mazegen.state import BatchState


def _maze(text):
    """A hand-built world from rows of '#', '.', 'M', 'C'."""
    rows = text.strip().split()
    walls = np.array([[ch == "#" for ch in row] for row in rows])
    find = {ch: (r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch in "MC"}
    return MazeState(walls=walls, mouse=find["M"], cheese=find.get("C"), inner_size=len(rows))


# 5x5: start (4,0); top-right (0,4). Path to the corner goes up the left then right along the
# top; the cheese hangs off the middle of the left column.
HAND = """
.....
.####
..C##
.####
M....
"""


def test_hand_built_maze_queries():
    s = _maze(HAND)
    assert s.start == (4, 0) and s.top_right == (0, 4)
    assert is_tree(s.walls)
    assert shortest_path(s.walls, s.mouse, s.cheese) == [(4, 0), (3, 0), (2, 0), (2, 1), (2, 2)]
    assert distances(s.walls, s.mouse)[s.top_right] == 8
    assert decision_square(s) == (2, 0)
    # cheese on the way to the corner: no decision square
    assert decision_square(s.with_cheese((0, 2))) is None
    assert len(open_squares(s.walls)) == 15


def test_is_tree_detects_cycles_and_disconnection():
    s = _maze(HAND)
    assert not is_tree(_open(s.walls, (1, 1)))  # closes a loop
    cut = s.walls.copy()
    cut[4, 2] = True  # cuts (4,3),(4,4) off
    assert not is_tree(cut)


def _open(walls, sq):
    w = walls.copy()
    w[sq] = False
    return w


def test_edits_are_validated_and_return_new_states():
    s = _maze(HAND)
    moved = s.with_cheese((0, 4))
    assert moved.cheese == (0, 4) and s.cheese == (2, 2)
    assert s.without_cheese().cheese is None
    assert s.with_mouse((0, 0)).mouse == (0, 0)
    with pytest.raises(MazeStateError, match="on a wall"):
        s.with_cheese((1, 1))
    with pytest.raises(MazeStateError, match="off the grid"):
        s.with_mouse((5, 0))
    with pytest.raises(MazeStateError, match="cut the mouse"):
        s.with_wall((2, 1))
    with pytest.raises(MazeStateError, match="must be a \\(row, col\\)"):
        s.with_cheese("corner")
    opened = s.with_wall((1, 1), wall=False)
    assert not opened.walls[1, 1] and not is_tree(opened.walls)
    with pytest.raises(ValueError):
        s.walls[0, 0] = True  # states are immutable


def test_save_load_round_trip(tmp_path):
    batch = generate_levels(range(5), MazeConfig(cheese_region=5))
    save_states(tmp_path / "b.npz", batch)
    back = load_states(tmp_path / "b.npz")
    assert all(a == b for a, b in zip(batch, back))
    one = batch[2].without_cheese()
    one.save(tmp_path / "one.npz")
    assert MazeState.load(tmp_path / "one.npz") == one


def test_malformed_state_files_raise_one_line_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    for path, pattern in [
        (bad, "not a readable maze state file"),
        (tmp_path / "missing.npz", "does not exist"),
    ]:
        with pytest.raises(MazeStateError, match=pattern) as e:
            load_states(path)
        assert "\n" not in str(e.value)
    np.savez(tmp_path / "partial.npz", walls=np.ones((1, 5, 5), bool))
    with pytest.raises(MazeStateError, match="missing"):
        load_states(tmp_path / "partial.npz")
    batch = generate_levels([1], MazeConfig())
    np.savez(
        tmp_path / "onwall.npz",
        walls=batch.walls,
        mouse=np.array([[0, 0]]),
        cheese=batch.cheese,
        inner_size=batch.inner_size,
        level=batch.level,
    )
    with pytest.raises(MazeStateError, match="maze 0: mouse"):
        load_states(tmp_path / "onwall.npz")


def test_batch_take_and_placed_move_only_what_they_are_given():
    batch = generate_levels(range(4), MazeConfig(world_size=9, min_size=5, max_size=9))
    sub = batch.take([2, 0, 2])
    assert sub.level.tolist() == [2, 0, 2] and np.array_equal(sub.walls[1], batch.walls[0])
    squares = np.array([open_squares(sub.walls[i])[1] for i in range(3)])
    moved = sub.placed(cheese=squares)
    assert np.array_equal(moved.cheese, squares) and np.array_equal(moved.mouse, sub.mouse)
    assert np.array_equal(moved.walls, sub.walls) and np.array_equal(moved.level, sub.level)
    both = sub.placed(mouse=squares, cheese=np.full((3, 2), -1))
    assert np.array_equal(both.mouse, squares) and not both.has_cheese.any()
    assert np.array_equal(sub.cheese, batch.cheese[[2, 0, 2]])  # the source is unchanged


def test_batch_concat_keeps_every_maze_in_order_and_refuses_mixed_sizes():
    batch = generate_levels(range(4), MazeConfig(world_size=9, min_size=5, max_size=9))
    both = BatchState.concat([batch.take([3, 1]), batch.take([0])])
    assert both.level.tolist() == [3, 1, 0] and np.array_equal(both.walls[2], batch.walls[0])
    assert np.array_equal(both.cheese, batch.cheese[[3, 1, 0]])
    other = generate_levels(range(1), MazeConfig(world_size=11, min_size=5, max_size=11))
    with pytest.raises(MazeStateError, match="one world size"):
        BatchState.concat([batch, other])
    with pytest.raises(MazeStateError, match="empty"):
        BatchState.concat([])
