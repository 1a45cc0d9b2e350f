"""Sparsity penalties on one layer's activations during PPO's updates, as a gradient hook.

The study's probes of what aligns the cheese's code with channels and with positions (README,
"The study"). Two penalties on the activations ``a`` ``[batch, channel, y, x]`` at one hook point:

- **L1** ``l1 * mean|a|``: sparse entries, which favour features along the layer's basis;
- **group over positions** ``group * mean_{batch, y, x} ||a[:, :, y, x]||_2``: each position's
  channel vector is a group (the group lasso), so whole positions go quiet and what the layer
  still says sits at few squares: a pressure to localize the code.

They are not added to SB3's loss (which would mean rewriting ``PPO.train``); instead the layer's
output passes through an identity whose backward adds the penalties' gradient to the gradient
flowing back. The result is the gradient of ``loss + penalties``, clipped and stepped with the rest.

They act only where gradients are on: SB3 collects rollouts and the evaluations run under
``torch.no_grad``, so only the updates see them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from agents.settings.base import ConfigError

# Keeps the group penalty's gradient finite at a silent position (its subgradient there is 0).
_EPS = 1e-8


def penalty_grad(x: torch.Tensor, l1: float, group: float) -> torch.Tensor:
    """The gradient of ``l1 * mean|x| + group * mean ||x[:, :, ...]||_2`` (norm over dim 1)."""
    out = torch.sign(x) * (l1 / x.numel())
    if group:
        norm = x.norm(dim=1, keepdim=True)  # [batch, 1, ...]
        positions = x.numel() // x.shape[1]
        out = out + x / norm.clamp_min(_EPS) * (group / positions)
    return out


class _AddPenaltyGrad(torch.autograd.Function):
    """Identity forward; backward adds `penalty_grad`."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, l1: float, group: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.l1, ctx.group = l1, group
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad + penalty_grad(x, ctx.l1, ctx.group).to(grad.dtype), None, None


class ActivationPenalty:
    """Installs the penalties on ``embedder``'s module ``hook`` (a hook name of
    `agents.policy.hooked`, ``embedder.`` prefix included) and keeps, for logging, the mean
    ``|a|`` and the mean position norm of the last update's minibatches.

    Raises:
        ConfigError: ``hook`` names no module of the network (one line listing close names).
    """

    def __init__(self, embedder: nn.Module, hook: str, l1: float, group: float = 0.0) -> None:
        modules = dict(embedder.named_modules())
        name = hook.removeprefix("embedder.")
        if not name or name not in modules:
            import difflib

            close = difflib.get_close_matches(name, [m for m in modules if m], n=3)
            names = ", ".join(f"embedder.{c}" for c in close)
            hint = f"; did you mean {names}?" if close else ""
            raise ConfigError(
                f"agent.ppo.activation_l1_hook: no layer {hook!r} in the network{hint}"
            )
        self.hook, self.l1, self.group = hook, float(l1), float(group)
        self._abs, self._norm, self._count = 0.0, 0.0, 0
        self._handle = modules[name].register_forward_hook(self._apply)

    def _apply(self, module: nn.Module, inputs: Any, out: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled():
            return None
        a = out.detach()
        self._abs += float(a.abs().mean())
        self._norm += float(a.norm(dim=1).mean()) if a.dim() > 1 else float(a.abs().mean())
        self._count += 1
        return _AddPenaltyGrad.apply(out, self.l1, self.group)

    def pop_means(self) -> tuple[float, float] | None:
        """Mean ``|a|`` and mean position norm over the minibatches since the last call
        (None: none ran)."""
        if not self._count:
            return None
        means = self._abs / self._count, self._norm / self._count
        self._abs, self._norm, self._count = 0.0, 0.0, 0
        return means

    def remove(self) -> None:
        self._handle.remove()
