"""The sparse autoencoder (SAE) of one hooked layer: a dictionary shared across map positions,
each position's channel vector one sample, saved as safetensors beside its policy.

``x [N, C] -> f = TopK(ReLU(W_enc (x - b_dec) + b_enc)) [N, F] -> x_hat = f W_dec + b_dec``;
with ``k = 0`` the top-k is off and training puts an L1 penalty on ``f``. A *signed* SAE (sparse
coding as in Olshausen and Field's, not an SAE's usual ReLU) drops the ReLU and keeps the ``k``
pre-activations largest in size with their signs, so that a feature's value, and its change,
goes both ways along its direction. Each decoder row is a unit direction in channel space, so
a feature's value is the length it writes along it. Files: ``<run>/sae/<hook>.safetensors``,
for a shipped agent ``agents/pretrained/<name>/sae/`` (`sae_path`), read back by the policy's
name (`load_sae`) with its settings and quality figures in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.policy.errors import HookError
from agents.policy.loading import LoadedPolicy
from mazegen.files import atomic_write_bytes


class Sae(nn.Module):
    """A top-k (or L1) sparse autoencoder over ``channels``-vectors.

    Args:
        channels: C, the layer's channels.
        width: F, the features.
        k: Features kept per vector (0: all positive ones, for the L1 variant).
        signed: No ReLU: the ``k`` values largest in size kept with their signs (0: all).
    """

    def __init__(self, channels: int, width: int, k: int, signed: bool = False) -> None:
        super().__init__()
        self.k = int(k)
        self.signed = bool(signed)
        self.w_enc = nn.Parameter(torch.empty(channels, width))  # [C, F]
        self.b_enc = nn.Parameter(torch.zeros(width))
        self.w_dec = nn.Parameter(torch.empty(width, channels))  # [F, C], unit rows
        self.b_dec = nn.Parameter(torch.zeros(channels))
        nn.init.kaiming_uniform_(self.w_dec)
        self.normalize()
        with torch.no_grad():
            self.w_enc.copy_(self.w_dec.T)

    @property
    def width(self) -> int:
        return int(self.w_enc.shape[1])

    @torch.no_grad()
    def normalize(self) -> None:
        """Makes every decoder row a unit vector."""
        self.w_dec.div_(self.w_dec.norm(dim=1, keepdim=True).clamp(min=1e-8))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C] -> [N, F]`` feature activations (at most ``k`` nonzero a row)."""
        pre = (x - self.b_dec) @ self.w_enc + self.b_enc
        if not self.signed:
            pre = torch.relu(pre)
        if self.k <= 0 or self.k >= pre.shape[1]:
            return pre
        top = (pre.abs() if self.signed else pre).topk(self.k, dim=1).indices
        return torch.zeros_like(pre).scatter(1, top, pre.gather(1, top))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """``[N, F] -> [N, C]``."""
        return f @ self.w_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def encode_map(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, F, H, W]``: every position encoded."""
        b, c, h, w = x.shape
        f = self.encode(x.permute(0, 2, 3, 1).reshape(-1, c).float())
        return f.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def decode_map(self, f: torch.Tensor) -> torch.Tensor:
        """``[B, F, H, W] -> [B, C, H, W]``."""
        b, _, h, w = f.shape
        x = self.decode(f.permute(0, 2, 3, 1).reshape(b * h * w, -1))
        return x.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def to_vectors(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W] -> [B*H*W, C]``: each position's channel vector one sample."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def sae_path(policy: LoadedPolicy, hook: str, tag: str = "") -> Path:
    """Where the SAE of ``hook`` lives: in the run folder, or a shipped agent's own folder
    (``tag`` names a second one of the same layer)."""
    return policy.run / "sae" / (hook + (f"-{tag}" if tag else "") + ".safetensors")


def save_sae(sae: Sae, path: Path, info: dict[str, Any]) -> None:
    """Writes the weights and ``info`` (settings, quality; JSON in the metadata) atomically."""
    from safetensors.torch import save

    tensors = {n: p.detach().contiguous().cpu() for n, p in sae.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors, metadata={"info": json.dumps(info)}))


def read_sae(path: Path) -> tuple[Sae, dict[str, Any]]:
    """The SAE at ``path`` and its info (weights only: nothing in the file is executed)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        info = json.loads((f.metadata() or {}).get("info", "{}"))
        tensors = {n: f.get_tensor(n) for n in f.keys()}  # noqa: SIM118
    channels, width = tensors["w_enc"].shape
    sae = Sae(int(channels), int(width), int(info.get("k", 0)), bool(info.get("signed", False)))
    sae.load_state_dict(tensors)
    return sae.eval(), info


def load_sae(policy: LoadedPolicy, hook: str, tag: str = "") -> tuple[Sae, dict[str, Any]]:
    """The policy's SAE at ``hook``; a one-line error naming the command that trains one."""
    path = sae_path(policy, hook, tag)
    if not path.is_file():
        raise HookError(f"no SAE at {path.name} for {policy.label}; {train_command(policy, hook)}")
    return read_sae(path)


def train_command(policy: LoadedPolicy, hook: str) -> str:
    """The command that trains the policy's SAE at ``hook``."""
    run = policy.run.name if policy.shipped else str(policy.run)
    return f"train one with: python -m experiments.sae train run={run} hook={hook}"


def measured_path(policy: LoadedPolicy, hook: str, tag: str = "", kind: str = "retarget") -> Path:
    """Where a measurement keeps its result beside the SAE: ``retarget-features``' (read by
    the study) ``<hook>[-<tag>].retarget.json``; ``follow-map``'s (its map in it) ``kind``
    ``follow-map``."""
    path = sae_path(policy, hook, tag)
    return path.with_name(path.name.replace(".safetensors", f".{kind}.json"))
