"""Watch and steer rollouts: ``python -m experiments.play [run=...] [mode=watch|human|record]``.

``watch`` (default) opens a pygame window with the policy stepping live; ``human`` lets you move
the mouse with the arrow keys; ``record`` writes ``episodes`` episodes to ``out`` (.gif / .mp4)
without a screen (``compare=cheese-vector``: unpatched and patched side by side).
"""

from __future__ import annotations

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from agents.config import to_object
from agents.play.app import PlayConfig, play, validate
from experiments._cli import fail_cleanly, precheck

ConfigStore.instance().store(name="play_schema", node=PlayConfig)


@hydra.main(version_base=None, config_path="../conf", config_name="play")
def main(cfg: DictConfig) -> None:
    with fail_cleanly():
        play(to_object(cfg, PlayConfig))


def _check(cfg: DictConfig) -> None:
    """The settings, and that ``run=`` names something loadable (before anything is written)."""
    from agents.runs import resolve

    config = to_object(cfg, PlayConfig)
    validate(config)
    if config.run is not None:
        resolve(config.run)


if __name__ == "__main__":
    precheck("play", _check, PlayConfig)
    main()
