"""agents: torch policies for the cheese maze, in rooms that import downward only.

- `agents.settings`: every command's settings (the Hydra schemas).
- `agents.run`: the run folder and the checkpoint format.
- `agents.policy`: networks, the hooked network, loading, rollouts and metrics.
- `agents.train`: PPO training, checkpoints, resume, shipping.
- `agents.interp`: the analyses (divergence, vectors, channels, retargeting, ...).
- `agents.play`: the viewer and the recorder.
- `agents.benchmark`: speed figures; `agents.cli`: what every command line shares.

``from agents import load_policy, load_pretrained, LoadedPolicy, HookedMazeNet`` works; torch is
imported on first use, so a command line that fails its checks never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.policy.hooked import HookedMazeNet
    from agents.policy.loading import LoadedPolicy, load_policy, load_pretrained

__all__ = ["HookedMazeNet", "LoadedPolicy", "load_policy", "load_pretrained"]


def __getattr__(name: str) -> Any:
    if name == "HookedMazeNet":
        from agents.policy import hooked

        return hooked.HookedMazeNet
    if name in ("LoadedPolicy", "load_policy", "load_pretrained"):
        from agents.policy import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
