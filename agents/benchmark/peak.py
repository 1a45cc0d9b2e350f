"""What a CPU can do, measured: matmul and a network's largest convolution in fp32 and bf16, and
how many multiply-adds the network costs per observation (to turn steps/s into FLOP/s)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from agents.policy.networks import make_embedder
from agents.settings.train import TrainConfig


def median_seconds(fn: Callable[[], object], repeats: int, budget_s: float = 10.0) -> float:
    """Median wall seconds of ``fn`` over ``repeats`` calls after one warm-up (fewer calls once
    ``budget_s`` is spent: emulated bf16 can be 100x slower)."""
    start = time.perf_counter()
    fn()
    times: list[float] = []
    while len(times) < repeats and (not times or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_gflops(precision: str, n: int = 1024, repeats: int = 3) -> float:
    """GFLOP/s of an ``n x n`` matmul (2 n^3 FLOPs) in ``fp32`` or ``bf16``."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    return 2 * n**3 / median_seconds(lambda: a @ b, repeats) / 1e9


@dataclass(frozen=True)
class ConvShape:
    """A convolution of the network as it runs: ``in_ch -> out_ch``, ``k x k``, on ``h x w``."""

    in_ch: int
    out_ch: int
    k: int
    h: int
    w: int

    @property
    def macs(self) -> int:
        """Multiply-adds per observation."""
        return self.in_ch * self.out_ch * self.k * self.k * self.h * self.w

    def __str__(self) -> str:
        return f"{self.in_ch}->{self.out_ch} {self.k}x{self.k} conv on {self.h}x{self.w}"


def network_cost(cfg: TrainConfig) -> tuple[int, ConvShape]:
    """Multiply-adds per observation of ``cfg``'s network (convolutions and linear layers;
    ReLUs, pooling and additions are not counted) and its largest convolution."""
    from agents.policy.sb3 import spaces

    obs, _ = spaces(cfg)
    shape = tuple(int(x) for x in obs.shape)
    net = make_embedder(cfg.agent.network, shape, float(obs.high.max()))  # type: ignore[arg-type]
    convs: list[ConvShape] = []
    macs = [0]

    def conv_hook(m: nn.Module, _i: object, out: torch.Tensor) -> None:
        assert isinstance(m, nn.Conv2d)
        c = ConvShape(m.in_channels, m.out_channels, m.kernel_size[0], out.shape[2], out.shape[3])
        convs.append(c)
        macs[0] += c.macs

    def linear_hook(m: nn.Module, _i: object, _o: torch.Tensor) -> None:
        assert isinstance(m, nn.Linear)
        macs[0] += m.in_features * m.out_features

    handles = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            net(torch.zeros((1, *shape)))
    finally:
        for h in handles:
            h.remove()
    # heads: policy logits and value from the features
    macs[0] += cfg.agent.network.fc * (_num_actions(cfg) + 1)
    return macs[0], max(convs, key=lambda c: c.macs)


def _num_actions(cfg: TrainConfig) -> int:
    from agents.policy.sb3 import spaces

    return int(spaces(cfg)[1].n)


def train_flops_per_step(cfg: TrainConfig, macs: int) -> float:
    """FLOPs a PPO step costs per environment step: one forward in the rollout, then each epoch
    a forward and a backward (twice the forward's work) on every sample."""
    return 2.0 * macs * (1 + 3 * cfg.agent.ppo.n_epochs)


def conv_gflops(conv: ConvShape, batch: int, precision: str, repeats: int = 3) -> float:
    """GFLOP/s of ``conv`` alone, forward and backward (weights and input gradients) on a
    channels-last batch, the way training runs it."""
    layer = nn.Conv2d(conv.in_ch, conv.out_ch, conv.k, padding=conv.k // 2)
    layer = layer.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    x = torch.randn(batch, conv.in_ch, conv.h, conv.w).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    bf16 = precision == "bf16"

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = layer(x)
        y.float().sum().backward()

    seconds = median_seconds(step, repeats)
    return 3 * 2 * conv.macs * batch / seconds / 1e9
