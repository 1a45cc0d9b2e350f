"""agents: torch policies for the cheese maze, in rooms that import downward only.

- `agents.settings`: every command's settings (the Hydra schemas).
- `agents.run`: the run folder and the checkpoint format.
- `agents.policy`: networks, the hooked network, loading, rollouts and metrics.
- `agents.train`: PPO training, checkpoints, resume, shipping.
- `agents.interp`: the analyses (divergence, vectors, channels, retargeting, ...).
- `agents.play`: the viewer and the recorder.
- `agents.benchmark`: speed figures; `agents.cli`: what every command line shares.
"""

from agents.policy.hooked import HookedMazeNet
from agents.policy.loading import LoadedPolicy, load_policy, load_pretrained

__all__ = ["HookedMazeNet", "LoadedPolicy", "load_policy", "load_pretrained"]
