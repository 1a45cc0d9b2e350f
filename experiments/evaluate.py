"""Measure train/test behaviour divergence: ``python -m experiments.evaluate [run=<folder>]``.

With no run, evaluates the shipped policy. ``sweep=<multirun folder>`` evaluates every run of a
region sweep and plots test P(cheese) against the training region.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.config import to_object
from agents.evaluation import EvaluateConfig, evaluate_run, evaluate_sweep, summary_table, validate
from experiments._cli import fail_cleanly, precheck

ConfigStore.instance().store(name="evaluate_schema", node=EvaluateConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        config = to_object(cfg, EvaluateConfig)
        validate(config)
        if config.sweep is not None:
            _, out = evaluate_sweep(config)
            print(f"sweep plot and table: {out}")
            return
        out = None if config.out is None else Path(config.out)
        result, out = evaluate_run(config, config.run, out)
        print(summary_table(result))
        print(
            f"evaluated {config.episodes} mazes per distribution in {result['seconds']:.1f} s; "
            f"results: {out}"
        )


def _check(cfg: DictConfig) -> None:
    """The settings, and that ``run=`` names something loadable (before anything is written)."""
    from agents.runs import resolve

    config = to_object(cfg, EvaluateConfig)
    validate(config)
    if config.run is not None:
        resolve(config.run)


if __name__ == "__main__":
    precheck("evaluate", _check, EvaluateConfig)
    main()
