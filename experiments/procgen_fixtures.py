"""Writes the procgen fixtures: ``.venv-procgen/bin/python experiments/procgen_fixtures.py
[--levels 150] [--out tests/fixtures/procgen_maze.json] [--frames DIR]``.

Runs procgen's own ``maze`` (``make peer-venv``; numpy < 2 and procgen only, no mazegen) on
levels drawn by procgen itself from its whole level space (``num_levels=0``), easy and hard, and
records for each level: the level number, the inner size, the walls (a hex bitmap, row 0 at the
top), the cheese, a scripted action sequence (a few random moves, then the shortest path to the
cheese) and a 16-hex-digit sha256 prefix of every observation: the start frame, the frame after
each step, and the last one, which procgen draws as the first frame of the next level (whose
number is recorded too). Hashes only: procgen's art stays out of the repository.

``--frames DIR`` also saves the raw frames (``DIR/<mode>_<level>.npy``, [T, 64, 64, 3]) for
looking into a mismatch; never commit them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import deque
from pathlib import Path

import numpy as np

MODES = {"easy": 15, "hard": 25}
GOAL, WALL = 2, 51
# procgen's actions: 0 left, 3 down, 5 up, 6 right (a 4-way move each), 4 no-op
MOVES = {(0, -1): 0, (1, 0): 3, (-1, 0): 5, (0, 1): 6}


def frame_hash(frame: np.ndarray) -> str:
    """sha256 prefix of a [64, 64, 3] uint8 frame (C order)."""
    return hashlib.sha256(np.ascontiguousarray(frame, dtype=np.uint8).tobytes()).hexdigest()[:16]


def parse_grid(state: bytes, world: int) -> tuple[np.ndarray, int]:
    """``([W, W] object ids with row 0 at the top, maze_dim)`` from the tail of a serialized
    maze state (grid w, h, data vector; then maze_dim, world_dim)."""
    ints = np.frombuffer(state[len(state) % 4 :], dtype=np.int32)
    n = world * world
    for k in range(len(ints) - n - 5, -1, -1):  # the grid header, searched from the end
        if ints[k] == world and ints[k + 1] == world and ints[k + 2] == n:
            break
    data = ints[k + 3 : k + 3 + n].reshape(world, world)  # [y, x], y = 0 at the bottom
    maze_dim, world_dim = ints[k + 3 + n : k + 5 + n]
    assert world_dim == world, (maze_dim, world_dim)
    return data[::-1].copy(), int(maze_dim)


def path_actions(walls: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[int]:
    """procgen actions along the shortest path (BFS) from start to goal."""
    w = walls.shape[0]
    prev: dict[tuple[int, int], tuple[int, int]] = {start: start}
    todo = deque([start])
    while todo:
        r, c = todo.popleft()
        for dr, dc in MOVES:
            nr, nc = r + dr, c + dc
            if 0 <= nr < w and 0 <= nc < w and not walls[nr, nc] and (nr, nc) not in prev:
                prev[(nr, nc)] = (r, c)
                todo.append((nr, nc))
    assert goal in prev, "cheese unreachable"
    out, sq = [], goal
    while sq != start:
        p = prev[sq]
        out.append(MOVES[(sq[0] - p[0], sq[1] - p[1])])
        sq = p
    return out[::-1]


def run_mode(mode: str, levels: int, seed: int, frames_dir: Path | None) -> list[dict]:
    from procgen import ProcgenGym3Env

    world = MODES[mode]
    env = ProcgenGym3Env(
        num=1, env_name="maze", distribution_mode=mode, num_levels=0, start_level=0, rand_seed=seed
    )
    rng = np.random.default_rng(seed)
    out = []
    _, obs, _ = env.observe()
    for _ in range(levels):
        level = int(env.get_info()[0]["level_seed"])
        grid, maze_dim = parse_grid(env.callmethod("get_state")[0], world)
        walls = grid == WALL
        cheese = tuple(int(v) for v in np.argwhere(grid == GOAL)[0])
        margin = (world - maze_dim) // 2
        start = (world - 1 - margin, margin)
        # a few random moves (left, right, up, down, no-ops, wall bumps), then go to the cheese
        actions = [int(a) for a in rng.choice([0, 3, 4, 5, 6, 7, 9, 1], size=6)]
        frames = [obs["rgb"][0].copy()]
        pos = start
        for a in actions:
            env.act(np.array([a], dtype=np.int32))
            _, obs, first = env.observe()
            frames.append(obs["rgb"][0].copy())
            if first[0]:
                break
            d = {0: (0, -1), 1: (0, -1), 3: (1, 0), 5: (-1, 0), 6: (0, 1), 7: (0, 1)}.get(a)
            if d is not None:
                nxt = (pos[0] + d[0], pos[1] + d[1])
                if 0 <= nxt[0] < world and 0 <= nxt[1] < world and not walls[nxt]:
                    pos = nxt
        else:
            for a in path_actions(walls, pos, cheese):
                actions.append(a)
                env.act(np.array([a], dtype=np.int32))
                _, obs, first = env.observe()
                frames.append(obs["rgb"][0].copy())
                if first[0]:
                    break
        actions = actions[: len(frames) - 1]
        next_level = int(env.get_info()[0]["level_seed"])
        assert first[0], "the script did not finish the episode"
        out.append(
            {
                "level": level,
                "maze_dim": maze_dim,
                "walls": np.packbits(walls.ravel()).tobytes().hex(),
                "cheese": list(cheese),
                "actions": actions,
                "frames": [frame_hash(f) for f in frames],
                "next_level": next_level,
            }
        )
        if frames_dir is not None:
            frames_dir.mkdir(parents=True, exist_ok=True)
            np.save(frames_dir / f"{mode}_{level}.npy", np.stack(frames))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=150, help="levels per mode")
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--modes", default="easy,hard")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/procgen_maze.json"))
    parser.add_argument("--frames", type=Path, default=None)
    args = parser.parse_args()
    import procgen

    result = {
        "procgen_version": getattr(procgen, "__version__", "0.10.7"),
        "seed": args.seed,
        "modes": {
            m: run_mode(m, args.levels, args.seed, args.frames) for m in args.modes.split(",")
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    tmp.replace(args.out)
    n = sum(len(lv["frames"]) for m in result["modes"].values() for lv in m)
    print(f"wrote {args.out}: {n} frame hashes")


if __name__ == "__main__":
    main()
