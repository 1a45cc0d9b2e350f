"""Benchmarks: ``python -m experiments.benchmark [--quick] [--no-train] [--threads 1 2]``.

Prints environment steps/s (1, 64, 256 envs; rgb and grid), maze generation rate, procgen's maze
measured in the same run where ``.venv-procgen`` exists (``make peer-venv``), and PPO training
throughput with the share of time spent in the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mazegen import MazeConfig
from mazegen.benchmark import env_steps_per_second, mazes_per_second, procgen_steps_per_second


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=1.0, help="length of each timed window")
    p.add_argument("--repeats", type=int, default=3, help="timed windows per figure (median)")
    p.add_argument("--no-train", action="store_true", help="skip PPO training throughput")
    p.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="torch thread counts for the training figures",
    )
    p.add_argument(
        "--procgen-python",
        default=".venv-procgen/bin/python",
        help="python of a venv with procgen-mirror (make peer-venv)",
    )
    p.add_argument(
        "--no-eval", action="store_true", help="skip the evaluation timing and the hook overhead"
    )
    p.add_argument(
        "--presets",
        nargs="*",
        default=["easy", "hard"],
        help="seed-scale presets whose training throughput and time split are measured",
    )
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.repeats < 1 or any(t < 1 for t in args.threads):
        p.error("--seconds must be > 0, --repeats >= 1 and --threads >= 1")
    results: dict[str, float | None] = {}

    def show(name: str, value: float | None, unit: str) -> None:
        results[name] = value
        text = "n/a" if value is None else f"{value:>12,.0f} {unit}"
        print(f"{name:<48} {text}", flush=True)

    hard = MazeConfig()  # procgen hard: 25x25 world, sizes 3..25
    print("== environment (random actions, procgen hard mazes, median of windows) ==")
    for mode in ("rgb", "grid"):
        for n in (1, 64, 256):
            show(
                f"mazegen {mode:4s} {n:>3} envs",
                env_steps_per_second(n, hard.replace(obs_mode=mode), args.seconds, args.repeats),
                "steps/s",
            )
    show(
        "mazegen generation, 25x25 mazes",
        mazes_per_second(hard.replace(min_size=25), seconds=args.seconds, repeats=args.repeats),
        "mazes/s",
    )
    show(
        "mazegen generation, sizes 3..25",
        mazes_per_second(hard, seconds=args.seconds, repeats=args.repeats),
        "mazes/s",
    )
    peer = procgen_steps_per_second(
        Path(args.procgen_python), 64, "hard", args.seconds, args.repeats
    )
    show("procgen maze hard 64 envs (peer, same run)", peer, "steps/s")
    if peer:
        ratio = results["mazegen rgb   64 envs"] / peer  # type: ignore[operator]
        print(f"{'ratio mazegen rgb / procgen at 64 envs':<48} {ratio:>12.1f} x")
        results["ratio_rgb64_vs_procgen"] = ratio
    if not args.no_train:
        from agents.benchmark import training_throughput
        from agents.config import AgentConfig, PPOConfig, TrainConfig
        from agents.networks import NetworkConfig

        conf = Path(__file__).resolve().parent.parent / "conf"
        quick = _preset(conf, "quick")
        impala = TrainConfig(
            env=hard,
            num_envs=16,
            agent=AgentConfig(
                network=NetworkConfig(kind="impala", scale=4),
                ppo=PPOConfig(n_steps=32, batch_size=256),
            ),
        )
        print("== PPO training (stable-baselines3, CPU) ==")
        for threads in args.threads:
            r = training_throughput(quick, 40_000, threads)
            show(f"quick preset, {threads} torch thread(s)", r["steps_per_s"], "steps/s")
            print(f"{'  share of wall time in the env':<48} {100 * r['env_share']:>12.1f} %")
            results[f"quick_env_share_t{threads}"] = r["env_share"]
        for threads in args.threads:
            r = training_throughput(impala, 1024, threads)
            show(
                f"langosco IMPALA s=4, 64x64 RGB, {threads} thread(s)", r["steps_per_s"], "steps/s"
            )
            print(f"{'  share of wall time in the env':<48} {100 * r['env_share']:>12.2f} %")
            results[f"impala_env_share_t{threads}"] = r["env_share"]
    if not args.no_train and args.presets:
        import dataclasses

        from agents.benchmark import time_split, training_throughput

        conf = Path(__file__).resolve().parent.parent / "conf"
        print("== seed-scale presets (IMPALA on grid observations, PPO, CPU) ==")
        for name in args.presets:
            base = _preset(conf, name)
            steps = 8 * base.agent.ppo.n_steps * base.num_envs
            for threads in args.threads:
                for precision in ("fp32", "bf16"):
                    cfg = dataclasses.replace(base, precision=precision)
                    r = training_throughput(cfg, steps, threads)
                    show(
                        f"{name} preset, {precision}, {threads} thread(s)",
                        r["steps_per_s"],
                        "steps/s",
                    )
                    results[f"{name}_{precision}_env_share_t{threads}"] = r["env_share"]
                split = time_split(base, threads)
                total = 1000.0 / results[f"{name} preset, bf16, {threads} thread(s)"]  # type: ignore[operator]
                parts = ", ".join(f"{k} {v:.3f}" for k, v in split.items())
                other = total - sum(split.values())
                print(
                    f"  s per 1,000 steps (bf16, {threads} thread(s)): {parts}, "
                    f"SB3 and the rest {other:.3f} (of {total:.3f})"
                )
                results.update({f"{name}_split_t{threads}_{k}": v for k, v in split.items()})
    if not args.no_eval:
        import torch

        from agents.benchmark import evaluation_seconds, hook_overhead
        from agents.networks import MazeNet, NetworkConfig, make_embedder

        torch.set_num_threads(args.threads[0])
        print("== analysis ==")
        ev = evaluation_seconds(1000)
        print(
            f"{'evaluate shipped policy, 1,000 mazes/distribution':<48} {ev['seconds']:>12.1f} s",
            flush=True,
        )
        results["evaluate_seconds_1000"] = ev["seconds"]
        emb = make_embedder(NetworkConfig(kind="impala", scale=4), (3, 64, 64), 255.0)
        net = MazeNet(emb, torch.nn.Linear(256, 15), torch.nn.Linear(256, 1)).eval()
        obs = torch.randint(0, 255, (64, 3, 64, 64)).float()
        h = hook_overhead(net, obs, "embedder.block2.res1.resadd_out", repeats=10)
        print(f"{'IMPALA s=4 forward, batch 64':<48} {h['plain_ms']:>12.1f} ms")
        print(
            f"{'  + cache one hook / + patch and cache':<48} "
            f"{h['cache_overhead_pct']:>+11.1f} % / {h['patch_overhead_pct']:+.1f} %"
        )
        results.update({f"hook_{k}": v for k, v in h.items()})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _preset(conf: Path, name: str):  # type: ignore[no-untyped-def]
    from hydra import compose, initialize_config_dir

    from agents.config import register_configs, to_train_config
    from experiments._cli import register_resolvers

    register_resolvers()
    register_configs()
    with initialize_config_dir(str(conf.resolve()), version_base=None):
        cfg = compose("config", overrides=[f"experiment={name}"])
    return to_train_config(cfg)


if __name__ == "__main__":
    sys.exit(main())
