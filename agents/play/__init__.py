"""The rollout viewer, in rooms: `session` (state, patches, controls as methods), `window` (the
pygame loop), `recorder` (headless GIF / MP4), `patches` (the patch toggles), `app` (what
``python -m experiments.play`` does). Arrows are drawn by `mazegen.render.draw_arrows` with the
other renderers. Names below are imported on first use (torch comes with them)."""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "patch_factories": "patches",
    "record": "recorder",
    "video_frame": "recorder",
    "CONTROLS": "session",
    "MAZE_PX": "session",
    "PlaySession": "session",
    "outcome": "session",
    "DisplayError": "window",
    "run_window": "window",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agents.play' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agents.play.{_HOMES[name]}"), name)
