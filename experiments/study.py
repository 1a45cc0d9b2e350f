"""What grows steerable cheese channels: ``python -m experiments.study runs=[<agent>,...]``.

Runs the same measurements on every agent (behaviour, cheese channels, resampling, retargeting
with the top channels at the best value found, position invariance) and writes one table:
``study.json``, ``study.md`` and ``study.png`` in ``out``. With ``maze_sets=[1,2,...]`` it does
so on each of those sets of mazes and pools every agent's figures over them (``pooled.md``).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import StudyConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="study")
def main(cfg: DictConfig) -> None:
    from agents.interp.study.run import run_pooled, run_study

    with fail_cleanly():
        settings = to_object(cfg, StudyConfig)
        (run_pooled if settings.maze_sets else run_study)(settings)


if __name__ == "__main__":
    precheck(*precheck_of("study"))
    main()
