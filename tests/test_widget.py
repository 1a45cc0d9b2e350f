"""The notebook widget: its view names what it shows, and a square typed outside the maze is
refused with a message naming the allowed range (nothing clamped, nothing moved)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("ipywidgets")

from agents import load_pretrained  # noqa: E402
from agents.play.widget import maze_explorer  # noqa: E402
from mazegen.queries import open_squares  # noqa: E402


@pytest.fixture(scope="module")
def explorer():
    return maze_explorer(load_pretrained("quick"))


def test_a_square_typed_outside_the_maze_is_refused_with_the_range(explorer):
    state = explorer.session.state
    top = state.world_size - 1
    for name, typed in (("cheese row", top + 3), ("mouse col", -1)):
        explorer.boxes[name].value = typed
        message = explorer.message.value
        assert f"{name} {typed} is outside the maze" in message, message
        assert f"from 0 to {top}" in message
        after = explorer.session.state
        assert (after.cheese, after.mouse) == (state.cheese, state.mouse)  # nothing moved
        assert explorer.boxes[name].value != typed  # the box shows the square again
    # an in-range square moves the piece and clears the message
    square = next(sq for sq in open_squares(state.walls) if sq not in (state.cheese, state.mouse))
    explorer.boxes["cheese row"].value, explorer.boxes["cheese col"].value = square
    assert explorer.session.state.cheese == square and explorer.message.value == ""
    assert (explorer.sliders["cheese row"].value, explorer.sliders["cheese col"].value) == square
    assert not any(s.readout for s in explorer.sliders.values())  # no readout to clamp a number


def test_the_view_is_headed_by_the_policy_and_the_maze(explorer, monkeypatch):
    from agents.interp import plots

    heads = []
    real = plots.png_bytes
    monkeypatch.setattr(
        plots,
        "png_bytes",
        lambda fig, **k: heads.append(fig._suptitle.get_text()) or real(fig, **k),
    )
    explorer.redraw()
    assert heads[-1].splitlines() == explorer.session.describe()
    assert heads[-1].startswith("agent: shipped policy 'quick'\ntest distribution: cheese outside")
    assert explorer.png.startswith(b"\x89PNG")
