"""Sparse autoencoders on a hooked layer and the mechanistic measurements on their features
(``python -m experiments.sae``; the write-up: ``docs/features.md``), one module per job:

- `dictionary`: the SAE (top-k or L1), saved as safetensors beside its policy, loaded by name.
- `train`: activations from the policy's own rollouts, the trainer, the quality figures.
- `find`: features that track the cheese, those the cheese turns on, resampling them.
- `wall_map`: the features' change around the cheese predicted from the maze around it.
- `rows`: feature interventions and the layer's ceiling as rows of the retargeting table.
- `retarget`: the values, erasure and ceiling searched apart, then the report's rows played.
- `command`: the command's actions.
"""
