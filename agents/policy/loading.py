"""A policy from a run folder, a checkpoint or a shipped name, without running code from a file.

The network is rebuilt from the run's ``config.yaml`` by the code that builds it for training,
and only its weights come from the checkpoint (`agents.run.checkpoint`: safetensors, or an old
stable-baselines3 archive read weights-only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from agents.policy.hooked import HookedMazeNet
from agents.policy.langosco import (
    config_2023,
    environment_record,
    map_state,
    read_state,
)
from agents.policy.sb3 import PolicyModel, build_policy
from agents.run.checkpoint import Checkpoint, read_checkpoint
from agents.run.folder import PRETRAINED, RunError, is_torch_file, read_config, resolve
from agents.settings.pth import PthConfig
from agents.settings.train import TrainConfig


@dataclass
class LoadedPolicy:
    """A trained policy with the config it was trained under.

    Attributes:
        model: The policy as stable-baselines3 holds it (``model.policy``).
        net: Its hooked network (`HookedMazeNet`, sharing the policy's modules): what every
            analysis, the evaluation and the viewer run.
        config: The run's training config.
        source: The checkpoint file the weights came from.
        run: The run folder (for a shipped policy, its folder in ``agents/pretrained/``).
        steps: Environment steps it was trained for.
        bare: A bare 2023 checkpoint (`agents.policy.langosco`): its environment came from the
            command's ``pth`` settings, and its reports go to ``outputs/<kind>/<file name>``.
    """

    model: PolicyModel
    net: HookedMazeNet
    config: TrainConfig
    source: Path
    run: Path
    steps: int = 0
    bare: bool = False

    @property
    def shipped(self) -> bool:
        """Whether this is a shipped policy (its run folder is in ``agents/pretrained/``)."""
        return self.run.resolve().parent == PRETRAINED.resolve()

    def report_dir(self, kind: str, *parts: str) -> Path:
        """Where a command writes its report on this policy: ``<run>/<kind>/<parts>``, or for
        a shipped policy (whose folder is part of the package) ``outputs/<kind>/<name>/<parts>``.
        """
        if self.shipped:
            return Path("outputs", kind, self.run.name, *parts)
        if self.bare:
            return Path("outputs", kind, self.source.stem, *parts)
        return self.run.joinpath(kind, *parts)

    @property
    def label(self) -> str:
        """How reports name the policy: a shipped one by its name, others by the checkpoint's
        path relative to the working folder where it lies below it (no machine's layout in a
        report that is shared)."""
        if self.shipped:
            return f"shipped policy {self.run.name!r}"
        try:
            return str(self.source.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(self.source)

    @property
    def provenance(self) -> dict[str, Any]:
        """What a report records of the policy: its label, and for a bare 2023 checkpoint the
        environment it ran in (which no config file beside it records)."""
        out: dict[str, Any] = {"source": self.label}
        if self.bare:
            out["environment_2023"] = environment_record(self.config)
        return out


def load_weights(policy: torch.nn.Module, ckpt: Checkpoint, where: Path, run: Path) -> None:
    """Copies a checkpoint's weights into ``policy``; a mismatch is a one-line `RunError`."""
    own = policy.state_dict()
    missing = sorted(set(own) - set(ckpt.policy))
    extra = sorted(set(ckpt.policy) - set(own))
    wrong = sorted(k for k in set(own) & set(ckpt.policy) if own[k].shape != ckpt.policy[k].shape)
    if missing or extra or wrong:
        detail = (
            f"shape of {wrong[0]} {tuple(ckpt.policy[wrong[0]].shape)} vs "
            f"{tuple(own[wrong[0]].shape)}"
            if wrong
            else f"missing {missing[:1]}, unexpected {extra[:1]}"
        )
        raise RunError(
            f"{where} does not fit the network of {run / 'config.yaml'} ({detail}); pair the "
            "checkpoint with the run it came from"
        )
    policy.load_state_dict(ckpt.policy)


def load_policy(
    path: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    unsafe_pickle: bool = False,
    pth: PthConfig | None = None,
) -> LoadedPolicy:
    """Loads a policy from a run folder, a checkpoint, a shipped name, a 2023 checkpoint
    (`agents.policy.langosco`), or (None) the default shipped policy.

    Args:
        path: What to load (see `agents.run.folder.resolve`).
        device: Torch device of the network.
        unsafe_pickle: Also read old files that only unpickling can read (this runs code
            from the file: only for files you trust).
        pth: The environment of a bare 2023 checkpoint (default: hard, 5 x 5 region).
    """
    if is_torch_file(path):
        return load_2023(Path(str(path)).expanduser(), device, unsafe_pickle, pth or PthConfig())
    run, model_file = resolve(path)
    cfg = read_config(run)
    ckpt = read_checkpoint(model_file, unsafe_pickle=unsafe_pickle)
    model = build_policy(cfg, device)
    load_weights(model.policy, ckpt, model_file, run)
    net = HookedMazeNet.of(model.policy)
    return LoadedPolicy(model, net, cfg, model_file, run, int(ckpt.num_timesteps))


def load_2023(path: Path, device: str, unsafe_pickle: bool, pth: PthConfig) -> LoadedPolicy:
    """A bare 2023 checkpoint as a policy of this project, in the environment of ``pth``."""
    state = read_state(path, unsafe_pickle=unsafe_pickle)
    cfg = config_2023(state, pth, path.stem)
    model = build_policy(cfg, device)
    model.policy.load_state_dict(map_state(model.policy.state_dict(), state))
    net = HookedMazeNet.of(model.policy)
    return LoadedPolicy(model, net, cfg, path, path.parent, 0, bare=True)


def load_pretrained(name: str | None = None, device: str = "cpu") -> LoadedPolicy:
    """A shipped policy by name (`agents.run.folder.pretrained_names`; default ``quick``)."""
    return load_policy(None if name is None else f"pretrained:{name}", device=device)
