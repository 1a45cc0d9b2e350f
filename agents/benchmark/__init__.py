"""Speed figures (``python -m experiments.benchmark``): the CPU's peak, the environment beside
procgen's, PPO training per preset and precision with its share of that peak, analysis
timings."""
