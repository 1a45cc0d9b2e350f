"""A random checkpoint in the 2023 format (Langosco et al.'s training code): a ``torch.save``
dict with the state dict under ``model_state_dict`` and the optimizer's beside it, with the key
names and shapes of the 2023 network. ``scale=4`` is the analysed network's width; ``scale=1``
(the same keys, a quarter of the channels) keeps tests fast.

The keys and shapes are written out here from the network's description (procgen-tools'
``InterpretableImpalaModel`` / train-procgen-pytorch's ``ImpalaModel``), not taken from the
loader, so a loader that expects other names fails on this file.
"""

from __future__ import annotations

from pathlib import Path

import torch


def state_2023(scale: int = 1, actions: int = 15, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict of the 2023 network at width ``scale`` with ``actions`` outputs."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    c_in = 3
    for i, c in enumerate((16 * scale, 32 * scale, 32 * scale), start=1):
        convs = [("conv", c_in)] + [(f"res{r}.conv{k}", c) for r in (1, 2) for k in (1, 2)]
        for name, k_in in convs:
            fan_in = k_in * 9
            w = torch.randn(c, k_in, 3, 3, generator=g) * (2.0 / fan_in) ** 0.5 * 0.5
            state[f"embedder.block{i}.{name}.weight"] = w
            state[f"embedder.block{i}.{name}.bias"] = torch.randn(c, generator=g) * 0.01
        c_in = c
    state["embedder.fc.weight"] = torch.randn(256, 32 * scale * 64, generator=g) * 0.01
    state["embedder.fc.bias"] = torch.zeros(256)
    state["fc_policy.weight"] = torch.randn(actions, 256, generator=g) * 0.1
    state["fc_policy.bias"] = torch.zeros(actions)
    state["fc_value.weight"] = torch.randn(1, 256, generator=g) * 0.1
    state["fc_value.bias"] = torch.zeros(1)
    return state


def write_2023(path: Path, scale: int = 1, actions: int = 15, seed: int = 0) -> Path:
    """Writes a checkpoint file as the 2023 training code saves one; returns ``path``."""
    state = state_2023(scale, actions, seed)
    optimizer = {"state": {}, "param_groups": [{"lr": 5e-4, "params": list(range(len(state)))}]}
    torch.save({"model_state_dict": state, "optimizer_state_dict": optimizer}, path)
    return path
