"""The viewer in a notebook: move the cheese and the mouse with sliders and watch the policy's
vector field and next-move probabilities redraw, with or without a patch.

`maze_explorer` builds it on a `PlaySession` (the same state, patches and drawing as the pygame
viewer) with ipywidgets, the widget library every Jupyter frontend renders (JupyterLab, Notebook
7, VS Code, Colab). Where no widget frontend runs (a notebook rendered to HTML, executed in CI,
shown on GitHub) the same display carries a PNG of the first view, so the notebook still shows
a figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.play.session import PlaySession
from agents.policy.loading import LoadedPolicy

DIRECTIONS = ("up", "down", "left", "right")


def session_for(
    policy: LoadedPolicy, distribution: str = "test", level: int | None = None
) -> PlaySession:
    """A viewer session on ``policy`` with its patch toggles (the cheese vector, retarget)."""
    from agents.play.patches import patch_factories
    from agents.policy.rollout import net_act_fn

    session = PlaySession(
        policy.config.env,
        net_act_fn(policy.net),
        patch_factory=patch_factories(policy.net, policy.config.env),
        **({} if level is None else {"start_level": level}),
    )
    if session.distribution != distribution:
        session.toggle_distribution()
    session.show_field = True
    return session


def view_png(session: PlaySession, title: str = "") -> bytes:
    """The session's maze with its vector field and a bar chart of the next move, as a PNG."""
    from agents.interp.plots import figure_module, png_bytes

    plt = figure_module()
    frame = session.frame(square_px=max(16, 320 // session.config.world_size))
    probs = session.direction_probs()
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(7.6, 4.0), gridspec_kw={"width_ratios": [1.6, 1]})
    ax.imshow(frame)
    ax.set_axis_off()
    s = session.state
    ax.set_title(
        title
        or f"mouse {s.mouse}, cheese {s.cheese}"
        + (f", patch: {session.patch}" if session.patch else ""),
        fontsize=9,
    )
    values = np.zeros(4) if probs is None else probs
    bars.bar(DIRECTIONS, values, color=["C0", "C0", "C0", "C0"])
    bars.set_ylim(0, 1)
    bars.set_ylabel("P(next move)")
    bars.set_title("the policy at the mouse", fontsize=9)
    fig.suptitle("arrows: the policy's mean move on every square", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig, dpi=90)


class MazeExplorer:
    """Sliders for the cheese and the mouse, toggles for the cheese-vector patch and the maze
    distribution, a "new maze" button; the view redraws on every change.

    Display it as the last expression of a cell. Attributes ``session`` (the `PlaySession`),
    ``widget`` (the ipywidgets box) and ``png`` (the current view) are there to script it.
    """

    def __init__(self, session: PlaySession) -> None:
        import ipywidgets as w

        self.session = session
        world = session.config.world_size
        s = session.state
        self.image = w.Image(format="png")
        self.message = w.HTML()
        slider = dict(min=0, max=world - 1, continuous_update=False, layout={"width": "260px"})
        assert s.cheese is not None
        self.cheese_row = w.IntSlider(value=s.cheese[0], description="cheese row", **slider)
        self.cheese_col = w.IntSlider(value=s.cheese[1], description="cheese col", **slider)
        self.mouse_row = w.IntSlider(value=s.mouse[0], description="mouse row", **slider)
        self.mouse_col = w.IntSlider(value=s.mouse[1], description="mouse col", **slider)
        wide = {"width": "260px"}
        self.patch = w.ToggleButton(
            description="subtract the cheese vector", value=False, layout=wide
        )
        self.distribution = w.ToggleButtons(
            options=["test", "train"], value=session.distribution, description="mazes"
        )
        self.new = w.Button(description="new maze", layout=wide)
        for control in (self.cheese_row, self.cheese_col, self.mouse_row, self.mouse_col):
            control.observe(self._moved, names="value")
        self.patch.observe(self._patched, names="value")
        self.distribution.observe(self._distribution, names="value")
        self.new.on_click(self._new_maze)
        controls = w.VBox(
            [
                self.cheese_row,
                self.cheese_col,
                self.mouse_row,
                self.mouse_col,
                self.patch,
                self.distribution,
                self.new,
                self.message,
            ]
        )
        self.widget = w.HBox([self.image, controls])
        self.png = b""
        self.redraw()

    def redraw(self) -> None:
        self.png = view_png(self.session)
        self.image.value = self.png

    def _sync_sliders(self) -> None:
        s = self.session.state
        for slider, value in (
            (self.cheese_row, s.cheese[0] if s.cheese else 0),
            (self.cheese_col, s.cheese[1] if s.cheese else 0),
            (self.mouse_row, s.mouse[0]),
            (self.mouse_col, s.mouse[1]),
        ):
            slider.unobserve(self._moved, names="value")
            slider.value = int(value)
            slider.observe(self._moved, names="value")

    def _moved(self, change: dict[str, Any]) -> None:
        cheese = (self.cheese_row.value, self.cheese_col.value)
        mouse = (self.mouse_row.value, self.mouse_col.value)
        s = self.session.state
        ok = True
        if cheese != s.cheese:
            ok = self.session.move_cheese(cheese)
        elif mouse != s.mouse:
            ok = self.session.move_mouse(mouse)
        self.message.value = "" if ok else f"<i>{self.session.message}</i>"
        self._sync_sliders()
        self.redraw()

    def _patched(self, change: dict[str, Any]) -> None:
        if (self.session.patch == "cheese_vector") != bool(change["new"]):
            self.session.toggle_patch("cheese_vector")
        self.redraw()

    def _distribution(self, change: dict[str, Any]) -> None:
        if self.session.distribution != change["new"]:
            self.session.toggle_distribution()
        self._sync_sliders()
        self.redraw()

    def _new_maze(self, _button: Any) -> None:
        self.session.new_maze()
        self._sync_sliders()
        self.redraw()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget where a frontend renders widgets; the PNG of the view elsewhere."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data = dict(data or {})
        data["image/png"] = self.png
        data["text/plain"] = "MazeExplorer (a live widget in Jupyter; a PNG elsewhere)"
        return data


def maze_explorer(
    policy: LoadedPolicy, distribution: str = "test", level: int | None = None
) -> MazeExplorer:
    """An interactive maze for ``policy`` (see `MazeExplorer`); needs ipywidgets (``pip install
    -e .[notebook]``)."""
    return MazeExplorer(session_for(policy, distribution, level))
