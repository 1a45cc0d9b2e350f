"""The run folder: its layout, its config, its checkpoints, and resolving a path to them.

A run folder describes itself::

    <run>/config.yaml            resolved TrainConfig (the network is rebuilt from it)
    <run>/tb/                    TensorBoard events (SB3 scalars + eval/*)
    <run>/checkpoints/step_<N>.zip   periodic checkpoints with optimizer state, newest wins
    <run>/model.zip              the final weights
    <run>/metrics.json           the final held-out evaluation
    <run>/train.log              what the run printed
    <run>/.hydra/                Hydra's own record of the command line

Checkpoint files are described in `agents.checkpoint`; `agents.loading` turns a run into a
policy. Every file is written atomically (`mazegen.files`).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from agents.config import ConfigError, TrainConfig, to_train_config
from mazegen.files import atomic_write_bytes

CONFIG = "config.yaml"
MODEL = "model.zip"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
TB = "tb"
PRETRAINED = Path(__file__).parent / "pretrained"  # one folder per shipped policy
DEFAULT_PRETRAINED = "quick"
_STEP = re.compile(r"^step_(\d+)\.zip$")


class RunError(ValueError):
    """A run folder or checkpoint is missing, incomplete, corrupt or incompatible."""


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


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


def checkpoint_path(run: Path, step: int) -> Path:
    return run / CHECKPOINTS / f"step_{step:012d}.zip"


def run_of(model_file: Path) -> Path:
    """The run folder a model or checkpoint file belongs to."""
    return model_file.parent.parent if model_file.parent.name == CHECKPOINTS else model_file.parent


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
    if p.is_file():
        if not zipfile.is_zipfile(p):
            raise RunError(
                f"{p} is neither a run folder nor a checkpoint .zip; give a run folder, a "
                "checkpoint, or a shipped policy's name"
            )
        run = run_of(p)
        if not (run / CONFIG).is_file():
            raise RunError(f"{p} has no {CONFIG} beside it ({run}): a checkpoint needs its run")
        return run, p
    raise RunError(
        f"{p} does not exist; give a run folder, a checkpoint .zip, a shipped policy's name "
        f"({', '.join(pretrained_names())}), or nothing for the default shipped policy"
    )


HISTORY = "history.jsonl"


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


def ship(run: Path, name: str, dest: Path = PRETRAINED) -> Path:
    """Copies a finished run's ``config.yaml``, ``model.zip`` and ``metrics.json`` into
    ``dest/<name>/`` with ``provenance.json`` (the command, its overrides, steps, training
    minutes, the code's git commit and the machine). Returns the folder."""
    import platform
    import shutil
    import subprocess

    if not name.isidentifier():
        raise RunError(f"a shipped policy's name must be a plain word, got {name!r}")
    for f in (CONFIG, MODEL, METRICS):
        if not (run / f).is_file():
            raise RunError(f"{run} is not a finished run: {f} is missing")
    metrics = json.loads((run / METRICS).read_text())
    history = read_history(run)
    commands = [
        "python -m experiments.train "
        + " ".join("resume=<run>" if o.startswith("resume=") else o for o in h.get("overrides", []))
        for h in history
    ]
    if not any(h.get("from_step") == 0 for h in history):
        # a run older than its history: its first command is in Hydra's record of overrides
        overrides_file = run / ".hydra" / "overrides.yaml"
        lines = overrides_file.read_text().splitlines() if overrides_file.is_file() else []
        first = " ".join(o.removeprefix("- ") for o in lines if o.strip())
        commands.insert(0, f"python -m experiments.train {first}".rstrip())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    out = dest / name
    out.mkdir(parents=True, exist_ok=True)
    for f in (CONFIG, MODEL, METRICS):
        shutil.copyfile(run / f, out / f)
    import torch

    atomic_write_json(
        out / "provenance.json",
        {
            "command": commands[0],
            "commands": commands,
            "run_folder": str(run),
            "total_steps": metrics.get("total_steps"),
            "train_minutes": metrics.get("train_minutes_total"),
            "git_commit": commit,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor()}",
            "torch": torch.__version__,
        },
    )
    return out
