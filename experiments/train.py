"""Train a PPO agent: ``python -m experiments.train [experiment=quick|langosco] [key=value ...]``.

Resume: ``python -m experiments.train resume=<run folder>``. Sweep: add ``-m``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from agents.config import register_configs, to_train_config
from experiments._cli import fail_cleanly, register_resolvers

register_resolvers()
register_configs()


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        from agents.training import train

        config = to_train_config(cfg)
        run = Path(HydraConfig.get().runtime.output_dir)
        metrics = train(config, run)
        pol, rnd = metrics["policy"], metrics["random"]
        print(f"run folder: {run}")
        print(
            f"held-out P(cheese): train distribution {pol['train']['p_cheese']['p']:.3f}, "
            f"test distribution {pol['test']['p_cheese']['p']:.3f} "
            f"(random policy {rnd['test']['p_cheese']['p']:.3f}); test episodes ending in "
            f"the top-right region: {pol['test']['p_end_in_region']['p']:.3f}"
        )
        print(f"TensorBoard: tensorboard --logdir {run / 'tb'}")


def check_resume_arg(argv: list[str]) -> None:
    """Validates ``resume=<folder>`` (config, last checkpoint) before Hydra writes anything."""
    for arg in argv[1:]:
        if arg.startswith("resume=") and arg != "resume=null":
            with fail_cleanly():
                from agents.training import prepare_resume

                prepare_resume(Path(arg.split("=", 1)[1]).expanduser())


if __name__ == "__main__":
    check_resume_arg(sys.argv)
    main()
