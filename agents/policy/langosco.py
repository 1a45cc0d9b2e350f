"""The 2023 checkpoints: Langosco et al.'s training code's files, read weights-only.

The file (e.g. ``model_rand_region_5.pth`` of the ``maze_I`` set) is a ``torch.save`` dict with
the weights under ``model_state_dict`` (and the optimizer's state beside them, unused). Its
network is train-procgen-pytorch's IMPALA model as procgen-tools rebuilds it: three blocks
``embedder.block{1,2,3}`` (``conv`` 3x3 -> max-pool 3/2/1 -> ``res1``, ``res2``, each relu ->
``conv1`` -> relu -> ``conv2`` -> add), relu, flatten (channel-major), ``embedder.fc`` (c3 * 8 * 8
-> 256), relu; heads ``fc_policy`` (256 -> 15 logits; the policy is their softmax) and
``fc_value`` (256 -> 1). The input is the RGB frame over 255, channels first. The width is
read from the file (``embedder.block1.conv.weight``: 16 x scale channels; ``maze_I``: scale 4).

These are this project's module names already (`agents.policy.networks`), so the weights map
one to one: ``embedder.*`` onto the features extractor, ``fc_policy`` onto the action head,
``fc_value`` onto the value head. `torch.load` runs with ``weights_only=True``: a file that
holds anything but tensors and plain containers is refused, and nothing in it runs.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from agents.run.folder import RunError
from agents.settings.pth import PthConfig, env_settings
from agents.settings.train import AgentConfig, EvalConfig, NetworkConfig, TrainConfig
from mazegen import MazeConfig
from mazegen.levels import held_out_start

#: Actions of procgen's ``maze`` (the policy head's outputs).
ACTIONS = 15
#: Features of the fc layer.
FC = 256
#: Input channels (RGB) and side (64 x 64 pixels, 8 x 8 after three poolings).
IN_CHANNELS, SIDE, POOLED = 3, 64, 8
_BLOCK = ("conv", "res1.conv1", "res1.conv2", "res2.conv1", "res2.conv2")


def expected_shapes(scale: int) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the 2023 network's state dict at width ``scale`` (4 in ``maze_I``)."""
    widths = (16 * scale, 32 * scale, 32 * scale)
    shapes: dict[str, tuple[int, ...]] = {}
    c_in = IN_CHANNELS
    for i, c in enumerate(widths, start=1):
        for conv in _BLOCK:
            k_in = c_in if conv == "conv" else c
            shapes[f"embedder.block{i}.{conv}.weight"] = (c, k_in, 3, 3)
            shapes[f"embedder.block{i}.{conv}.bias"] = (c,)
        c_in = c
    shapes["embedder.fc.weight"] = (FC, widths[2] * POOLED * POOLED)
    shapes["embedder.fc.bias"] = (FC,)
    shapes["fc_policy.weight"] = (ACTIONS, FC)
    shapes["fc_policy.bias"] = (ACTIONS,)
    shapes["fc_value.weight"] = (1, FC)
    shapes["fc_value.bias"] = (1,)
    return shapes


def read_state(path: Path, unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of a 2023 checkpoint, read weights-only and checked against the 2023
    network's keys and shapes. Raises `RunError` (one line) naming what does not match."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise RunError(
            f"{path}: refused by weights-only loading (it holds more than tensors: {first}); "
            "pass unsafe_pickle=true only if you trust whoever made the file"
        ) from None
    except (OSError, RuntimeError, EOFError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise RunError(f"{path} is not a readable torch file ({first})") from None
    state = obj.get("model_state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunError(
            f"{path} holds no state dict under 'model_state_dict' (a 2023 checkpoint is a "
            "torch.save dict with the weights there)"
        )
    check_state(state, path)
    return state


def check_state(state: dict[str, torch.Tensor], path: Path) -> None:
    """Raises `RunError` (one line) unless ``state`` has the 2023 network's keys and shapes."""
    first = state.get("embedder.block1.conv.weight")
    if first is None or first.ndim != 4 or first.shape[0] % 16 or first.shape[0] == 0:
        found = None if first is None else tuple(first.shape)
        raise RunError(
            f"{path} is not a 2023 IMPALA checkpoint: embedder.block1.conv.weight expected "
            f"(16 x scale, 3, 3, 3), found {found}"
        )
    want = expected_shapes(first.shape[0] // 16)
    for key, shape in want.items():
        if key not in state:
            raise RunError(f"{path} does not fit the 2023 network: {key} is missing ({shape})")
        if tuple(state[key].shape) != shape:
            raise RunError(
                f"{path} does not fit the 2023 network: {key} expected {shape}, found "
                f"{tuple(state[key].shape)}"
            )
    extra = sorted(set(state) - set(want))
    if extra:
        raise RunError(f"{path} does not fit the 2023 network: unexpected key {extra[0]}")


def config_2023(state: dict[str, torch.Tensor], pth: PthConfig, name: str) -> TrainConfig:
    """The `TrainConfig` a 2023 checkpoint runs under: its network (widths from the file) in
    the environment of ``pth``."""
    c1 = int(state["embedder.block1.conv.weight"].shape[0])
    network = NetworkConfig(kind="impala", scale=c1 // 16, fc=FC, widths=[c1, 2 * c1, 2 * c1])
    env = MazeConfig(**env_settings(pth))
    return TrainConfig(
        env=env,
        agent=AgentConfig(network=network),
        eval=EvalConfig(start_level=held_out_start(env.procgen)),  # procgen's held-out range
        name=name,
    )


def map_state(own: dict[str, Any], state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The file's weights under the stable-baselines3 policy's keys (``own``)."""
    heads = {"action_net.": "fc_policy.", "value_net.": "fc_value."}
    mapped = {}
    for key in own:
        src = key
        for prefix in ("features_extractor.", "pi_features_extractor.", "vf_features_extractor."):
            if key.startswith(prefix):
                src = key.removeprefix(prefix)
        for ours, theirs in heads.items():
            if key.startswith(ours):
                src = theirs + key.removeprefix(ours)
        if src not in state:
            raise RunError(f"the 2023 file has no weights for {key} ({src})")
        mapped[key] = state[src]
    return mapped


def environment_record(cfg: TrainConfig) -> dict[str, Any]:
    """What a report records of the environment a bare 2023 checkpoint ran in."""
    from dataclasses import asdict

    return asdict(cfg.env)
