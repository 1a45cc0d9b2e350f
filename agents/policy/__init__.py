"""A trained policy and how to run it: the networks, the one hooked network, loading a run,
the batched rollout with its sampler, and the behavioural metrics."""
