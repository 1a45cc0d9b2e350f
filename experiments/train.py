"""Train a PPO agent: ``python -m experiments.train [experiment=<preset>] [key=value ...]``.

Resume: ``python -m experiments.train resume=<run folder | checkpoint.zip> [total_steps=...]``.
Sweep: add ``-m``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from agents.config import TrainConfig, register_configs, to_train_config
from experiments._cli import fail_cleanly, precheck, register_resolvers

register_resolvers()
register_configs()


def _check(cfg: DictConfig) -> None:
    config = to_train_config(cfg)
    if config.resume:
        from agents.config import resume_config
        from agents.training import find_resume_point

        point = find_resume_point(Path(config.resume).expanduser(), config.unsafe_pickle)
        resume_config(point.config, config, _overrides())


def _overrides() -> list[str]:
    import sys

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # before hydra.main: the raw command line
        return [a for a in sys.argv[1:] if not a.startswith("-")]


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        from agents.training import start

        config = to_train_config(cfg)
        run = Path(HydraConfig.get().runtime.output_dir)
        run, metrics = start(config, run, _overrides())
        pol, rnd = metrics["policy"], metrics["random"]
        print(f"run folder: {run}")
        print(
            f"held-out P(cheese): train distribution {pol['train']['p_cheese']['p']:.3f}, "
            f"test distribution {pol['test']['p_cheese']['p']:.3f} "
            f"(random policy {rnd['test']['p_cheese']['p']:.3f}); test episodes ending in "
            f"the top-right region: {pol['test']['p_end_in_region']['p']:.3f}"
        )
        print(f"TensorBoard: tensorboard --logdir {run / 'tb'}")


if __name__ == "__main__":
    precheck("config", _check, TrainConfig)
    main()
