"""PPO for a `TrainConfig`: the training env (with reward normalization where asked) and the
stable-baselines3 agent, as a documented subclass that exposes what checkpoints need."""

from __future__ import annotations

from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger

from agents.policy.hooked import IMPALA_HOOK, SMALL_HOOK
from agents.policy.networks import reset_to_torch_init
from agents.policy.sb3 import policy_kwargs, resolve_device
from agents.settings.train import TrainConfig
from agents.train.sparsity import ActivationPenalty
from agents.train.vecenv import MazeVecEnv


class MazePPO(PPO):
    """stable-baselines3's PPO with the update count public: checkpoints store it and a resumed
    run restores it (SB3 keeps it in ``_n_updates``, read by its own logging); and, when
    ``agent.ppo.activation_l1``, ``activation_group`` or ``activation_spread`` is on, the
    penalty (`ActivationPenalty`) with its layer's mean ``|a|``, mean position norm and (spread)
    the share of the cheese's change beyond the radius logged after each update as
    ``train/activation_abs_mean``, ``train/activation_position_norm`` and
    ``train/cheese_move_far_share``."""

    activation_penalty: ActivationPenalty | None = None

    def train(self) -> None:
        super().train()
        if self.activation_penalty is not None:
            for name, value in self.activation_penalty.pop_means().items():
                self.logger.record(f"train/{name}", value)

    @property
    def n_updates(self) -> int:
        """Gradient updates made so far (SB3's ``train/n_updates``)."""
        return int(self._n_updates)

    @n_updates.setter
    def n_updates(self, value: int) -> None:
        self._n_updates = int(value)


def make_env(cfg: TrainConfig, seed: int) -> Any:
    """The training env of ``cfg``: a `MazeVecEnv`, wrapped in SB3's ``VecNormalize`` (rewards
    only) when ``agent.ppo.normalize_reward`` is on."""
    ppo = cfg.agent.ppo
    env: Any = MazeVecEnv(
        cfg.env,
        cfg.num_envs,
        seed=seed,
        reward_scale=ppo.reward_scale,
        shaping=ppo.distance_shaping,
        gamma=ppo.gamma,
    )
    if ppo.normalize_reward:
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=ppo.gamma)
    return env


def build_ppo(cfg: TrainConfig, env: Any, tensorboard_log: str | None) -> MazePPO:
    """A fresh PPO agent for ``cfg`` on ``env``, logging to TensorBoard in ``tensorboard_log``;
    with ``None`` it logs nowhere (SB3's own default would make an empty ``SB3-<time>`` folder
    in the system's temporary folder at every ``learn``)."""
    ppo = cfg.agent.ppo
    lr: Any = ppo.learning_rate
    if ppo.anneal_lr:
        start = ppo.learning_rate

        def lr(progress_remaining: float) -> float:
            return start * progress_remaining

    model = MazePPO(
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
    if tensorboard_log is None:
        model.set_logger(Logger(folder=None, output_formats=[]))
    policy: Any = model.policy
    if cfg.agent.network.kind == "impala":
        reset_to_torch_init(policy.features_extractor.embedder)
    if ppo.activation_l1 > 0 or ppo.activation_group > 0 or ppo.activation_spread > 0:
        hook = ppo.activation_l1_hook or (
            IMPALA_HOOK if cfg.agent.network.kind == "impala" else SMALL_HOOK
        )
        embedder = policy.features_extractor.embedder
        model.activation_penalty = ActivationPenalty(
            embedder,
            hook,
            ppo.activation_l1,
            ppo.activation_group,
            ppo.activation_spread,
            ppo.activation_spread_radius,
        )
    return model
