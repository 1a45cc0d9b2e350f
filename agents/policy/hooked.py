"""The one hooked network: the policy with named hook points, to read and patch activations.

`HookedMazeNet` is built once from a policy (`HookedMazeNet.of`; `LoadedPolicy.net` holds it)
and shares the policy's modules, so hooks act on the agent itself. Every consumer (evaluation,
training's callbacks, the analyses, the viewer, the benchmark) runs this network. Its hook
points, the table of names -> modules, are found and validated once, when it is built.

Hook names are the dotted module names of `agents.policy.networks`; shapes are per observation
(no batch dimension), for an IMPALA network with blocks of ``c1, c2, c3`` channels on an
observation ``[C, H, W]`` (``hi, wi``: the resolution after block i, halved where it pools):

=====================================================  ======================================
hook                                                   shape
=====================================================  ======================================
``embedder.scale_in``                                  ``[C, H, W]`` (the observation in [0, 1])
``embedder.block{i}.conv``                             ``[ci, h(i-1), w(i-1)]``
``embedder.block{i}.maxpool_out``                      ``[ci, hi, wi]``
``embedder.block{i}.res{j}.{relu1_out, conv1, relu2_out, conv2, resadd_out}``  ``[ci, hi, wi]``
``embedder.relu3_out``                                 ``[c3, h3, w3]``
``embedder.flatten``                                   ``[c3 * h3 * w3]``
``embedder.fc``, ``embedder.relufc_out``               ``[256]``
``fc_policy``                                          ``[A]`` (logits of the A actions)
``fc_value``                                           ``[1]``
=====================================================  ======================================

procgen-tools (the 2023 tooling) names every module's output ``<module>_out``: its names for the
modules that are not already called so (``embedder.block1.conv_out``, ``...res1.conv1_out``,
``embedder.flatten_out``, ``embedder.fc_out``, ``fc_policy_out``, ``fc_value_out``) are
accepted too, as aliases of the hooks above (`HookedMazeNet.aliases`).

The small network has ``embedder.conv{k}`` and ``embedder.relu{k}_out`` (k = 1..4),
``[channels, W, W]``, then ``flatten``, ``fc``, ``relufc_out``. `HookedMazeNet.shapes` lists the
actual names and shapes of a network; ``python -m experiments.patch hooks`` prints them.

Patches are ``{hook name: fn}`` with ``fn(activation [B, ...]) -> activation``; a list of
functions at one hook is applied left to right (``[f, g]`` computes ``g(f(x))``). Cached
activations are taken after the patches at their hook. `HookedMazeNet.hooks` installs them for
the duration of a ``with`` block and always removes them, even when the block raises.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from agents.policy.errors import HookError
from agents.policy.networks import MazeNet

PatchFn = Callable[[torch.Tensor], torch.Tensor]
Patches = Mapping[str, PatchFn | Sequence[PatchFn]]

#: The layer analysed by default on IMPALA networks: the one the 2023 work hooks.
IMPALA_HOOK = "embedder.block2.res1.resadd_out"
__all__ = ["IMPALA_HOOK", "SMALL_HOOK", "HookError", "HookedMazeNet", "PatchFn", "Patches"]

#: ... and on the small network: its second ReLU (where its cheese vector works best).
SMALL_HOOK = "embedder.relu2_out"


class HookedMazeNet(MazeNet):
    """``obs [B, C, H, W] -> (logits [B, A], value [B])`` with named hook points.

    Args:
        embedder: The feature network (`agents.policy.networks`).
        fc_policy: The policy head (features -> logits).
        fc_value: The value head (features -> value).
        obs_shape: ``[C, H, W]`` of one observation (for `shapes`).
    """

    def __init__(
        self,
        embedder: nn.Module,
        fc_policy: nn.Module,
        fc_value: nn.Module,
        obs_shape: tuple[int, ...],
    ) -> None:
        super().__init__(embedder, fc_policy, fc_value)
        self.obs_shape = tuple(int(x) for x in obs_shape)
        # leaves and the residual Add modules, not containers: the points a hook can sit on
        self.hook_points: dict[str, nn.Module] = {
            name: m for name, m in self.named_modules() if name and not list(m.children())
        }
        #: procgen-tools' ``<module>_out`` names of the hook points not named so already
        self.aliases: dict[str, str] = {
            f"{name}_out": name
            for name in self.hook_points
            if not name.endswith("_out") and name != "embedder.scale_in"
        }
        self._shapes: dict[str, tuple[int, ...]] | None = None

    @classmethod
    def of(cls, policy: Any) -> HookedMazeNet:
        """The hooked network of a stable-baselines3 policy built by `agents.policy.sb3`,
        sharing its modules (in eval mode)."""
        extractor = policy.features_extractor
        shape = tuple(policy.observation_space.shape)
        return cls(extractor.embedder, policy.action_net, policy.value_net, shape).eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def default_hook(self) -> str:
        """The layer analyses read and patch unless told otherwise."""
        return IMPALA_HOOK if IMPALA_HOOK in self.hook_points else SMALL_HOOK

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``{hook name: activation shape without the batch dimension}`` (measured once)."""
        if self._shapes is None:
            shapes: dict[str, tuple[int, ...]] = {}

            def record(name: str) -> PatchFn:
                def keep(x: torch.Tensor) -> torch.Tensor:
                    shapes[name] = tuple(x.shape[1:])
                    return x

                return keep

            obs = torch.zeros((1, *self.obs_shape), device=self.device)
            with torch.no_grad(), self.hooks(patches={n: record(n) for n in self.hook_points}):
                self(obs)
            self._shapes = shapes
        return dict(self._shapes)

    def resolve(self, hook: str | None) -> str:
        """``hook`` checked (an alias resolved to its hook point), or the default layer when it
        is None."""
        name = hook or self.default_hook
        self.check([name])
        return self.aliases.get(name, name)

    def check(self, names: Iterable[str]) -> None:
        """Raises `HookError` for a name that is not a hook point, listing close matches."""
        for name in names:
            if name not in self.hook_points and name not in self.aliases:
                known = [*self.hook_points, *self.aliases]
                close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
                hint = (
                    f"; did you mean {', '.join(close)}?"
                    if close
                    else f"; hook names look like {next(iter(self.hook_points))}"
                )
                raise HookError(f"unknown hook {name!r}{hint}")

    @contextlib.contextmanager
    def hooks(
        self, cache: Iterable[str] = (), patches: Patches | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Caches and/or patches activations while the block runs.

        Args:
            cache: Hook names whose outputs to keep (detached) in the yielded dict.
            patches: ``{hook name: fn or [fn, ...]}`` applied to the module outputs.

        Yields:
            The cache: ``{hook name: activation [B, ...]}``, filled as the network runs.
        """
        cache = list(cache)
        patches = dict(patches or {})
        self.check([*cache, *patches])
        store: dict[str, torch.Tensor] = {}
        handles = []
        try:
            for name in dict.fromkeys([*patches, *cache]):
                given = patches.get(name, ())
                fns: list[PatchFn] = (
                    list(given) if isinstance(given, (list, tuple)) else [given]  # type: ignore[list-item]
                )
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

                module = self.hook_points[self.aliases.get(name, name)]
                handles.append(module.register_forward_hook(hook))
            yield store
        finally:
            for h in handles:
                h.remove()

    def run_with_cache(
        self, obs: torch.Tensor, names: Iterable[str] = (), patches: Patches | None = None
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
        """One forward pass without gradients: ``((logits [B, A], value [B]), {name:
        activation [B, ...]})``; every hook point is cached when ``names`` is empty."""
        names = list(names) or list(self.hook_points)
        with torch.no_grad(), self.hooks(cache=names, patches=patches) as cache:
            out = self(torch.as_tensor(obs, device=self.device))
        return out, cache
