"""agents: torch policies for the cheese maze — networks with named hooks, PPO training glue,
run folders and checkpoints, and the analyses (divergence metrics, hooks, patches, steering)."""

from agents.loading import LoadedPolicy, load_policy, load_pretrained

__all__ = ["LoadedPolicy", "load_policy", "load_pretrained"]
