"""The rollout viewer, in rooms: `session` (state, patches, controls as methods), `window` (the
pygame loop), `record` (headless GIF / MP4), `patches` (the patch toggles). Arrows are drawn by
`mazegen.render.draw_arrows` with the other renderers."""

from agents.play.patches import patch_factories
from agents.play.record import record, video_frame
from agents.play.session import CONTROLS, MAZE_PX, PlaySession, outcome
from agents.play.window import DisplayError, run_window

__all__ = [
    "CONTROLS",
    "MAZE_PX",
    "DisplayError",
    "PlaySession",
    "outcome",
    "patch_factories",
    "record",
    "run_window",
    "video_frame",
]
