"""The policy as stable-baselines3 builds it: the maze network as its features extractor, built
from a `TrainConfig` the same way for training (`agents.train.ppo`) and for loading
(`agents.policy.loading`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticCnnPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.policy.networks import make_embedder
from agents.settings.train import NetworkConfig, TrainConfig
from mazegen import MazeBatch


class MazeFeatures(BaseFeaturesExtractor):
    """The maze network's embedder as an SB3 features extractor (input: raw uint8 obs).

    The embedder runs on channels-last tensors (measured faster in both precisions, on AVX2
    and AMX CPUs alike: max-pooling in NCHW cost as much as the convolutions). With
    ``precision="bf16"`` it runs under bfloat16 autocast; the heads and the losses stay in
    float32. Analyses run the hooked network (`HookedMazeNet`) directly, so always in float32.
    """

    def __init__(
        self, observation_space: gym.spaces.Box, network: dict[str, Any], precision: str = "fp32"
    ) -> None:
        cfg = NetworkConfig(**network)
        super().__init__(observation_space, features_dim=cfg.fc)
        c, h, w = (int(x) for x in observation_space.shape)
        shape = (c, h, w)
        self.embedder = make_embedder(cfg, shape, float(observation_space.high.max()))
        self.bf16 = precision == "bf16"
        self._channels_last = False  # converted at the first forward: SB3's init needs NCHW

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if not self._channels_last:
            to_channels_last(self.embedder)
            self._channels_last = True
        x = observations.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.embedder(x)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.embedder(x).float()


def to_channels_last(module: torch.nn.Module) -> None:
    """Stores ``module``'s 4-d weights channels-last, in place (parameters keep their identity,
    so an optimizer built on them still holds them)."""
    module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def policy_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """The SB3 policy's construction arguments: the maze network as features extractor."""
    from dataclasses import asdict

    return dict(
        features_extractor_class=MazeFeatures,
        features_extractor_kwargs=dict(network=asdict(cfg.agent.network), precision=cfg.precision),
        net_arch=dict(pi=[], vf=[]),
        normalize_images=False,  # the network scales its own input (hookable, self-contained)
        share_features_extractor=True,
    )


def spaces(cfg: TrainConfig) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """The observation and action spaces of ``cfg.env``."""
    probe = MazeBatch(1, cfg.env)
    obs = gym.spaces.Box(0, probe.renderer.high, probe.renderer.shape, np.uint8)
    return obs, gym.spaces.Discrete(probe.num_actions)


@dataclass
class PolicyModel:
    """A trained policy without its trainer: the parts of an SB3 model that evaluation,
    analysis and playback use (`PPO` has the same attributes)."""

    policy: ActorCriticCnnPolicy
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Discrete

    @property
    def device(self) -> torch.device:
        return self.policy.device


class NoOptimizer:
    """The optimizer of a policy built for inference: none. (SB3 builds one with every policy;
    constructing a torch optimizer imports ``torch._dynamo``, about 3 s, and a loaded policy
    never takes a step.)"""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        self.param_groups: list[dict[str, Any]] = []


def build_policy(cfg: TrainConfig, device: str = "cpu") -> PolicyModel:
    """The untrained policy of ``cfg``, built as `build_ppo` builds it but without an optimizer
    (weights are loaded by `agents.policy.loading`)."""
    obs, act = spaces(cfg)
    kwargs = {**policy_kwargs(cfg), "optimizer_class": NoOptimizer}
    policy = ActorCriticCnnPolicy(obs, act, lambda _: 0.0, **kwargs)
    extractor: Any = policy.features_extractor
    to_channels_last(extractor.embedder)  # the memory format training runs in
    return PolicyModel(policy.to(resolve_device(device)).eval(), obs, act)
