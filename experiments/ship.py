"""Ship a finished run as a named pretrained policy: ``python -m experiments.ship run=<folder>
name=<name>`` copies it into ``agents/pretrained/<name>/`` with its provenance; it then loads
with ``agents.load_pretrained("<name>")`` and ``run=<name>`` in every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.config import ConfigError, to_object
from experiments._cli import fail_cleanly, precheck


@dataclass
class ShipConfig:
    """Attributes:
    run: The finished run folder.
    name: The shipped policy's name.
    """

    run: str = ""
    name: str = ""


def validate(cfg: ShipConfig) -> None:
    if not cfg.run or not cfg.name:
        raise ConfigError("give run=<finished run folder> and name=<policy name>")


ConfigStore.instance().store(name="ship_schema", node=ShipConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="ship")
def main(cfg: DictConfig) -> None:
    from agents.runs import ship

    with fail_cleanly():
        config = to_object(cfg, ShipConfig)
        validate(config)
        print(f"shipped {ship(Path(config.run), config.name)}")


if __name__ == "__main__":
    precheck("ship", lambda cfg: validate(to_object(cfg, ShipConfig)), ShipConfig)
    main()
