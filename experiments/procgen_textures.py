"""``python -m experiments.procgen_textures [--force]`` (``make procgen-textures``): fetches and
decodes procgen's textures into the cache the procgen-faithful mode reads
(`mazegen.procgen_textures`)."""

from __future__ import annotations

import sys

from mazegen.procgen_textures import main

if __name__ == "__main__":
    main(force="--force" in sys.argv[1:])
