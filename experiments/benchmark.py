"""Benchmarks: ``python -m experiments.benchmark [threads=[1,2]] [train=false] [eval=false]
[presets=[easy,hard]] [seconds=1.0] [json=<file>]``.

Prints environment steps/s (1, 64, 256 envs; rgb and grid), maze generation rate, procgen's maze
measured in the same run where ``.venv-procgen`` exists (``make peer-venv``), PPO training
throughput with the share of time in the environment, the seed-scale presets in fp32 and bf16
with where a step's time goes, and the analysis timings.
"""

from __future__ import annotations

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.benchmark import BenchmarkConfig, check, run_benchmark
from agents.config import to_object
from experiments._cli import fail_cleanly, precheck

ConfigStore.instance().store(name="benchmark_schema", node=BenchmarkConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        run_benchmark(to_object(cfg, BenchmarkConfig))


if __name__ == "__main__":
    precheck("benchmark", lambda cfg: check(to_object(cfg, BenchmarkConfig)), BenchmarkConfig)
    main()
