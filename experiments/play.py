"""Watch and steer rollouts: ``python -m experiments.play [run=...] [mode=watch|human|record]``.

``watch`` (default) opens a pygame window with the policy stepping live; ``human`` lets you move
the mouse with the arrow keys; ``record`` writes ``episodes`` episodes to ``out`` (.gif / .mp4)
without a screen (``compare=cheese-vector``: unpatched and patched side by side).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, precheck, precheck_of, register
from agents.settings import PlayConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="play")
def main(cfg: DictConfig) -> None:
    from agents.play.app import play

    with fail_cleanly():
        play(to_object(cfg, PlayConfig))


if __name__ == "__main__":
    precheck(*precheck_of("play"))
    main()
