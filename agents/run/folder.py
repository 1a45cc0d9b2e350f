"""The run folder: its layout, its config, its checkpoints, and resolving a path to them.

A run folder describes itself::

    <run>/config.yaml            resolved TrainConfig (the network is rebuilt from it)
    <run>/tb/                    TensorBoard events (SB3 scalars + eval/*)
    <run>/checkpoints/step_<N>.zip   periodic checkpoints with optimizer state, newest wins
    <run>/model.zip              the final weights
    <run>/metrics.json           the final held-out evaluation
    <run>/train.log              what the run printed
    <run>/.hydra/                Hydra's own record of the command line

Checkpoint files are described in `agents.run.checkpoint`; `agents.policy.loading` turns a run
into a policy. Every file is written atomically (`mazegen.files`).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from agents.settings.base import ConfigError
from agents.settings.train import TrainConfig, to_train_config
from mazegen.files import atomic_write_bytes

CONFIG = "config.yaml"
MODEL = "model.zip"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
TB = "tb"
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"  # one folder per shipped policy
DEFAULT_PRETRAINED = "quick"
_STEP = re.compile(r"^step_(\d+)\.zip$")


class RunError(ValueError):
    """A run folder or checkpoint is missing, incomplete, corrupt or incompatible."""


def write_config(run: Path, cfg: TrainConfig) -> None:
    from omegaconf import OmegaConf

    text = OmegaConf.to_yaml(OmegaConf.structured(cfg))
    atomic_write_bytes(run / CONFIG, text.encode())


def read_config(run: Path) -> TrainConfig:
    from omegaconf import OmegaConf

    path = run / CONFIG
    if not path.is_file():
        raise RunError(f"{run} is not a run folder: {CONFIG} is missing")
    try:
        raw = OmegaConf.load(path)
    except Exception as e:
        raise RunError(f"{path} is not valid YAML ({type(e).__name__})") from None
    try:
        return to_train_config(raw)
    except ConfigError as e:
        raise RunError(f"{path}: {e}") from None


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the run's checkpoints, oldest first."""
    folder = run / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _STEP.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def sweep_runs(sweep: str | os.PathLike[str]) -> list[Path]:
    """The trained runs of a multirun folder (subfolders with weights or a checkpoint), sorted.
    Raises `RunError` (one line) when the folder is missing or holds none."""
    root = Path(sweep).expanduser()
    if not root.is_dir():
        raise RunError(f"sweep folder {root} does not exist")
    runs = sorted(
        p for p in root.iterdir() if p.is_dir() and ((p / MODEL).is_file() or checkpoints(p))
    )
    if not runs:
        raise RunError(f"sweep folder {root} holds no trained runs (no {MODEL} in its subfolders)")
    return runs


def checkpoint_path(run: Path, step: int) -> Path:
    return run / CHECKPOINTS / f"step_{step:012d}.zip"


def run_of(model_file: Path) -> Path:
    """The run folder a model or checkpoint file belongs to."""
    return model_file.parent.parent if model_file.parent.name == CHECKPOINTS else model_file.parent


def checkpoint_run(path: Path, what: str = "") -> Path:
    """The run folder of the checkpoint file ``path``, checked: a zip archive with the run's
    ``config.yaml`` beside it. Raises `RunError` (one line, naming ``what`` given) otherwise."""
    given = what or str(path)
    if not zipfile.is_zipfile(path):
        raise RunError(
            f"{given} is neither a run folder nor a checkpoint .zip; give a run folder, a "
            "checkpoint, or a shipped policy's name"
        )
    run = run_of(path)
    if not (run / CONFIG).is_file():
        raise RunError(f"{given} has no {CONFIG} beside it ({run}): a checkpoint needs its run")
    return run


def is_torch_file(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` is a ``torch.save`` file (a ``.pth`` / ``.pt``, or a zip archive
    holding ``<name>/data.pkl``) rather than a run folder or this project's checkpoint."""
    if path is None:
        return False
    p = Path(path).expanduser()
    if not p.is_file():
        return False
    if p.suffix in (".pth", ".pt"):
        return True
    if not zipfile.is_zipfile(p):
        return False
    with zipfile.ZipFile(p) as z:
        return any(n.endswith("/data.pkl") for n in z.namelist())


def pretrained_names() -> list[str]:
    """Names of the shipped policies (folders of ``agents/pretrained/``)."""
    if not PRETRAINED.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED.iterdir() if (p / MODEL).is_file())


def resolve(path: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """A run folder, a checkpoint / model file, a shipped policy's name (``hard`` or
    ``pretrained:hard``), or None (the default shipped policy) -> ``(run folder, model file)``.

    A path that exists wins over a shipped name.
    """
    text = DEFAULT_PRETRAINED if path is None else str(path)
    name = text.removeprefix("pretrained:")
    if (
        path is None
        or text.startswith("pretrained:")
        or (not Path(text).expanduser().exists() and name in pretrained_names())
    ):
        run = PRETRAINED / name
        if not (run / MODEL).is_file():
            raise RunError(
                f"no shipped policy named {name!r}; shipped: {', '.join(pretrained_names())}"
            )
        return run, run / MODEL
    p = Path(path).expanduser()
    if p.is_dir():
        if (p / MODEL).is_file():
            return p, p / MODEL
        ckpts = checkpoints(p)
        if ckpts:
            return p, ckpts[-1][1]
        if not (p / CONFIG).is_file():
            raise RunError(f"{p} is not a run folder (no {CONFIG}, {MODEL} or checkpoints)")
        raise RunError(f"run folder {p} has no model yet ({MODEL} or {CHECKPOINTS}/)")
    if is_torch_file(p):  # a 2023 checkpoint (agents.policy.langosco): no run folder
        return p.parent, p
    if p.is_file():
        return checkpoint_run(p), p
    raise RunError(
        f"{p} does not exist; give a run folder, a checkpoint .zip, a shipped policy's name "
        f"({', '.join(pretrained_names())}), or nothing for the default shipped policy"
    )


HISTORY = "history.jsonl"


def git_commit() -> str | None:
    """The commit of the code this process runs, ``-dirty`` appended when tracked files differ
    from it (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40", "--exclude=*"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def append_history(run: Path, entry: dict[str, Any]) -> None:
    """Adds one line to ``<run>/history.jsonl``: each session of a run (the first and every
    resume) with its command-line overrides and starting step."""
    path = run / HISTORY
    old = path.read_bytes() if path.is_file() else b""
    atomic_write_bytes(path, old + (json.dumps(entry, sort_keys=True) + "\n").encode())


def read_history(run: Path) -> list[dict[str, Any]]:
    path = run / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
