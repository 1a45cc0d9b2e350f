"""Headless recording of `PlaySession` episodes as GIF or MP4: readable frames with a caption,
and side-by-side comparisons of the same mazes under two policies."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from agents.play.session import PlaySession, outcome, wrap
from mazegen.actions import direction_probs


def caption(lines: list[str], width: int, height: int = 0) -> np.ndarray:
    """``[H, width, 3]`` dark strip with ``lines`` of text (Pillow's default font), a line
    too wide for the strip wrapped after a space or a slash."""
    edge = np.empty((6, width, 3), dtype=np.uint8)
    edge[:] = BACKGROUND
    rows = [strip for line in lines for strip in _line_strips(line, width)]
    out = np.concatenate([edge[:4], *rows, edge[:2]])
    return out if out.shape[0] >= height else _padded(out, height)


@functools.lru_cache(maxsize=1)
def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


LINE_PX = 18  # the caption's rows a line of text takes


@functools.lru_cache(maxsize=512)
def _line_strips(line: str, width: int) -> tuple[np.ndarray, ...]:
    """``line`` rendered as one ``[LINE_PX, width, 3]`` strip per wrapped piece. Cached: most
    of a recording's lines (who plays, which maze) repeat from frame to frame, and laying text
    out was most of a frame's cost. The strips are read-only (shared between calls)."""
    from PIL import Image, ImageDraw

    font = _font()
    pieces = wrap(line, lambda t: font.getlength(t) <= width - 12)
    strips = []
    for piece in pieces:
        im = Image.new("RGB", (width, LINE_PX), BACKGROUND)
        ImageDraw.Draw(im).text((6, 0), piece, fill=(235, 235, 235), font=font)
        strip = np.array(im)
        strip.flags.writeable = False
        strips.append(strip)
    return tuple(strips)


def _with_progress(img: np.ndarray, step: int, limit: int) -> np.ndarray:
    """The frame with a 4-pixel step bar below it (so every frame of a video differs)."""
    bar = np.full((4, img.shape[1], 3), 40, dtype=np.uint8)
    bar[:, : max(1, round(img.shape[1] * min(step, limit) / limit))] = (90, 170, 250)
    return np.concatenate([img, bar])


RECORD_PX = 400  # recorded mazes are at least this many pixels wide
BACKGROUND = (24, 24, 30)  # of the caption strip


def _padded(img: np.ndarray, height: int) -> np.ndarray:
    """``img`` with the caption's background below it up to ``height`` rows (the frames of a
    video, and the two halves of a comparison, share one size whatever their text's lines)."""
    pad = np.empty((height - img.shape[0], img.shape[1], 3), dtype=img.dtype)
    pad[:] = BACKGROUND
    return np.concatenate([img, pad])


def video_frame(session: PlaySession, limit: int, title: str | None = None) -> np.ndarray:
    """One recorded frame: the maze (>= `RECORD_PX` wide), a step bar and a text strip with the
    policy, distribution and maze (`PlaySession.describe`), the step, return, outcome, patch and
    action probabilities."""
    px = max(8, -(-RECORD_PX // session.config.world_size))
    img = _with_progress(session.frame(square_px=px), session.steps, limit)
    probs = (
        "-"
        if session.last_probs is None
        else "  ".join(
            f"{name} {p:.2f}"
            for name, p in zip(
                ("up", "down", "left", "right"),
                direction_probs(session.last_probs[None], session.config.action_mode)[0],
            )
        )
    )
    lines = [
        *([title] if title else []),
        *session.describe(),
        f"step {session.steps}/{limit}   return {session.episode_return:.1f}   {outcome(session)}"
        f"   patch: {session.patch or 'none'}",
        f"P(move) {probs}",
    ]
    return np.concatenate([img, caption(lines, img.shape[1])])


def record(
    session: PlaySession,
    path: Path,
    episodes: int,
    fps: int = 8,
    max_steps: int | None = None,
    compare: PlaySession | None = None,
) -> int:
    """Plays ``episodes`` episodes headless and writes them as a GIF or MP4; returns frames.

    With ``compare`` (a second session on the same mazes, e.g. with a patch on), each frame
    shows the two side by side; an episode lasts until both are done.
    """
    import imageio.v2 as imageio

    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"record output must end in .gif or .mp4, got {path.name}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ValueError(
                "MP4 needs the imageio-ffmpeg package (make setup installs it); or write a .gif"
            ) from None
    sessions = [session] if compare is None else [session, compare]
    titles = [None] if compare is None else ["unpatched", f"patched: {compare.patch}"]
    frames: list[Any] = []
    limit = max_steps or session.config.max_steps

    def shot() -> np.ndarray:
        parts = [video_frame(s, limit, t) for s, t in zip(sessions, titles)]
        parts = [_padded(p, max(q.shape[0] for q in parts)) for p in parts]
        gap = np.full((parts[0].shape[0], 8, 3), 255, dtype=np.uint8)
        return np.concatenate([x for part in parts for x in (part, gap)][:-1], axis=1)

    for e in range(episodes):
        if e:
            for s in sessions:
                s.new_maze()
        frames.append(shot())
        while any(not s.done and s.steps < limit for s in sessions):
            for s in sessions:
                if not s.done and s.steps < limit:
                    s.step()
            frames.append(shot())
    tallest = max(f.shape[0] for f in frames)
    frames = [_padded(f, tallest) for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        if suffix == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
            imageio.mimsave(tmp, even, fps=fps, format="FFMPEG", macro_block_size=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(frames)


def _write_gif(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """``frames`` (``[H, W, 3]`` each, one size) as a looping GIF at ``fps``.

    One palette for every frame: a recording's colours are few (the maze's, the caption's grey
    levels; ~250 in a side-by-side comparison), so 256 taken from its first, middle and last
    frames hold nearly all of them, and mapping each frame onto it takes a fifteenth of the
    time of a palette of its own per frame (Pillow's median cut: 2.2 s of a 101-frame
    comparison's 2.4 s on an AVX2 EPYC), with steady colours from frame to frame."""
    from PIL import Image

    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]])
    palette = Image.fromarray(sample).quantize(256)
    images = [
        Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames
    ]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=1000.0 / fps,  # milliseconds a frame
        loop=0,
    )
