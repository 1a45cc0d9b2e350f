"""Sparse autoencoders on a policy's hooked layer: ``python -m experiments.sae
[train|find-features|resample-features|retarget-features|layers|dictionaries|follow-map]
run=<policy> [hook=... width=... k=... steps=...]`` (`agents.interp.features`; the write-up:
``docs/features.md``)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from agents.cli import fail_cleanly, positional, precheck, precheck_of, register
from agents.settings import to_object
from agents.settings.sae import SaeConfig

register()


@hydra.main(version_base=None, config_path="../conf", config_name="sae")
def main(cfg: DictConfig) -> None:
    from agents.interp.features.command import run_sae

    with fail_cleanly():
        run_sae(to_object(cfg, SaeConfig))


if __name__ == "__main__":
    sys.argv = positional(sys.argv, "action")
    precheck(*precheck_of("sae"))
    main()
