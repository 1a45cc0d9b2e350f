"""Measure train/test behaviour divergence: ``python -m experiments.evaluate [run=<folder>]``.

With no run, evaluates the shipped policy. ``sweep=<multirun folder>`` evaluates every run of a
region sweep and plots test P(cheese) against the training region.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import EvaluateConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from agents.interp.evaluate import evaluate

    with fail_cleanly():
        evaluate(to_object(cfg, EvaluateConfig))


if __name__ == "__main__":
    precheck(*precheck_of("evaluate"))
    main()
