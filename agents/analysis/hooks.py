"""Hook points of a network: list them with their shapes, cache and patch activations.

Hook names are the dotted module names of `agents.networks` (e.g.
``embedder.block2.res1.resadd_out``). `hooks` installs forward hooks for the duration of a
``with`` block and always removes them, even when the block raises. Patches are given as
``{hook_name: fn}`` where ``fn(activation [B, ...]) -> activation``; a list of functions at one
hook is applied left to right (``[f, g]`` computes ``g(f(x))``). Cached activations are taken
after the patches at that hook.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

PatchFn = Callable[[torch.Tensor], torch.Tensor]
Patches = Mapping[str, PatchFn | Sequence[PatchFn]]


class HookError(ValueError):
    """An unknown hook name or a patch that does not fit its activation."""


def hook_modules(net: nn.Module) -> dict[str, nn.Module]:
    """Every hookable module by name: leaves and the residual ``Add`` modules (no containers)."""
    return {name: m for name, m in net.named_modules() if name and (not list(m.children()))}


def hook_shapes(net: nn.Module, obs: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """``{hook name: activation shape without the batch dimension}`` for one observation batch."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, module in hook_modules(net).items():

        def record(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
            shapes[name] = tuple(out.shape[1:])

        handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            net(obs)
    finally:
        for h in handles:
            h.remove()
    return shapes


def check_names(net: nn.Module, names: Iterable[str]) -> None:
    """Raises `HookError` for a name that is not a hook point, listing close matches."""
    known = hook_modules(net)
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = (
                f"; did you mean {', '.join(close)}?"
                if close
                else f"; hook names look like {next(iter(known))}"
            )
            raise HookError(f"unknown hook {name!r}{hint}")


@contextlib.contextmanager
def hooks(
    net: nn.Module, cache: Iterable[str] = (), patches: Patches | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """Caches and/or patches activations while the block runs.

    Args:
        net: The network (e.g. `agents.networks.MazeNet`).
        cache: Hook names whose outputs to keep (detached) in the yielded dict.
        patches: ``{hook name: fn or [fn, ...]}`` applied to the module outputs.

    Yields:
        The cache: ``{hook name: activation [B, ...]}``, filled as the network runs.
    """
    cache = list(cache)
    patches = dict(patches or {})
    check_names(net, [*cache, *patches])
    modules = hook_modules(net)
    store: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in dict.fromkeys([*patches, *cache]):
            given = patches.get(name, ())
            fns: list[PatchFn] = list(given) if isinstance(given, (list, tuple)) else [given]  # type: ignore[list-item]
            keep = name in cache

            def hook(
                _m: nn.Module,
                _i: object,
                out: torch.Tensor,
                name: str = name,
                fns: list[PatchFn] = fns,
                keep: bool = keep,
            ) -> torch.Tensor:
                for fn in fns:
                    out = fn(out)
                if keep:
                    store[name] = out.detach()
                return out

            handles.append(modules[name].register_forward_hook(hook))
        yield store
    finally:
        for h in handles:
            h.remove()


def run_with_cache(
    net: nn.Module, obs: torch.Tensor, names: Iterable[str], patches: Patches | None = None
) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    """One forward pass: ``((logits, value), {name: activation})``."""
    with torch.no_grad(), hooks(net, cache=names, patches=patches) as cache:
        out = net(obs)
    return out, cache


def run_hooks(ctx: Any) -> Any:
    """The ``hooks`` analysis: every hook name with its activation shape."""
    from agents.analysis.context import Report

    obs = torch.zeros((1, *ctx.policy.model.observation_space.shape))
    shapes = {k: list(v) for k, v in hook_shapes(ctx.net, obs).items()}
    return Report({"hooks": shapes}, [f"- `{k}`: {v}" for k, v in shapes.items()])
