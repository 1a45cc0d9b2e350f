"""``python -m experiments.benchmark``: every speed figure of the project in one run, peers side
by side, each naming the CPU it was measured on.

1. The machine: CPU model, torch's capability, whether bf16 is native, the other cores' load.
2. Its peak: a 1024^2 matmul and each preset's largest convolution (forward and backward on a
   minibatch), fp32 and bf16.
3. The environment beside procgen's maze (where ``make peer-venv`` made its venv), including
   the procgen-faithful mode (``procgen=true``) easy and hard beside procgen's easy and hard.
4. PPO training of each preset in both precisions: steps/s, the FLOP rate that is (multiply-adds
   counted from the network) and its share of the largest convolution's rate in the same
   precision, which precision ``precision=auto`` picks, and where a step's time goes.
5. Analysis timings: the full evaluation of the shipped policy, the cost of hooks.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from agents.benchmark.peak import (
    conv_gflops,
    matmul_gflops,
    network_cost,
    train_flops_per_step,
)
from agents.benchmark.training import PARTS, throughput
from agents.settings.commands import BenchmarkConfig, validate_benchmark
from mazegen.files import write_json

PRECISIONS = ("fp32", "bf16")


class Table:
    """Prints aligned ``name  value unit`` lines and keeps every figure by name."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def show(self, name: str, value: float | None, unit: str, note: str = "") -> None:
        self.figures[name] = value
        text = "n/a" if value is None else f"{value:>12,.{1 if abs(value) < 100 else 0}f} {unit}"
        print(f"{name:<52} {text}{'  ' + note if note else ''}", flush=True)

    @staticmethod
    def heading(text: str) -> None:
        print(f"== {text} ==", flush=True)


def machine_section(t: Table) -> None:
    from agents.train.compute import busy_cores, machine

    m = machine()
    busy = busy_cores()
    t.heading("machine")
    print(f"CPU: {m.cpu}; torch capability {m.capability}; {m.kind.split(', ')[-1]}")
    print(f"{m.cores} cores, other processes busy on {busy or 0:.1f}; torch {m.torch}")
    t.figures.update(cpu=m.cpu, capability=m.capability, bf16_native=m.bf16_native, amx=m.amx)
    t.figures["busy_cores"] = busy


def environment_section(t: Table, cfg: BenchmarkConfig) -> None:
    from mazegen import MazeConfig
    from mazegen.benchmark import env_steps_per_second, mazes_per_second, procgen_steps_per_second

    hard = MazeConfig()  # procgen hard: 25x25 world, sizes 3..25, 64x64 RGB
    t.heading("environment (random actions, procgen hard mazes, median of windows)")
    for mode in ("rgb", "grid"):
        for n in (1, 64, 256):
            rate = env_steps_per_second(n, hard.replace(obs_mode=mode), cfg.seconds, cfg.repeats)
            t.show(f"mazegen {mode:4s} {n:>3} envs", rate, "steps/s")
    for label, maze_cfg in (("25x25 mazes", hard.replace(min_size=25)), ("sizes 3..25", hard)):
        rate = mazes_per_second(maze_cfg, seconds=cfg.seconds, repeats=cfg.repeats)
        t.show(f"mazegen generation, {label}", rate, "mazes/s")
    peer = procgen_steps_per_second(Path(cfg.procgen_python), 64, "hard", cfg.seconds, cfg.repeats)
    t.show("procgen maze hard 64 envs (peer, same run)", peer, "steps/s")
    if peer:
        t.show(
            "ratio mazegen rgb / procgen at 64 envs", t.figures["mazegen rgb   64 envs"] / peer, "x"
        )
    procgen_mode_section(t, cfg, peer)


def procgen_mode_section(t: Table, cfg: BenchmarkConfig, hard_peer: float | None) -> None:
    """The procgen-faithful mode (``procgen=true``: procgen's levels and pixels) beside procgen
    itself, easy and hard, 64 envs each, in the same run."""
    from mazegen.benchmark import env_steps_per_second, procgen_steps_per_second
    from mazegen.env import procgen_config
    from mazegen.procgen_textures import textures_available

    t.heading("procgen-faithful mode (procgen=true) beside procgen, 64 envs, random actions")
    if not textures_available():
        print("skipped: no procgen textures (make procgen-textures)")
        return
    for mode in ("hard", "easy"):
        ours = env_steps_per_second(64, procgen_config(mode), cfg.seconds, cfg.repeats)
        t.show(f"mazegen procgen=true {mode} 64 envs", ours, "steps/s")
        peer = hard_peer if mode == "hard" else None
        if peer is None:
            python = Path(cfg.procgen_python)
            peer = procgen_steps_per_second(python, 64, mode, cfg.seconds, cfg.repeats)
            t.show(f"procgen maze {mode} 64 envs (peer, same run)", peer, "steps/s")
        if peer:
            t.show(f"ratio procgen=true / procgen, {mode}", ours / peer, "x")


def peak_section(t: Table, cfg: BenchmarkConfig, presets: dict[str, Any]) -> None:
    t.heading("peak of this CPU (GFLOP/s; convolutions: forward + backward, channels-last)")
    for threads in cfg.threads:
        torch.set_num_threads(threads)
        for precision in PRECISIONS:
            t.show(
                f"matmul {cfg.matmul_size}^2, {precision}, {threads} thread(s)",
                matmul_gflops(precision, cfg.matmul_size, cfg.repeats),
                "GFLOP/s",
            )
        for name, (train_cfg, _, conv) in presets.items():
            for precision in PRECISIONS:
                rate = conv_gflops(conv, train_cfg.agent.ppo.batch_size, precision, cfg.repeats)
                t.show(f"{name}: largest conv, {precision}, {threads} thread(s)", rate, "GFLOP/s")
                t.figures[f"peak_{name}_{precision}_t{threads}"] = rate


def training_section(t: Table, cfg: BenchmarkConfig, presets: dict[str, Any]) -> None:
    from agents.policy.sb3 import spaces
    from agents.train.precision import choose_precision

    t.heading(
        "PPO training (stable-baselines3; each preset's network, env and minibatch; rollouts "
        "of two minibatches)"
    )
    for name, (train_cfg, macs, conv) in presets.items():
        flops = train_flops_per_step(train_cfg, macs)
        print(
            f"{name}: {macs / 1e6:.2f}M multiply-adds per observation, {flops / 1e6:.0f} MFLOP "
            f"per PPO step; largest conv {conv} (batch {train_cfg.agent.ppo.batch_size})"
        )
        for threads in cfg.threads:
            torch.set_num_threads(threads)
            obs, _ = spaces(train_cfg)
            choice = choose_precision(
                "auto",
                train_cfg.agent.network,
                tuple(int(x) for x in obs.shape),  # type: ignore[arg-type]
                float(obs.high.max()),
                train_cfg.agent.ppo.batch_size,
            )
            t.figures[f"{name}_auto_t{threads}"] = choice.precision
            runs = {}
            for precision in PRECISIONS:
                r = throughput(train_cfg, precision, threads, cfg.rollouts)
                runs[precision] = r
                peak = t.figures[f"peak_{name}_{precision}_t{threads}"]
                achieved = r["steps_per_s"] * flops / 1e9
                share = achieved / peak
                t.show(
                    f"{name}, {precision}, {threads} thread(s)",
                    r["steps_per_s"],
                    "steps/s",
                    f"{achieved:5.1f} GFLOP/s = {100 * share:3.0f} % of peak",
                )
                t.figures[f"{name}_{precision}_t{threads}_share_of_peak"] = share
            ratio = runs["bf16"]["steps_per_s"] / runs["fp32"]["steps_per_s"]
            print(
                f"  bf16 / fp32: {ratio:.2f}x; precision=auto picks {choice.precision} "
                f"({choice.reason})"
            )
            best = runs[choice.precision]
            parts = ", ".join(f"{k} {best[k]:.3f}" for k in (*PARTS, "other"))
            print(
                f"  s per 1,000 steps ({choice.precision}): {parts}; kernel time "
                f"{100 * best['sys_share']:.1f} %, {best['faults_per_k']:.0f} page faults"
            )
            t.figures.update({f"{name}_split_t{threads}_{k}": v for k, v in best.items()})


def analysis_section(t: Table, cfg: BenchmarkConfig) -> None:
    from agents.interp.divergence import evaluate_divergence
    from agents.policy.hooked import IMPALA_HOOK, HookedMazeNet
    from agents.policy.loading import load_pretrained
    from agents.policy.networks import make_embedder
    from agents.policy.rollout import net_act_fn
    from agents.settings.train import NetworkConfig

    torch.set_num_threads(cfg.threads[0])
    t.heading("analysis")
    policy = load_pretrained()
    env = policy.config.env.held_out()
    start = time.perf_counter()
    evaluate_divergence(
        net_act_fn(policy.net), env, env.eval_region, 1000, policy.config.eval.start_level
    )
    t.show("evaluate shipped policy, 1,000 mazes/distribution", time.perf_counter() - start, "s")
    emb = make_embedder(NetworkConfig(kind="impala", scale=4), (3, 64, 64), 255.0)
    net = HookedMazeNet(emb, torch.nn.Linear(256, 15), torch.nn.Linear(256, 1), (3, 64, 64))
    obs = torch.randint(0, 255, (64, 3, 64, 64)).float()

    def forward_ms(ctx: Any) -> float:
        times = []
        with torch.no_grad():
            for _ in range(max(3, cfg.repeats)):
                begin = time.perf_counter()
                with ctx():
                    net(obs)
                times.append(time.perf_counter() - begin)
        return statistics.median(times) * 1e3

    forward_ms(contextlib.nullcontext)  # warm-up
    plain = forward_ms(contextlib.nullcontext)
    cached = forward_ms(lambda: net.hooks(cache=[IMPALA_HOOK]))
    patched = forward_ms(lambda: net.hooks(cache=[IMPALA_HOOK], patches={IMPALA_HOOK: abs}))
    t.show("IMPALA s=4 forward, batch 64", plain, "ms")
    t.show("  + cache one hook", 100 * (cached / plain - 1), "%")
    t.show("  + patch and cache it", 100 * (patched / plain - 1), "%")


def run_benchmark(cfg: BenchmarkConfig) -> dict[str, Any]:
    """Measures and prints every figure; returns them by name (and writes ``cfg.json``)."""
    from agents.settings import preset

    validate_benchmark(cfg)
    t = Table()
    machine_section(t)
    if cfg.environment:
        environment_section(t, cfg)
    if cfg.train and cfg.presets:
        presets = {}
        for name in cfg.presets:
            train_cfg = preset(name, list(cfg.overrides))
            presets[name] = (train_cfg, *network_cost(train_cfg))
        peak_section(t, cfg, presets)
        training_section(t, cfg, presets)
    if cfg.eval:
        analysis_section(t, cfg)
    if cfg.json:
        write_json(Path(cfg.json), t.figures)
    return t.figures
