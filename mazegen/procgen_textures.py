"""The few procgen textures the procgen-faithful mode draws with, from a local cache.

``make procgen-textures`` (``python -m mazegen.procgen_textures``) downloads procgen's wheel
(``procgen-mirror`` 0.10.7) with pip, takes out the wall, cheese and mouse sprites and the nine
top-down backgrounds, decodes them once with Pillow into ``.npy`` arrays (straight RGBA for the
sprites, RGB for the backgrounds) and records their checksums. Nothing of procgen's art is in
this repository; at run time only numpy reads the cache. The cache lives in
``~/.cache/cheese-maze/procgen-textures`` unless ``CHEESE_MAZE_PROCGEN_TEXTURES`` names another
folder. A missing or altered file raises `ProcgenTexturesMissing`, naming the command to run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WHEEL = "procgen-mirror==0.10.7"
ENV_VAR = "CHEESE_MAZE_PROCGEN_TEXTURES"
_ASSETS = "procgen/data/assets/"
#: cache file name -> path inside the wheel's asset folder
FILES = {
    "wall": "kenney/Ground/Sand/sandCenter.png",
    "cheese": "misc_assets/cheese.png",
    "mouse": "kenney/Enemies/mouse_move.png",
    **{
        f"background{i}": f"topdown_backgrounds/{name}.png"
        for i, name in enumerate(
            ["floortiles"] + [f"backgrounddetailed{k}" for k in range(1, 9)]
        )  # procgen's order (resources.cpp), which background_index counts in
    },
}
#: sha256 of each decoded array (shape, then the C-order bytes): what the renderer was checked
#: against procgen with
CHECKSUMS = {
    "wall": "",
    "cheese": "",
    "mouse": "",
    **{f"background{i}": "" for i in range(9)},
}


class ProcgenTexturesMissing(RuntimeError):
    """The texture cache is missing or altered; ``make procgen-textures`` (re)builds it."""


def cache_dir() -> Path:
    """Where the decoded textures live (``$CHEESE_MAZE_PROCGEN_TEXTURES`` or the default)."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "cheese-maze" / "procgen-textures"


def array_sha256(arr: np.ndarray) -> str:
    h = hashlib.sha256(repr((arr.shape, arr.dtype.str)).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ProcgenTextures:
    """Decoded textures: ``wall``, ``cheese``, ``mouse`` ``[H, W, 4]`` straight RGBA uint8;
    ``backgrounds`` 9 x ``[H, W, 3]`` RGB uint8, in procgen's order."""

    wall: np.ndarray
    cheese: np.ndarray
    mouse: np.ndarray
    backgrounds: tuple[np.ndarray, ...]


def _missing(why: str) -> ProcgenTexturesMissing:
    return ProcgenTexturesMissing(
        f"procgen textures {why} in {cache_dir()}; run `make procgen-textures` "
        f"(or set {ENV_VAR} to a folder it filled)"
    )


@lru_cache(maxsize=4)
def _load(folder: str) -> ProcgenTextures:
    arrays = {}
    for name in FILES:
        path = Path(folder) / f"{name}.npy"
        if not path.is_file():
            raise _missing(f"missing ({path.name})")
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            raise _missing(f"unreadable ({path.name})") from None
        if CHECKSUMS[name] and array_sha256(arr) != CHECKSUMS[name]:
            raise _missing(f"altered ({path.name} fails its checksum)")
        arrays[name] = arr
    return ProcgenTextures(
        wall=arrays["wall"],
        cheese=arrays["cheese"],
        mouse=arrays["mouse"],
        backgrounds=tuple(arrays[f"background{i}"] for i in range(9)),
    )


def load_textures() -> ProcgenTextures:
    """The cached textures, checked against `CHECKSUMS` (`ProcgenTexturesMissing` if not)."""
    return _load(str(cache_dir()))


def textures_available() -> bool:
    try:
        load_textures()
    except ProcgenTexturesMissing:
        return False
    return True


def build_cache(dest: Path | None = None, wheel_dir: Path | None = None) -> Path:
    """Downloads procgen's wheel (unless ``wheel_dir`` holds it), decodes the textures into
    ``dest`` (default `cache_dir`) and checks them. Needs pip and Pillow."""
    from PIL import Image

    dest = cache_dir() if dest is None else dest
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(wheel_dir) if wheel_dir is not None else Path(tmp)
        wheels = sorted(folder.glob("procgen_mirror-*.whl"))
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp]
            subprocess.run(cmd, check=True)
            wheels = sorted(Path(tmp).glob("procgen_mirror-*.whl"))
        if not wheels:
            raise _missing(f"not built: pip found no {WHEEL} wheel")
        dest.mkdir(parents=True, exist_ok=True)
        lines = []
        with zipfile.ZipFile(wheels[0]) as zf:
            for name, rel in FILES.items():
                data = zf.read(_ASSETS + rel)
                with Image.open(__import__("io").BytesIO(data)) as img:
                    mode = "RGB" if name.startswith("background") else "RGBA"
                    arr = np.asarray(img.convert(mode), dtype=np.uint8)
                tmp_path = dest / f".{name}.npy.tmp"
                with open(tmp_path, "wb") as f:
                    np.save(f, arr, allow_pickle=False)
                os.replace(tmp_path, dest / f"{name}.npy")
                digest = array_sha256(arr)
                lines.append(f"{name} {rel} png={hashlib.sha256(data).hexdigest()} npy={digest}")
        (dest / "SOURCE.txt").write_text(f"from {wheels[0].name}\n" + "\n".join(lines) + "\n")
    _load.cache_clear()
    load_textures() if dest == cache_dir() else _load(str(dest))
    return dest


if __name__ == "__main__":
    where = build_cache()
    print(f"procgen textures ready in {where}")
