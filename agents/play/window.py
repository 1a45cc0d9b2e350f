"""The pygame window: draws a `PlaySession` and maps keys and clicks to its methods. pygame is
imported lazily (`mazegen.viewer.import_pygame`), so the rest of the project runs without it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agents.play.session import HUD_WIDTH, PlaySession, wrap
from mazegen.viewer import DisplayUnavailableError

DisplayError = DisplayUnavailableError  # no display (or no pygame) for the window


def run_window(
    session: PlaySession,
    save_dir: Path,
    max_frames: int | None = None,
    events: Callable[[], list[Any]] | None = None,
) -> None:
    """The pygame window: draws the session and maps keys and clicks to it.

    Args:
        session: What is shown.
        save_dir: Where ``s`` saves states and screenshots.
        max_frames: Stop after this many frames (tests); None runs until quit.
        events: Source of events (default ``pygame.event.get``; tests inject their own).
    """
    from mazegen.viewer import import_pygame

    pg = import_pygame()
    if os.environ.get("SDL_VIDEODRIVER") != "dummy" and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise DisplayError(
            "no display available; use the headless record mode "
            "(python -m experiments.play mode=record out=rollout.gif)"
        )
    pg.display.init()
    pg.font.init()
    px = session.square_px
    w = session.config.world_size * px
    font = pg.font.Font(None, 18)
    try:  # tall enough for the panel's lines as wrapped (a run's long path), one spare
        tall = 16 * (len(hud(session, font, HUD_WIDTH - 16)) + 1) + 8
        screen = pg.display.set_mode((w + HUD_WIDTH, max(w, tall)))
    except pg.error as e:
        raise DisplayError(f"cannot open a window ({e}); use mode=record") from None
    pg.display.set_caption(f"cheese-maze - {session.name or 'an unnamed policy'}")
    clock = pg.time.Clock()
    get_events = events or pg.event.get
    frames = 0
    running = True
    keys = {
        pg.K_SPACE: lambda: setattr(session, "paused", not session.paused),
        pg.K_PERIOD: session.step,
        pg.K_PLUS: session.faster,
        pg.K_EQUALS: session.faster,
        pg.K_KP_PLUS: session.faster,
        pg.K_MINUS: session.slower,
        pg.K_KP_MINUS: session.slower,
        pg.K_n: session.new_maze,
        pg.K_r: session.restart,
        pg.K_d: session.toggle_distribution,
        pg.K_v: lambda: setattr(session, "show_field", not session.show_field),
        pg.K_c: lambda: session.toggle_patch("cheese_vector"),
        pg.K_t: lambda: session.toggle_patch("retarget"),
        pg.K_s: lambda: session.save(save_dir),
        pg.K_UP: lambda: session.move(0),
        pg.K_DOWN: lambda: session.move(1),
        pg.K_LEFT: lambda: session.move(2),
        pg.K_RIGHT: lambda: session.move(3),
    }
    try:
        while running and (max_frames is None or frames < max_frames):
            dt = clock.tick(30) / 1000.0
            for ev in get_events():
                if ev.type == pg.QUIT or (
                    ev.type == pg.KEYDOWN and ev.key in (pg.K_q, pg.K_ESCAPE)
                ):
                    running = False
                elif ev.type == pg.KEYDOWN and ev.key in keys:
                    keys[ev.key]()
                elif ev.type == pg.MOUSEBUTTONDOWN:
                    x, y = ev.pos
                    if x < w and y < w:
                        square = (y // px, x // px)
                        if session.awaiting_target:
                            session.set_target(square)
                        elif ev.button == 1:
                            session.move_cheese(square)
                        else:
                            session.move_mouse(square)
            session.tick(dt)
            draw(pg, screen, font, session)
            pg.display.flip()
            frames += 1
    finally:
        pg.display.quit()


def hud(session: PlaySession, font: Any, room: int) -> list[str]:
    """The panel's lines, each wrapped to ``room`` pixels of ``font``."""

    def fits(text: str) -> bool:
        return bool(font.size(text)[0] <= room)

    return [part for line in session.hud_lines() for part in wrap(line, fits)]


def draw(pg: Any, screen: Any, font: Any, session: PlaySession) -> None:
    frame = session.frame()
    screen.fill((24, 24, 30))
    surf = pg.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
    screen.blit(surf, (0, 0))
    x0 = frame.shape[1] + 10
    lines = hud(session, font, screen.get_width() - x0 - 6)
    for i, line in enumerate(lines):
        screen.blit(font.render(line, True, (230, 230, 230)), (x0, 8 + 16 * i))
    probs = session.direction_probs()
    if probs is not None:  # a small bar chart under "next move"
        top = 8 + 16 * (lines.index("next move (policy):") + 1)
        for k, (name, p) in enumerate(zip(("up", "down", "left", "right"), probs)):
            y = top + 16 * k
            screen.blit(font.render(f"{name:>5} {p:.2f}", True, (230, 230, 230)), (x0, y))
            pg.draw.rect(screen, (255, 120, 20), (x0 + 80, y + 2, int(150 * p), 10))
