"""An L1 penalty on one layer's activations during PPO's updates, as a gradient hook.

The study's probe of what aligns the cheese's code with channels (README, "The study"): sparse
activations favour features that lie along the layer's basis. The penalty ``coef * mean|a|``
over the activations ``a`` at one hook point is not added to SB3's loss (which would mean
rewriting ``PPO.train``); instead the layer's output passes through an identity whose backward
adds ``coef * sign(a) / a.numel()``, the penalty's gradient, to the gradient flowing back. The
result is the gradient of ``loss + coef * mean|a|``, clipped and stepped with the rest.

It acts only where gradients are on: SB3 collects rollouts and the evaluations run under
``torch.no_grad``, so only the updates see it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from agents.settings.base import ConfigError


class _AddL1Grad(torch.autograd.Function):
    """Identity forward; backward adds the gradient of ``coef * mean|x|``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coef: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.coef = coef
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad + torch.sign(x).to(grad.dtype) * (ctx.coef / x.numel()), None


class ActivationL1:
    """Installs the penalty on ``embedder``'s module ``hook`` (a hook name of
    `agents.policy.hooked`, ``embedder.`` prefix included) and keeps the mean ``|a|`` of the
    last update's minibatches for logging.

    Raises:
        ConfigError: ``hook`` names no module of the network (one line listing close names).
    """

    def __init__(self, embedder: nn.Module, hook: str, coef: float) -> None:
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
        self.hook, self.coef = hook, float(coef)
        self._sum, self._count = 0.0, 0
        self._handle = modules[name].register_forward_hook(self._apply)

    def _apply(self, module: nn.Module, inputs: Any, out: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled():
            return None
        self._sum += float(out.detach().abs().mean())
        self._count += 1
        return _AddL1Grad.apply(out, self.coef)

    def pop_mean_abs(self) -> float | None:
        """Mean ``|a|`` over the minibatches since the last call (None: none ran)."""
        if not self._count:
            return None
        mean = self._sum / self._count
        self._sum, self._count = 0.0, 0
        return mean

    def remove(self) -> None:
        self._handle.remove()
