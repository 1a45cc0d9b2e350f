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
import io
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
    "wall": "d6fcad641aa13cc97bbf62ab1efbeb0d334bb304776c3c5c3c8133427add018b",
    "cheese": "ad75f818af59b8bac5894abe8c706281c1f679b0816ed6200fa916834aa88ef6",
    "mouse": "edc8a79689bd70f5a7fc8ba4d4befe868418d68cb8aac3a9fba649682cc794ce",
    "background0": "a5cbc8bfd48db99ab166e7e8601cadee7a9e3184be8cc15e89a39644829c7917",
    "background1": "67139aab4107c5e62ac60d91f1f40ea015fd1b1ff25341ca6763ac98a1f00743",
    "background2": "af8e50ee865d0f0280e6ed5d00632bfb41573820b9aa5ad4b7de62058062461d",
    "background3": "269facf1d97cd4de5a3573f966dea76553e8a2c99f2a5e04b686d98b84f497c2",
    "background4": "1013a1de6a1953eec3c9e9c588ecca506e4ce75c9e0638c8f2877ad0066784f8",
    "background5": "661833547a72d425ba89739527ba23c1359cd17e6c1af877ed7bc40033755e56",
    "background6": "f6206c3efcfa76c3d122bde6eaede974d7fb116a29c17eb39f6b891d1f99d4be",
    "background7": "6db9e187eaab7fac0351ac054f7978081693295f6b61a100b96be39c69325af5",
    "background8": "99cb5660b00b4ffc86b898e50494f69595a7f958c99ac1f9ce56b1c8c052e327",
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
        if array_sha256(arr) != CHECKSUMS[name]:
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
                with Image.open(io.BytesIO(data)) as img:
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


def main(force: bool = False) -> None:
    """``make procgen-textures``: builds the cache unless it is there and intact."""
    if textures_available() and not force:
        print(f"procgen textures ready in {cache_dir()} (checksums match)")
    else:
        print(f"procgen textures ready in {build_cache()}")
