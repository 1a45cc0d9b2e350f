"""stable-baselines3 glue: a `VecEnv` over the batched maze, the features extractor, PPO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticCnnPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv

from agents.config import TrainConfig
from agents.networks import MazeNet, NetworkConfig, make_embedder, reset_to_torch_init
from mazegen import MazeBatch, MazeConfig
from mazegen.batch import Autoreset


class MazeVecEnv(VecEnv):
    """An SB3 `VecEnv` over one `MazeBatch`: one array step for all envs, no per-env loop.

    Finished envs reset in the same step (SB3's convention); their last observation is in
    ``infos[i]["terminal_observation"]`` and their return and length in ``infos[i]["episode"]``.
    Rewards passed to the learner are multiplied by ``reward_scale``; with ``shaping`` c > 0 the
    learner also gets the potential-based term ``c * (d - gamma * d')`` (d, d': BFS distance to
    the cheese before and after the step), which leaves the optimal policy unchanged (Ng et al.
    1999). Episode returns in ``infos`` are always the env's own.
    """

    def __init__(
        self,
        config: MazeConfig,
        num_envs: int,
        seed: int = 0,
        reward_scale: float = 1.0,
        shaping: float = 0.0,
        gamma: float = 0.99,
    ) -> None:
        self.core = MazeBatch(
            num_envs,
            config,
            autoreset=Autoreset.SAME_STEP,
            copy_obs=False,
            track_distance=shaping > 0,
        )
        self.shaping = shaping
        self.gamma = gamma
        self._d = np.zeros(num_envs, dtype=np.float64)
        obs_space = gym.spaces.Box(0, self.core.renderer.high, self.core.renderer.shape, np.uint8)
        self.render_mode = None
        super().__init__(num_envs, obs_space, gym.spaces.Discrete(self.core.num_actions))
        self._seed: int | None = seed
        self.reward_scale = reward_scale  # what the learner sees; episode returns stay unscaled
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self.finished = 0  # episodes finished since construction (read by the curriculum)
        self.succeeded = 0

    def reset(self) -> np.ndarray:
        seed = self._seeds[0] if self._seeds[0] is not None else self._seed
        obs, _ = self.core.reset(seed=seed)
        self._seed = None  # later resets continue the level streams
        self._reset_seeds()
        self._returns[:] = 0
        self._lengths[:] = 0
        if self.shaping:
            self._d = self.core.distance_to_cheese.astype(np.float64)
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, reward, terminated, truncated, info = self.core.step(self._actions)
        self._returns += reward
        self._lengths += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if "final_index" in info:
            self.finished += int(dones.sum())
            self.succeeded += int(terminated.sum())
            for j, i in enumerate(info["final_index"].tolist()):
                infos[i] = {
                    "terminal_observation": info["final_obs"][j],
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self._lengths[i])},
                }
            self._returns[dones] = 0
            self._lengths[dones] = 0
        learner = reward * self.reward_scale
        if self.shaping:
            after = np.where(terminated, 0.0, info["distance"])
            learner = learner + self.shaping * (self._d - self.gamma * after)
            self._d = self.core.distance_to_cheese.astype(np.float64)
        return obs.copy(), learner.astype(np.float32), dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        n = len(list(self._get_indices(indices)))
        value = (
            getattr(self, attr_name)
            if attr_name == "render_mode"
            else getattr(self.core, attr_name)
        )
        return [value] * n

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.core, attr_name, value)

    def env_method(
        self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any
    ) -> list[Any]:
        raise NotImplementedError("MazeVecEnv has no per-env objects; use .core")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def get_images(self) -> list[np.ndarray]:
        from mazegen import render_frame

        return [render_frame(s) for s in self.core.get_state()]


class MazeFeatures(BaseFeaturesExtractor):
    """The maze network's embedder as an SB3 features extractor (input: raw uint8 obs).

    The embedder runs on channels-last tensors (measured faster in both precisions, on AVX2
    and AMX CPUs alike: max-pooling in NCHW cost as much as the convolutions). With
    ``precision="bf16"`` it runs under bfloat16 autocast; the heads and the losses stay in
    float32. Analyses call the embedder directly (`maze_net`), so they always run in float32.
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


def unwrap(env: VecEnv) -> MazeVecEnv:
    """The `MazeVecEnv` under any SB3 wrappers (VecNormalize, monitors)."""
    while not isinstance(env, MazeVecEnv):
        inner = getattr(env, "venv", None)
        if inner is None:
            raise TypeError(f"{type(env).__name__} does not wrap a MazeVecEnv")
        env = inner
    return env


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


def build_ppo(cfg: TrainConfig, env: VecEnv, tensorboard_log: str | None) -> PPO:
    """A fresh PPO agent for ``cfg`` on ``env``."""
    ppo = cfg.agent.ppo
    lr: Any = ppo.learning_rate
    if ppo.anneal_lr:
        start = ppo.learning_rate

        def lr(progress_remaining: float) -> float:
            return start * progress_remaining

    model = PPO(
        "CnnPolicy",
        env,
        learning_rate=lr,
        n_steps=ppo.n_steps,
        batch_size=ppo.batch_size,
        n_epochs=ppo.n_epochs,
        gamma=ppo.gamma,
        gae_lambda=ppo.gae_lambda,
        ent_coef=ppo.ent_coef,
        vf_coef=ppo.vf_coef,
        clip_range=ppo.clip_range,
        max_grad_norm=ppo.max_grad_norm,
        policy_kwargs=policy_kwargs(cfg),
        tensorboard_log=tensorboard_log,
        seed=cfg.seed,
        device=resolve_device(cfg.device),
        verbose=0,
    )
    if cfg.agent.network.kind == "impala":
        policy: Any = model.policy
        reset_to_torch_init(policy.features_extractor.embedder)
    return model


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


def build_policy(cfg: TrainConfig, device: str = "cpu") -> PolicyModel:
    """The untrained policy of ``cfg``, built as `build_ppo` builds it (weights are loaded by
    `agents.loading`)."""
    obs, act = spaces(cfg)
    lr = cfg.agent.ppo.learning_rate
    policy = ActorCriticCnnPolicy(obs, act, lambda _: lr, **policy_kwargs(cfg))
    extractor: Any = policy.features_extractor
    to_channels_last(extractor.embedder)  # the memory format training runs in
    return PolicyModel(policy.to(resolve_device(device)).eval(), obs, act)


def maze_net(model: PPO | PolicyModel) -> MazeNet:
    """A `MazeNet` view of a trained SB3 policy, sharing its modules (hooks act on the agent)."""
    policy: Any = model.policy
    net = MazeNet(policy.features_extractor.embedder, policy.action_net, policy.value_net)
    return net.eval()
