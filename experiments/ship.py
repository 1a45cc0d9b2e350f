"""Ship a finished run as a named pretrained policy: ``python -m experiments.ship run=<folder>
name=<name>`` copies it into ``agents/pretrained/<name>/`` with its provenance; it then loads
with ``agents.load_pretrained("<name>")`` and ``run=<name>`` in every command."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import ShipConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="ship")
def main(cfg: DictConfig) -> None:
    from agents.train.ship import ship_command

    with fail_cleanly():
        ship_command(to_object(cfg, ShipConfig))


if __name__ == "__main__":
    precheck(*precheck_of("ship"))
    main()
