"""The checkpoint file: tensors as safetensors, everything else as JSON; nothing in it can run code.

A checkpoint (``model.zip``, ``checkpoints/step_<N>.zip``) is one zip archive, written
atomically::

    meta.json               format and version, num_timesteps, n_updates, trainer state
                            (curriculum stage, reward-normalization statistics), the
                            optimizer's param groups, and which state-dict keys alias others
    policy.safetensors      the policy's state dict (embedder, policy and value heads)
    optimizer.safetensors   Adam's per-parameter state (resume only)

Why safetensors rather than ``torch.load(weights_only=True)``: a safetensors file is a JSON
header and raw bytes, so reading one cannot execute anything whatever the file holds, while
``weights_only`` is an allow-listing unpickler whose safety depends on its implementation (it
has had bypasses). The network itself is never in the file: it is rebuilt from the run's
``config.yaml`` by the same code that builds it for training.

Archives written by stable-baselines3's ``save`` (this project before the format existed) hold
``data`` (JSON with cloudpickled fields) and ``policy.pth``. They are read weights-only: the
pickled fields of ``data`` are never decoded and the ``.pth`` files go through
``torch.load(weights_only=True)``. What can only be read by unpickling (a ``.pth`` holding
objects, a ``.vecnorm.pkl``) is refused unless the caller passes ``unsafe_pickle=True``.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from agents.run.folder import RunError
from mazegen.files import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = "cheese-maze-checkpoint"
VERSION = 1
_META = "meta.json"
_POLICY = "policy.safetensors"
_OPTIMIZER = "optimizer.safetensors"
UNSAFE_HINT = "pass unsafe_pickle=true only if you trust whoever made the file"


@dataclass
class Checkpoint:
    """What a checkpoint file holds, as plain data and tensors.

    Attributes:
        policy: The policy's state dict (every key, aliases included).
        optimizer: The optimizer's state dict in torch's layout, or None.
        num_timesteps: Environment steps trained.
        n_updates: Gradient updates made (SB3's ``_n_updates``).
        trainer: Trainer state: ``curriculum_stage``, ``reward_norm`` (mean, var, count).
        legacy: Read from a stable-baselines3 archive.
    """

    policy: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    num_timesteps: int = 0
    n_updates: int = 0
    trainer: dict[str, Any] = field(default_factory=dict)
    legacy: bool = False


# ---- writing ---------------------------------------------------------------------------------


def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Unique tensors (contiguous, on the CPU) and ``{alias: key}`` for keys sharing storage.

    SB3 registers a shared features extractor under three names; safetensors refuses shared
    storage, and storing it once keeps the file small.
    """
    unique: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, int, tuple[int, ...]], str] = {}
    for key, t in state.items():
        ident = (t.untyped_storage().data_ptr(), int(t.storage_offset()), tuple(t.shape))
        if ident in seen:
            aliases[key] = seen[ident]
            continue
        seen[ident] = key
        unique[key] = t.detach().to("cpu").contiguous()
    return unique, aliases


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state dict -> (tensors ``state.<i>.<name>``, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, per_param in state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def checkpoint_bytes(
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    num_timesteps: int,
    n_updates: int,
    trainer: dict[str, Any] | None = None,
) -> bytes:
    """The checkpoint archive as bytes (see the module docstring for its layout)."""
    from safetensors.torch import save as st_save

    weights, aliases = _dedupe(policy.state_dict())
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "num_timesteps": int(num_timesteps),
        "n_updates": int(n_updates),
        "trainer": trainer or {},
        "aliases": aliases,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(_POLICY, st_save(weights))
        if optimizer is not None:
            tensors, rest = _flatten_optimizer(optimizer.state_dict())
            meta["optimizer"] = rest
            z.writestr(_OPTIMIZER, st_save(tensors))
        z.writestr(_META, json.dumps(meta, indent=2, sort_keys=True))
    return buf.getvalue()


def save_checkpoint(
    path: Path,
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    num_timesteps: int,
    n_updates: int,
    trainer: dict[str, Any] | None = None,
) -> None:
    """Writes a checkpoint atomically (a crash leaves the old file or none, never half a file)."""
    atomic_write_bytes(path, checkpoint_bytes(policy, optimizer, num_timesteps, n_updates, trainer))


# ---- reading ---------------------------------------------------------------------------------


def _open(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist")
    try:
        z = zipfile.ZipFile(path)
        bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise RunError(f"{path} is not a valid checkpoint archive ({e})") from None
    if bad is not None:
        z.close()
        raise RunError(f"{path} is corrupt ({bad} fails its checksum)")
    return z


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = t
    for idx, values in rest.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = [
        {k: (tuple(v) if k == "betas" and isinstance(v, list) else v) for k, v in g.items()}
        for g in rest["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def _read_native(z: zipfile.ZipFile, path: Path, with_optimizer: bool) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    try:
        meta = json.loads(z.read(_META))
    except ValueError:
        raise RunError(f"{path}: {_META} is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RunError(f"{path}: {_META} does not describe a {FORMAT}")
    if int(meta.get("version", -1)) > VERSION:
        raise RunError(
            f"{path} has checkpoint format version {meta.get('version')}; this code reads "
            f"up to {VERSION}: update cheese-maze"
        )
    try:
        policy = st_load(z.read(_POLICY))
        optimizer = None
        if with_optimizer and _OPTIMIZER in z.namelist() and "optimizer" in meta:
            optimizer = _unflatten_optimizer(st_load(z.read(_OPTIMIZER)), meta["optimizer"])
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        raise RunError(f"{path}: unreadable tensors ({type(e).__name__}: {e})") from None
    for alias, key in dict(meta.get("aliases", {})).items():
        if key not in policy:
            raise RunError(f"{path}: alias {alias} names a missing tensor {key}")
        policy[alias] = policy[key]
    trainer = meta.get("trainer", {})
    return Checkpoint(
        policy=policy,
        optimizer=optimizer,
        num_timesteps=int(meta.get("num_timesteps", 0)),
        n_updates=int(meta.get("n_updates", 0)),
        trainer=trainer if isinstance(trainer, dict) else {},
    )


def _torch_load(data: bytes, what: str, unsafe_pickle: bool) -> Any:
    import pickle

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, EOFError) as e:
        if not unsafe_pickle:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RunError(
                f"{what} holds more than tensors and can only be read by unpickling, which can "
                f"run code from the file ({first[:120]}); refused: {UNSAFE_HINT}"
            ) from None
    log.warning("unpickling %s (unsafe_pickle=true): it may run code", what)
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def _read_legacy(
    z: zipfile.ZipFile, path: Path, with_optimizer: bool, unsafe_pickle: bool
) -> Checkpoint:
    try:
        data = json.loads(z.read("data"))
    except ValueError:
        raise RunError(
            f"{path}: its 'data' entry is not valid JSON; the archive is corrupt"
        ) from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: its 'data' entry is not a JSON object; the archive is corrupt")
    policy = _torch_load(z.read("policy.pth"), f"{path}:policy.pth", unsafe_pickle)
    if not isinstance(policy, dict) or not all(
        isinstance(v, torch.Tensor) for v in policy.values()
    ):
        raise RunError(f"{path}:policy.pth is not a state dict of tensors")
    optimizer = None
    if with_optimizer and "policy.optimizer.pth" in z.namelist():
        optimizer = _torch_load(
            z.read("policy.optimizer.pth"), f"{path}:policy.optimizer.pth", unsafe_pickle
        )
    num = data.get("num_timesteps", 0)
    n_updates = data.get("_n_updates", 0)
    return Checkpoint(
        policy=policy,
        optimizer=optimizer,
        num_timesteps=num if isinstance(num, int) else 0,
        n_updates=n_updates if isinstance(n_updates, int) else 0,
        legacy=True,
    )


def read_checkpoint(
    path: Path, with_optimizer: bool = False, unsafe_pickle: bool = False
) -> Checkpoint:
    """Reads a checkpoint without running code from it (see the module docstring).

    Raises:
        RunError: The file is missing, corrupt, of an unknown kind, or can only be read by
            unpickling and ``unsafe_pickle`` is False.
    """
    with _open(path) as z:
        names = set(z.namelist())
        if _META in names and _POLICY in names:
            return _read_native(z, path, with_optimizer)
        if "data" in names and "policy.pth" in names:
            ckpt = _read_legacy(z, path, with_optimizer, unsafe_pickle)
            log.warning(
                "%s is a stable-baselines3 archive: read its weights only, its pickled "
                "fields ignored",
                path,
            )
            return ckpt
    raise RunError(
        f"{path} is not a checkpoint (no {_META} + {_POLICY}, nor SB3's data + policy.pth)"
    )


def read_legacy_vecnorm(path: Path, unsafe_pickle: bool) -> dict[str, Any]:
    """Reward-normalization statistics from an old ``step_<N>.vecnorm.pkl`` (a pickle)."""
    if not unsafe_pickle:
        raise RunError(
            f"{path} is a pickle (reward-normalization statistics of an older run) and can "
            f"only be read by unpickling; refused: {UNSAFE_HINT}"
        )
    import pickle

    log.warning("unpickling %s (unsafe_pickle=true): it may run code", path)
    stats = pickle.loads(path.read_bytes())
    rms = stats.ret_rms
    return {"mean": float(rms.mean), "var": float(rms.var), "count": float(rms.count)}


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` opens as a checkpoint archive of either kind (no tensors are read)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False
    return (_META in names and _POLICY in names) or ("data" in names and "policy.pth" in names)
