"""A learned goal field: one target-relative activation pattern that steers the policy anywhere.

`fit_goal_field` learns a pattern ``[C, k, k]`` at one layer. The pattern is centred on the
target's position in the activation map and added there. It is fitted by gradient descent on the
frozen policy's log-probability of the shortest-path direction toward the target. The samples
are squares on the path from the start to the target, plus a share of the other squares, over
training mazes. One pattern serves every maze and every target, so it cannot memorise routes. It
measures how far a single, position-invariant "go here" signal can steer the network. It is an
optimised intervention, the learned counterpart of setting a found channel to a value; it is not
a discovered circuit.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.interp.activations import activations, map_position
from agents.policy.hooked import HookedMazeNet, HookError, PatchFn
from mazegen import MazeConfig
from mazegen.actions import ACTION_DIRECTIONS
from mazegen.files import atomic_write_bytes
from mazegen.queries import open_squares, optimal_moves, shortest_path
from mazegen.render import observe
from mazegen.state import BatchState


@dataclass
class GoalField:
    """A target-relative additive pattern at one hook.

    Attributes:
        hook: The ``[C, h, w]`` layer it is added to.
        kernel: ``[C, k, k]`` (k odd); its centre lands on the target's position.
        scale: Multiplies the pattern when applied.
    """

    hook: str
    kernel: torch.Tensor
    scale: float = 1.0

    def field(self, positions: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """``positions [B, 2]`` (activation-map rows, cols) -> ``[B, C, h, w]`` pattern."""
        half = self.kernel.shape[-1] // 2
        dev = self.kernel.device
        pos = positions.to(dev)
        # kernel cell that lands on each map row / column, per batch element: [B, h], [B, w]
        kr = torch.arange(shape[0], device=dev)[None, :] - pos[:, :1] + half
        kc = torch.arange(shape[1], device=dev)[None, :] - pos[:, 1:] + half
        size = 2 * half + 1
        inside = ((kr >= 0) & (kr < size))[:, :, None] & ((kc >= 0) & (kc < size))[:, None, :]
        cells = self.kernel[:, kr.clamp(0, size - 1)[:, :, None], kc.clamp(0, size - 1)[:, None, :]]
        return self.scale * (cells.transpose(0, 1) * inside[:, None].to(self.kernel.dtype))

    def patch(self, positions: np.ndarray | torch.Tensor) -> PatchFn:
        """A patch adding the field at ``positions [B, 2]`` (or one ``[2]`` for the batch)."""

        def add(x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 4 or x.shape[1] != self.kernel.shape[0]:
                raise HookError(
                    f"goal field for {self.kernel.shape[0]} channels does not fit activation "
                    f"{tuple(x.shape)}"
                )
            pos = torch.as_tensor(positions, dtype=torch.long, device=x.device).reshape(-1, 2)
            pos = pos.expand(x.shape[0], 2) if pos.shape[0] == 1 else pos
            kern = self.kernel.to(x.device, x.dtype)
            fld = GoalField(self.hook, kern, self.scale).field(pos, (x.shape[2], x.shape[3]))
            return x + fld

        return add


@dataclass
class FieldSamples:
    """Training samples: mouse square, cheese square, target square and wanted direction of
    each (all ``[S]`` / ``[S, 2]``), with the maze they belong to."""

    maze: np.ndarray
    mouse: np.ndarray
    cheese: np.ndarray
    target: np.ndarray
    direction: np.ndarray


def field_samples(
    states: BatchState,
    rng: np.random.Generator,
    others: float = 0.2,
    cheese_on_target: bool = True,
) -> FieldSamples:
    """Every (maze, target) pair: the squares on the start->target path and each other open
    square with probability ``others``, labelled with the direction one step nearer the target.
    With ``cheese_on_target`` the cheese is moved to the target, else it stays put."""
    maze, mouse, cheese, target, direction = [], [], [], [], []
    for i, s in enumerate(states):
        squares = [q for q in open_squares(s.walls) if q != s.cheese]
        for t in squares:
            if t == s.start:
                continue
            best = optimal_moves(s.walls, t)
            on_path = set(shortest_path(s.walls, s.start, t))
            for p in squares:
                if p == t or (p not in on_path and rng.random() >= others):
                    continue
                maze.append(i)
                mouse.append(p)
                cheese.append(t if cheese_on_target else (s.cheese or (-1, -1)))
                target.append(t)
                direction.append(int(np.argmax(best[p])))
    if not maze:
        raise HookError("no training samples: the mazes have no open square besides the start")
    return FieldSamples(
        maze=np.array(maze),
        mouse=np.array(mouse).reshape(-1, 2),
        cheese=np.array(cheese).reshape(-1, 2),
        target=np.array(target).reshape(-1, 2),
        direction=np.array(direction),
    )


def fit_goal_field(
    net: HookedMazeNet,
    hook: str,
    states: BatchState,
    config: MazeConfig,
    rng: np.random.Generator,
    *,
    size: int = 13,
    steps: int = 600,
    batch: int = 1024,
    lr: float = 0.05,
    others: float = 0.2,
    cheese_on_target: bool = True,
) -> tuple[GoalField, dict[str, Any]]:
    """Fits a `GoalField` at ``hook`` on ``states`` (the network is left unchanged).

    Returns:
        The field and a record: samples, loss (mean -log p of the wanted direction) at the start
        and over the last tenth of the steps (each step on its own samples), the loss with the
        field and without any on the same held samples, and the accuracy of the most probable
        direction.
    """
    if size < 1 or size % 2 == 0:
        raise HookError(f"goal field size must be an odd number >= 1, got {size}")
    net.check([hook])
    shape = tuple(activations(net, hook, states.take([0]), config).shape[1:])
    if len(shape) != 3:
        raise HookError(f"a goal field needs a [C, h, w] layer; {hook} gives {shape}")
    c, h, w = shape
    data = field_samples(states, rng, others=others, cheese_on_target=cheese_on_target)
    n = len(data.direction)
    dirs = torch.as_tensor(ACTION_DIRECTIONS[config.action_mode])
    device = net.device
    kernel = torch.zeros(c, size, size, device=device, requires_grad=True)
    opt = torch.optim.Adam([kernel], lr=lr)
    frozen = [p.requires_grad for p in net.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    losses: list[float] = []
    try:
        for _ in range(steps):
            pick = rng.integers(0, n, size=min(batch, n))
            loss, _ = _loss(net, hook, kernel, data, pick, states, config, dirs, (h, w), device)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        for p, g in zip(net.parameters(), frozen):
            p.requires_grad_(g)
    field = GoalField(hook, kernel.detach())
    with torch.no_grad():
        pick = rng.integers(0, n, size=min(4 * batch, n))
        args = (data, pick, states, config, dirs, (h, w), device)
        fitted, acc = _loss(net, hook, field.kernel, *args)
        unfitted, _ = _loss(net, hook, torch.zeros_like(field.kernel), *args)
    tail = losses[-max(1, steps // 10) :]
    return field, {
        "hook": hook,
        "size": size,
        "samples": n,
        "steps": steps,
        "loss_start": losses[0] if losses else None,
        "loss_end": float(np.mean(tail)) if losses else None,
        "direction_accuracy": acc,
        # the same samples' loss with the field fitted and with none (the network as it is)
        "loss_fitted": float(fitted),
        "loss_unfitted": float(unfitted),
        "cheese_on_target": cheese_on_target,
    }


def _loss(
    net: HookedMazeNet,
    hook: str,
    kernel: torch.Tensor,
    data: FieldSamples,
    pick: np.ndarray,
    states: BatchState,
    config: MazeConfig,
    dirs: torch.Tensor,
    shape: tuple[int, int],
    device: torch.device,
) -> tuple[torch.Tensor, float]:
    batch = states.take(data.maze[pick]).placed(mouse=data.mouse[pick], cheese=data.cheese[pick])
    obs = torch.as_tensor(observe(batch, config), device=device)
    pos = torch.as_tensor(map_position(data.target[pick], config.world_size, shape), device=device)
    field = GoalField(hook, kernel).field(pos, shape)
    with net.hooks(patches={hook: lambda x: x + field}):
        logits, _ = net(obs)
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, A]
    by_dir = torch.stack(
        [torch.logsumexp(logp[:, dirs.to(device) == d], dim=-1) for d in range(4)], dim=-1
    )  # [B, 4] log P(direction)
    want = torch.as_tensor(data.direction[pick], device=device)
    loss = -by_dir[torch.arange(len(pick)), want].mean()
    acc = float((by_dir.argmax(dim=-1) == want).float().mean())
    return loss, acc


def default_field_hook(net: HookedMazeNet) -> str:
    """Where a goal field goes by default: early, so that every later conv can carry it —
    the small network's first ReLU, IMPALA's ``block1.res1.resadd_out``."""
    names = dict(net.named_modules())
    for name in ("embedder.relu1_out", "embedder.block1.res1.resadd_out"):
        if name in names:
            return name
    raise HookError("no default goal-field layer in this network; set field_hook")


def save_goal_fields(path: Path, fields: dict[str, GoalField]) -> None:
    """Writes fields to one ``.npz`` (atomically): ``<label>`` kernel, ``<label>__hook``."""
    arrays: dict[str, Any] = {}
    for label, f in fields.items():
        arrays[label] = f.kernel.detach().cpu().numpy()
        arrays[f"{label}__hook"] = np.array(f.hook)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_goal_field(path: str | Path, label: str = "goal_field") -> GoalField:
    """Reads one field written by `save_goal_fields` (e.g. ``goal_fields.npz`` of a
    ``retarget`` report); raises `HookError` with one line if the file does not hold it."""
    p = Path(path)
    if not p.is_file():
        raise HookError(f"no goal-field file at {p}; run `python -m experiments.patch retarget`")
    try:
        with np.load(p, allow_pickle=False) as data:
            kernel, hook = data[label], str(data[f"{label}__hook"])
    except KeyError:
        raise HookError(f"{p} holds no goal field {label!r}") from None
    except (OSError, ValueError, zipfile.BadZipFile):
        raise HookError(
            f"{p} is not a readable goal-field file: give the goal_fields.npz that "
            "`python -m experiments.patch retarget` writes"
        ) from None
    if kernel.ndim != 3 or kernel.shape[1] != kernel.shape[2] or kernel.shape[1] % 2 == 0:
        raise HookError(f"{p}: goal field {label!r} has shape {kernel.shape}, not [C, k, k], k odd")
    return GoalField(hook, torch.as_tensor(kernel, dtype=torch.float32))
