"""Training: PPO on the batched maze (stable-baselines3), held-out evaluation, checkpoints,
resume, the curriculum, the compute setup, and shipping a finished run."""
