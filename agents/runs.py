"""The run folder: its layout, atomic writes, and loading a policy from a run, a checkpoint or the
shipped one.

A run folder describes itself::

    <run>/config.yaml            resolved TrainConfig
    <run>/tb/                    TensorBoard events (SB3 scalars + eval/*)
    <run>/checkpoints/step_<N>.zip   periodic checkpoints (atomic), newest wins
    <run>/model.zip              the final model
    <run>/metrics.json           the final held-out evaluation
    <run>/.hydra/                Hydra's own record of the command line
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.config import ConfigError, TrainConfig, to_train_config

CONFIG = "config.yaml"
MODEL = "model.zip"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
TB = "tb"
PRETRAINED = Path(__file__).parent / "pretrained"
_STEP = re.compile(r"^step_(\d+)\.zip$")


class RunError(ValueError):
    """A run folder or checkpoint is missing, incomplete, corrupt or incompatible."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_model(model: Any, path: Path) -> None:
    """Saves an SB3 model atomically (a crash leaves the old file or none, never half a file)."""
    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(path, buf.getvalue())


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


def check_model_file(path: Path) -> None:
    """Raises `RunError` unless ``path`` is a readable SB3 model archive."""
    if not path.is_file():
        raise RunError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError) as e:
        raise RunError(
            f"{path} is not a valid model archive ({e}); use an earlier checkpoint"
        ) from None
    if bad is not None or "policy.pth" not in names or "data" not in names:
        raise RunError(f"{path} is corrupt or incomplete; use an earlier checkpoint")


@dataclass
class LoadedPolicy:
    """A trained policy with the config it was trained under."""

    model: Any  # stable_baselines3.PPO
    config: TrainConfig
    source: Path


def resolve(path: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """A run folder, a checkpoint / model file, or None (the shipped policy) ->
    ``(run folder, model file)``."""
    if path is None:
        run = PRETRAINED
        if not (run / MODEL).is_file():
            raise RunError(f"the shipped policy is missing from {run}")
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
        run = p.parent.parent if p.parent.name == CHECKPOINTS else p.parent
        return run, p
    raise RunError(
        f"{p} does not exist; give a run folder, a checkpoint .zip, or nothing for "
        "the shipped policy"
    )


def load_policy(path: str | os.PathLike[str] | None = None, device: str = "cpu") -> LoadedPolicy:
    """Loads a policy from a run folder, a checkpoint, or (None) the shipped policy."""
    from stable_baselines3 import PPO

    run, model_file = resolve(path)
    cfg = read_config(run)
    check_model_file(model_file)
    try:
        model = PPO.load(model_file, device=device)
    except Exception as e:
        raise RunError(
            f"cannot load {model_file} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    check_compatible(model, cfg, model_file)
    return LoadedPolicy(model=model, config=cfg, source=model_file)


def check_compatible(model: Any, cfg: TrainConfig, where: Path) -> None:
    """Raises `RunError` if the model's spaces do not match the config's environment."""
    from mazegen import MazeBatch

    probe = MazeBatch(1, cfg.env)
    want_obs = probe.renderer.shape
    got_obs = tuple(model.observation_space.shape)
    if got_obs != want_obs or int(model.action_space.n) != probe.num_actions:
        raise RunError(
            f"{where} takes observations {got_obs} and {int(model.action_space.n)} actions, but "
            f"the config's env gives {want_obs} and {probe.num_actions}; pair the checkpoint "
            "with the run it came from"
        )


def load_pretrained(device: str = "cpu") -> LoadedPolicy:
    """The shipped policy (trained by ``python -m experiments.train``, default preset)."""
    return load_policy(None, device=device)
