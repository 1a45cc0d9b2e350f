"""Shared command-line plumbing: one-line errors and Hydra resolvers."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from omegaconf import OmegaConf


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turns the project's input errors into ``error: <one line>`` and exit status 2."""
    from agents.analysis.hooks import HookError
    from agents.config import ConfigError
    from agents.runs import RunError
    from mazegen import MazeConfigError, MazeStateError

    try:
        yield
    except (ConfigError, RunError, HookError, MazeConfigError, MazeStateError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def _run_dir(resume: object, default: str) -> str:
    return str(resume) if resume not in (None, "", "None", "null") else default


def _hydra_subdir(resume: object) -> str:
    return ".hydra" if resume in (None, "", "None", "null") else ".hydra-resume"


def register_resolvers() -> None:
    for name, fn in (("cm_run_dir", _run_dir), ("cm_hydra_subdir", _hydra_subdir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
