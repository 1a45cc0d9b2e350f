"""Benchmarks: ``python -m experiments.benchmark [threads=[1,2]] [train=false] [eval=false]
[presets=[easy,hard]] [seconds=1.0] [json=<file>]``.

Prints the CPU and the peak it reaches (matmul and each network's largest convolution, fp32 and
bf16), environment steps/s beside procgen's maze where ``.venv-procgen`` exists (``make
peer-venv``), PPO training throughput of each preset in both precisions with its share of that
peak, which precision ``auto`` picks, where a step's time goes, and the analysis timings.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import BenchmarkConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="benchmark")
def main(cfg: DictConfig) -> None:
    from agents.benchmark.report import run_benchmark

    with fail_cleanly():
        run_benchmark(to_object(cfg, BenchmarkConfig))


if __name__ == "__main__":
    precheck(*precheck_of("benchmark"))
    main()
