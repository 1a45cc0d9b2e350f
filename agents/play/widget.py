"""The viewer in a notebook: move the cheese and the mouse with sliders (or type their squares)
and watch the policy's vector field and next-move probabilities redraw, with or without a patch.

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
        name=policy.label,
        **({} if level is None else {"start_level": level}),
    )
    if session.distribution != distribution:
        session.toggle_distribution()
    session.show_field = True
    return session


def view_png(session: PlaySession, title: str = "") -> bytes:
    """The session's maze with its vector field and a bar chart of the next move, as a PNG,
    headed by what it shows (the policy, the distribution, the maze: `PlaySession.describe`)."""
    from agents.interp.plots import figure_module, png_bytes

    plt = figure_module()
    frame = session.frame(square_px=max(16, 320 // session.config.world_size))
    probs = session.direction_probs()
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(7.6, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})
    ax.imshow(frame)
    ax.set_axis_off()
    s = session.state
    ax.set_title(
        title
        or f"mouse {s.mouse}, cheese {s.cheese}"
        + (f", patch: {session.patch}" if session.patch else "")
        + "\narrows: the policy's mean move on every square",
        fontsize=9,
    )
    values = np.zeros(4) if probs is None else probs
    bars.bar(DIRECTIONS, values, color=["C0", "C0", "C0", "C0"])
    bars.set_ylim(0, 1)
    bars.set_ylabel("P(next move)")
    bars.set_title("the policy at the mouse", fontsize=9)
    fig.suptitle("\n".join(session.describe()), fontsize=9, x=0.02, ha="left")
    fig.tight_layout()
    return png_bytes(fig, dpi=90)


#: The squares typed or slid: (piece, 0 for its row / 1 for its column)
COORDINATES = {
    "cheese row": ("cheese", 0),
    "cheese col": ("cheese", 1),
    "mouse row": ("mouse", 0),
    "mouse col": ("mouse", 1),
}


class MazeExplorer:
    """Sliders and number boxes for the cheese and the mouse, toggles for the cheese-vector
    patch and the maze distribution, a "new maze" button; the view redraws on every change.

    A number typed outside the maze is refused with a message naming the allowed range (a
    slider's own readout would clamp it silently in the browser, so the sliders have none: the
    box beside each is where a square is typed).

    Display it as the last expression of a cell. Attributes ``session`` (the `PlaySession`),
    ``widget`` (the ipywidgets box), ``sliders`` and ``boxes`` (name in `COORDINATES` -> its
    control), ``message`` (the line under the controls) and ``png`` (the current view) are
    there to script it.
    """

    def __init__(self, session: PlaySession) -> None:
        import ipywidgets as w

        self.session = session
        world = session.config.world_size
        self.image = w.Image(format="png")
        self.message = w.HTML()
        values = self._squares()
        self.sliders = {
            name: w.IntSlider(
                value=values[name],
                min=0,
                max=world - 1,
                description=name,
                readout=False,
                continuous_update=False,
                layout={"width": "220px"},
            )
            for name in COORDINATES
        }
        self.boxes = {
            name: w.IntText(value=values[name], layout={"width": "56px"}) for name in COORDINATES
        }
        wide = {"width": "280px"}
        self.patch = w.ToggleButton(
            description="subtract the cheese vector", value=False, layout=wide
        )
        self.distribution = w.ToggleButtons(
            options=["test", "train"], value=session.distribution, description="mazes"
        )
        self.new = w.Button(description="new maze", layout=wide)
        for control in (*self.sliders.values(), *self.boxes.values()):
            control.observe(self._moved, names="value")
        self.patch.observe(self._patched, names="value")
        self.distribution.observe(self._distribution, names="value")
        self.new.on_click(self._new_maze)
        rows = [w.HBox([self.sliders[n], self.boxes[n]]) for n in COORDINATES]
        controls = w.VBox([*rows, self.patch, self.distribution, self.new, self.message])
        self.widget = w.HBox([self.image, controls])
        self.png = b""
        self.redraw()

    def redraw(self) -> None:
        self.png = view_png(self.session)
        self.image.value = self.png

    def _squares(self) -> dict[str, int]:
        s = self.session.state
        at = {"cheese": s.cheese or (0, 0), "mouse": s.mouse}
        return {name: int(at[piece][k]) for name, (piece, k) in COORDINATES.items()}

    def _sync(self) -> None:
        """Every slider and box back to the session's squares (without moving anything)."""
        for name, value in self._squares().items():
            for control in (self.sliders[name], self.boxes[name]):
                control.unobserve(self._moved, names="value")
                control.value = value
                control.observe(self._moved, names="value")

    def _moved(self, change: dict[str, Any]) -> None:
        name = next(n for n in COORDINATES if change["owner"] in (self.sliders[n], self.boxes[n]))
        value, top = int(change["new"]), self.session.config.world_size - 1
        if not 0 <= value <= top:
            self._sync()  # the box shows the square again
            self.message.value = (
                f"<b>{name} {value} is outside the maze</b>: rows and columns go from 0 to "
                f"{top}; nothing moved"
            )
            return
        piece, k = COORDINATES[name]
        now = self._squares()
        square = [now[f"{piece} row"], now[f"{piece} col"]]
        square[k] = value
        move = self.session.move_cheese if piece == "cheese" else self.session.move_mouse
        ok = move((square[0], square[1]))
        self.message.value = "" if ok else f"<i>{self.session.message}</i>"
        self._sync()
        self.redraw()

    def _patched(self, change: dict[str, Any]) -> None:
        if (self.session.patch == "cheese_vector") != bool(change["new"]):
            self.session.toggle_patch("cheese_vector")
        self.redraw()

    def _distribution(self, change: dict[str, Any]) -> None:
        if self.session.distribution != change["new"]:
            self.session.toggle_distribution()
        self._sync()
        self.redraw()

    def _new_maze(self, _button: Any) -> None:
        self.session.new_maze()
        self._sync()
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
