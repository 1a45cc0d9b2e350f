"""Train a PPO agent: ``python -m experiments.train [experiment=<preset>] [key=value ...]``.

Resume: ``python -m experiments.train resume=<run folder | checkpoint.zip> [total_steps=...]``.
Sweep: add ``-m``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from agents.cli import fail_cleanly, overrides, precheck, precheck_of, register
from agents.settings import to_train_config

register()


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from agents.train.training import start_and_report

    with fail_cleanly():
        start_and_report(
            to_train_config(cfg), Path(HydraConfig.get().runtime.output_dir), overrides()
        )


if __name__ == "__main__":
    precheck(*precheck_of("train"))
    main()
