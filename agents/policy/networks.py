"""Policy networks with stable, hookable module names.

Every ReLU and every residual addition is its own module, so an activation is addressed by a
dotted name such as ``embedder.block2.res1.resadd_out`` (the layer the 2023 maze analysis hooks).
Both networks map an observation ``[B, C, H, W]`` (uint8 values as float) to 256 features;
`MazeNet` adds the policy and value heads.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.settings.train import NetworkConfig


class Add(nn.Module):
    """``x + y`` as a module, so a residual sum has a hook point of its own."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class Scale(nn.Module):
    """Divides the raw observation by its maximum value (255 for RGB, 1 for grids)."""

    def __init__(self, high: float) -> None:
        super().__init__()
        self.high = float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / self.high

    def extra_repr(self) -> str:
        return f"high={self.high}"


class ResidualBlock(nn.Module):
    """relu -> conv -> relu -> conv, plus the input. Hooks: relu1_out, conv1, relu2_out, conv2,
    resadd_out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.relu1_out = nn.ReLU()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu2_out = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.resadd_out = Add()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.relu2_out(self.conv1(self.relu1_out(x))))
        return self.resadd_out(x, y)


class ImpalaBlock(nn.Module):
    """conv 3x3 -> max-pool 3/2 -> two residual blocks. Hooks: conv, maxpool_out, res1, res2.

    With ``pool=False`` the block keeps its input's resolution: ``maxpool_out`` is then an
    identity (still a hook point), so every block has the same hook names.
    """

    def __init__(self, in_channels: int, channels: int, pool: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.maxpool_out: nn.Module = (
            nn.MaxPool2d(3, stride=2, padding=1) if pool else nn.Identity()
        )
        self.res1 = ResidualBlock(channels)
        self.res2 = ResidualBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res2(self.res1(self.maxpool_out(self.conv(x))))


class ImpalaEmbedder(nn.Module):
    """IMPALA CNN: three `ImpalaBlock` (16s, 32s, 32s channels), relu, flatten, fc, relu."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        high: float,
        scale: int = 1,
        fc: int = 256,
        pool: tuple[bool, bool, bool] | list[bool] = (True, True, True),
        widths: tuple[int, ...] | list[int] = (),
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        widths = tuple(widths) or (16 * scale, 32 * scale, 32 * scale)
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths needs three channel counts >= 1, got {list(widths)}")
        if len(pool) != 3:
            raise ValueError(f"pool needs one flag per IMPALA block (3), got {list(pool)}")
        self.scale_in = Scale(high)
        self.block1 = ImpalaBlock(c, widths[0], bool(pool[0]))
        self.block2 = ImpalaBlock(widths[0], widths[1], bool(pool[1]))
        self.block3 = ImpalaBlock(widths[1], widths[2], bool(pool[2]))
        self.relu3_out = nn.ReLU()
        self.flatten = nn.Flatten()
        for halve in pool:
            if halve:
                h, w = (h + 1) // 2, (w + 1) // 2
        self.fc = nn.Linear(widths[2] * h * w, fc)
        self.relufc_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.scale_in(x))))
        return self.relufc_out(self.fc(self.flatten(self.relu3_out(x))))


class SmallEmbedder(nn.Module):
    """Four 3x3 convs (stride 1, so every channel map is aligned with the maze squares), fc.

    Hooks: conv1..conv4, relu1_out..relu4_out, flatten, fc, relufc_out.
    """

    def __init__(
        self, in_shape: tuple[int, int, int], high: float, channels: int = 32, fc: int = 256
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        self.scale_in = Scale(high)
        widths = [c] + [channels] * 4
        for i in range(4):
            self.add_module(f"conv{i + 1}", nn.Conv2d(widths[i], widths[i + 1], 3, padding=1))
            self.add_module(f"relu{i + 1}_out", nn.ReLU())
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels * h * w, fc)
        self.relufc_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale_in(x)
        for i in range(1, 5):
            x = getattr(self, f"relu{i}_out")(getattr(self, f"conv{i}")(x))
        return self.relufc_out(self.fc(self.flatten(x)))


def reset_to_torch_init(module: nn.Module) -> None:
    """Re-initializes every conv and linear layer of ``module`` with PyTorch's default init.

    stable-baselines3 re-initializes a features extractor orthogonally with gain sqrt(2). On the
    IMPALA CNN that compounds over its 12 residual convs: features come out with a std near 8
    and the initial value estimate near 14 on rewards <= 1, and training collapses. PyTorch's
    default (what the procgen IMPALA baselines use) keeps the residual stream small.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()


def make_embedder(config: NetworkConfig, in_shape: tuple[int, int, int], high: float) -> nn.Module:
    """Builds the feature network named by ``config.kind``."""
    if config.kind == "impala":
        return ImpalaEmbedder(
            in_shape, high, scale=config.scale, fc=config.fc, pool=config.pool, widths=config.widths
        )
    if config.kind == "small":
        return SmallEmbedder(in_shape, high, channels=config.channels, fc=config.fc)
    raise ValueError(f"network kind must be 'small' or 'impala', got {config.kind!r}")


class MazeNet(nn.Module):
    """The full policy: ``embedder`` -> ``fc_policy`` (logits) and ``fc_value``.

    It shares its modules with the trained stable-baselines3 policy, so hooks placed here act
    on the agent itself. Hook names: ``embedder.<...>``, ``fc_policy``, ``fc_value``.
    """

    def __init__(self, embedder: nn.Module, fc_policy: nn.Module, fc_value: nn.Module) -> None:
        super().__init__()
        self.embedder = embedder
        self.fc_policy = fc_policy
        self.fc_value = fc_value

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs [B, C, H, W]`` -> ``(logits [B, A], value [B])``."""
        features = self.embedder(obs)
        return self.fc_policy(features), self.fc_value(features).squeeze(-1)
