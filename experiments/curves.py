"""Plot learning curves: ``python -m experiments.curves runs=[<run>,...] out=<png>``.

Held-out P(cheese) against environment steps and against training wall time, read from each
run's TensorBoard events.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import CurvesConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="curves")
def main(cfg: DictConfig) -> None:
    from agents.interp.curves import curves_command

    with fail_cleanly():
        curves_command(to_object(cfg, CurvesConfig))


if __name__ == "__main__":
    precheck(*precheck_of("curves"))
    main()
