"""Hook, patch and steer the policy: ``python -m experiments.patch <analysis> [key=value ...]``.

Analyses (`agents.interp.registry.ANALYSES`): hooks, cheese-vector, top-right-vector,
vector-field, find-channels, resample-channels, retarget. With no ``run=``, analyses the shipped
policy. Writes report.json, PNGs and summary.md.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, positional, precheck, precheck_of, register
from agents.settings import PatchConfig, to_object

register()


@hydra.main(version_base=None, config_path="../conf", config_name="patch")
def main(cfg: DictConfig) -> None:
    from agents.interp.registry import run_and_print

    with fail_cleanly():
        run_and_print(to_object(cfg, PatchConfig))


if __name__ == "__main__":
    sys.argv = positional(sys.argv, "analysis")
    precheck(*precheck_of("patch"))
    main()
