"""Plot learning curves: ``python -m experiments.curves runs=[<run>,...] out=<png>``.

Held-out P(cheese) against environment steps and against training wall time, read from each
run's TensorBoard events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.config import ConfigError, to_object
from experiments._cli import fail_cleanly, precheck


@dataclass
class CurvesConfig:
    """Settings of ``experiments.curves``.

    Attributes:
        runs: Run folders.
        labels: A legend label per run (default: the folder names).
        out: The PNG to write.
    """

    runs: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    out: str = "outputs/curves.png"


def validate(cfg: CurvesConfig) -> None:
    if not cfg.runs:
        raise ConfigError("give at least one run folder: runs=[outputs/easy/<run>]")
    if cfg.labels and len(cfg.labels) != len(cfg.runs):
        raise ConfigError(f"got {len(cfg.labels)} labels for {len(cfg.runs)} runs")


ConfigStore.instance().store(name="curves_schema", node=CurvesConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="curves")
def main(cfg: DictConfig) -> None:
    from agents.analysis.curves import plot_curves, read_curve

    with fail_cleanly():
        config = to_object(cfg, CurvesConfig)
        validate(config)
        labels = config.labels or [None] * len(config.runs)
        curves = [read_curve(Path(r), lab) for r, lab in zip(config.runs, labels)]
        plot_curves(curves, Path(config.out))
        for c in curves:
            print(
                f"{c.label}: {len(c.steps)} evaluations to {c.steps[-1]:,} steps; last held-out "
                f"P(cheese) train {c.train[-1]:.3f}, test {c.test[-1]:.3f}"
            )
        print(f"wrote {config.out}")


if __name__ == "__main__":
    precheck("curves", lambda cfg: validate(to_object(cfg, CurvesConfig)), CurvesConfig)
    main()
