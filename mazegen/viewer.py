"""A minimal pygame window for ``render_mode="human"``. pygame is imported only here, lazily."""

from __future__ import annotations

import numpy as np


class DisplayUnavailableError(RuntimeError):
    """No display (or no pygame) to open a window on."""


def import_pygame():  # type: ignore[no-untyped-def]
    """Imports pygame quietly, or raises a one-line error that says how to get it."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame
    except ImportError:
        raise DisplayUnavailableError(
            "pygame is not installed; run `pip install 'cheese-maze[viewer]'`"
        ) from None
    return pygame


class Window:
    """Shows RGB frames ``[H, W, 3]`` uint8 in a pygame window."""

    def __init__(self, width: int, height: int, title: str) -> None:
        pygame = import_pygame()
        self._pg = pygame
        try:
            pygame.display.init()
            self.surface = pygame.display.set_mode((width, height))
        except pygame.error as e:
            raise DisplayUnavailableError(
                f"cannot open a window ({e}); set SDL_VIDEODRIVER=dummy for headless use"
            ) from None
        pygame.display.set_caption(title)
        self.clock = pygame.time.Clock()

    def show(self, frame: np.ndarray, fps: int = 0) -> None:
        self._pg.event.pump()
        self._pg.surfarray.blit_array(self.surface, np.ascontiguousarray(frame.swapaxes(0, 1)))
        self._pg.display.flip()
        if fps:
            self.clock.tick(fps)

    def close(self) -> None:
        self._pg.display.quit()
