"""Interpretability and behaviour: the analyses of ``experiments.patch`` (one module each, run
through `agents.interp.registry`), the divergence evaluation, patches, plots and curves."""
