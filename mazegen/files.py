"""Atomic file writes: a reader sees the old file or the new one, never half of one; and the
one JSON writer.

Every file the project writes (maze states, checkpoints, configs, metrics, figures, videos) goes
through `atomic_write`: the data goes to a temporary file beside the target, is flushed to disk,
and is renamed over the target. A process killed mid-write leaves only a temporary file named
``.<name>.<random>.tmp``, which `remove_stale_temps` deletes at the next start.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

_TMP_SUFFIX = ".tmp"


def _readable_mode() -> int:
    """0o666 minus the process umask: what ``open()`` would give (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Calls ``write(file)`` on a temporary file, then renames it to ``path``.

    The file gets the permissions a plain ``open()`` would (0644 under the usual umask), so
    others on a shared machine can read a run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        os.fchmod(fd, _readable_mode())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))


def jsonable(obj: Any) -> Any:
    """A JSON-ready copy: numpy scalars and arrays as Python numbers and lists, NaN and
    infinities as None, tuples as lists; keys starting with ``_`` (private) are dropped."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Writes ``jsonable(obj)`` to ``path`` atomically (indented, keys sorted): the one JSON
    writer of the project (metrics, reports, caches)."""
    text = json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file is missing, unreadable or not an
    object (caches and optional records, where absence is normal)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Deletes temporary files that a killed `atomic_write` left under ``folder``; returns them."""
    root = Path(folder)
    if not root.is_dir():
        return []
    stale = [
        p
        for p in root.rglob(f".*{_TMP_SUFFIX}")
        if p.is_file() and p.name.count(".") >= 3  # .<name>.<random>.tmp
    ]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale
