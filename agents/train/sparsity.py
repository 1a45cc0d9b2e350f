"""Penalties on one layer's activations during PPO's updates, as a gradient hook.

The study's probes of what aligns the cheese's code with channels and with positions (README,
"The study"). Penalties on the activations ``a`` ``[batch, channel, y, x]`` at one hook point:

- **L1** ``l1 * mean|a|``: sparse entries, which favour features along the layer's basis;
- **group over positions** ``group * mean_{batch, y, x} ||a[:, :, y, x]||_2``: each position's
  channel vector is a group (the group lasso), so whole positions go quiet and what the layer
  still says sits at few squares: a pressure to localize the code;
- **spread of the cheese's effect** (`agents.train.locality`): what the cheese changes in the
  layer, penalized at positions away from the cheese: a pressure to hold the cheese's code at
  the cheese.

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
from agents.train import locality

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


class _AddGrad(torch.autograd.Function):
    """Identity on ``x``; backward adds ``extra`` (computed in the forward pass) to ``x``'s
    gradient and, when given, sends ``other_grad`` to ``other`` (the same layer in the run
    without cheese, whose graph the spread penalty's gradient must reach too)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        extra: torch.Tensor,
        other: torch.Tensor | None = None,
        other_grad: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ctx.save_for_backward(extra, other_grad)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        extra, other_grad = ctx.saved_tensors
        to_other = None if other_grad is None else other_grad.to(grad.dtype)
        return grad + extra.to(grad.dtype), None, to_other, None


class _Reached(Exception):
    """Ends the run without cheese at the hooked layer (the rest of the network is not needed)."""

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = out


class ActivationPenalty:
    """Installs the penalties on ``embedder``'s module ``hook`` (a hook name of
    `agents.policy.hooked`, ``embedder.`` prefix included) and keeps, for logging, the means of
    the last update's minibatches (`pop_means`).

    ``spread`` > 0 adds the penalty of `agents.train.locality` on how far the cheese's effect on
    the layer reaches beyond ``radius`` map positions of the cheese (grid observations only); it
    runs ``embedder`` once more per minibatch, up to the layer, without gradients.

    Raises:
        ConfigError: ``hook`` names no module of the network (one line listing close names).
    """

    def __init__(
        self,
        embedder: nn.Module,
        hook: str,
        l1: float,
        group: float = 0.0,
        spread: float = 0.0,
        radius: int = 0,
    ) -> None:
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
        self.spread, self.radius = float(spread), int(radius)
        self._embedder = embedder
        self._obs: torch.Tensor | None = None  # the input of the forward pass under way
        self._inner = False  # True during the run without cheese
        self._sums: dict[str, float] = {}
        self._count = 0
        self._handles = [modules[name].register_forward_hook(self._apply)]
        if self.spread:
            self._handles.append(embedder.register_forward_pre_hook(self._keep_obs))

    def _keep_obs(self, module: nn.Module, inputs: Any) -> None:
        if not self._inner:
            self._obs = inputs[0] if torch.is_grad_enabled() else None

    def _without_cheese(self, obs: torch.Tensor) -> torch.Tensor:
        """The layer's activations for ``obs`` with the cheese taken out (with their graph)."""
        self._inner = True
        try:
            self._embedder(locality.without_cheese(obs))
        except _Reached as reached:
            return reached.out
        finally:
            self._inner = False
        raise RuntimeError(f"{self.hook} did not run in the embedder's forward pass")

    def _apply(self, module: nn.Module, inputs: Any, out: torch.Tensor) -> torch.Tensor | None:
        if self._inner:
            raise _Reached(out)
        if not torch.is_grad_enabled():
            return None
        a = out.detach()
        stats = {
            "activation_abs_mean": float(a.abs().mean()),
            "activation_position_norm": float(a.norm(dim=1).mean())
            if a.dim() > 1
            else float(a.abs().mean()),
        }
        extra = penalty_grad(a, self.l1, self.group)
        other = other_grad = None
        if self.spread and self._obs is not None:
            other = self._without_cheese(self._obs)
            delta = a - other.detach()  # [batch, C, h, w]
            cells = locality.cheese_cells(self._obs, tuple(a.shape[-2:]))
            far = locality.far_mask(cells, tuple(a.shape[-2:]), self.radius)
            spread = locality.spread_grad(delta, far, self.spread)
            # The penalty is a function of a - a_without: + on the run with cheese, - without.
            extra, other_grad = extra + spread, -spread
            stats["cheese_move_far_share"] = locality.far_share(delta, far)
        for key, value in stats.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        self._count += 1
        return _AddGrad.apply(out, extra, other, other_grad)

    def pop_means(self) -> dict[str, float]:
        """The means of the logged quantities over the minibatches since the last call (empty:
        none ran): ``activation_abs_mean``, ``activation_position_norm`` and, with ``spread``,
        ``cheese_move_far_share`` (the share of the cheese's squared change beyond ``radius``)."""
        means = {k: v / self._count for k, v in self._sums.items()} if self._count else {}
        self._sums, self._count = {}, 0
        return means

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
