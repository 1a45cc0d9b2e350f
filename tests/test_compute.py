"""The machine a run computes on: the precision `auto` picks from measured speeds, the cache of
the probe, the log line, and the benchmark end to end at a tiny size."""

import json

import pytest

torch = pytest.importorskip("torch")

from agents.settings.train import NetworkConfig  # noqa: E402
from agents.train.compute import machine, tune_allocator  # noqa: E402
from agents.train.precision import (  # noqa: E402
    BF16_MIN_SPEEDUP,
    choose_precision,
    decide,
    probe_ratio,
)


@pytest.mark.parametrize(
    "ratio, picked",
    [
        (2.4, "bf16"),  # AMX: bf16 runs the network 2.4x as fast
        (BF16_MIN_SPEEDUP, "bf16"),
        (1.05, "fp32"),  # a tie is not worth bf16's rounding
        (0.08, "fp32"),  # AVX2: bf16 emulated
        (None, "fp32"),  # not measurable here
    ],
)
def test_auto_picks_bf16_only_where_it_was_measured_faster(ratio, picked):
    choice = decide("auto", ratio, "this CPU (X, AVX2)")
    assert choice.precision == picked and not choice.warning
    assert choice.reason.startswith(f"{picked}:")
    if ratio is not None:
        assert f"{ratio:.2f}x fp32" in choice.reason and "this CPU (X, AVX2)" in choice.reason
    if ratio is not None and ratio < 0.5:
        assert "emulated" in choice.reason


def test_explicit_precisions_are_kept_and_a_slow_bf16_is_warned_about():
    assert decide("fp32", 3.0).precision == "fp32"
    fast = decide("bf16", 2.0)
    assert fast.precision == "bf16" and not fast.warning
    slow = decide("bf16", 0.1, "this CPU (EPYC, AVX2)")
    assert slow.precision == "bf16"  # runs as asked
    assert "0.10x fp32" in slow.warning and "\n" not in slow.warning
    with pytest.raises(ValueError, match="precision must be one of"):
        decide("fp16", 1.0)


def test_the_probe_is_measured_once_per_machine_and_network(tmp_path, monkeypatch):
    monkeypatch.setenv("CHEESE_MAZE_CACHE", str(tmp_path))
    calls = []

    def probe(network, shape, high, batch, device):
        calls.append((network.kind, shape, batch))
        return 0.25, 0.01, 0.04

    net = NetworkConfig(kind="small", channels=4)
    first = choose_precision("auto", net, (3, 9, 9), 1.0, 512, probe=probe)
    again = choose_precision("auto", net, (3, 9, 9), 1.0, 512, probe=probe)
    assert first == again and first.precision == "fp32" and first.ratio == 0.25
    assert calls == [("small", (3, 9, 9), 128)]  # measured once, on at most 128 observations
    choose_precision(
        "auto", NetworkConfig(kind="small", channels=8), (3, 9, 9), 1.0, 512, probe=probe
    )
    assert len(calls) == 2  # another network is measured again
    assert choose_precision("fp32", net, (3, 9, 9), 1.0, 512, probe=probe).ratio is None
    assert len(calls) == 2  # fp32 needs no measurement
    cached = json.loads((tmp_path / "precision.json").read_text())
    assert len(cached) == 2 and all(e["ratio"] == 0.25 for e in cached.values())
    (tmp_path / "precision.json").write_text("{not json")  # a damaged cache is measured anew
    assert choose_precision("auto", net, (3, 9, 9), 1.0, 512, probe=probe).ratio == 0.25
    assert len(calls) == 3


def test_the_real_probe_times_both_precisions_on_the_network():
    ratio, fp32_s, bf16_s = probe_ratio(
        NetworkConfig(kind="small", channels=4, fc=16), (3, 9, 9), 1.0, 8, budget_s=0.5
    )
    assert fp32_s > 0 and bf16_s > 0 and ratio == pytest.approx(fp32_s / bf16_s)


def test_machine_facts_and_allocator():
    m = machine()
    assert m.capability == torch.backends.cpu.get_cpu_capability()
    assert m.cores >= 1 and m.cpu and m.capability in m.kind
    assert isinstance(tune_allocator(), bool)


def test_training_logs_its_compute_and_records_the_choice_in_its_config(tiny_run):
    log = (tiny_run / "train.log").read_text()
    assert "compute: CPU (" in log and "torch thread(s)" in log and "precision: " in log
    config = (tiny_run / "config.yaml").read_text()
    assert "precision: auto" in config
    chosen = next(ln for ln in config.splitlines() if ln.startswith("precision_chosen:"))
    assert "fp32:" in chosen or "bf16:" in chosen


def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path):
    from conftest import run_cli

    out = run_cli(
        "benchmark",
        "environment=false",
        "eval=false",
        "presets=[quick]",
        "threads=[1]",
        "rollouts=1",
        "repeats=1",
        "matmul_size=128",
        "overrides=['num_envs=8','agent.ppo.batch_size=32','agent.ppo.n_steps=8']",
        f"json={tmp_path / 'bench.json'}",
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "CPU: " in text and "capability" in text
    for line in ("matmul 128^2, fp32", "quick: largest conv, bf16", "quick, fp32, 1 thread"):
        assert line in text, text
    assert "% of peak" in text and "precision=auto picks" in text and "s per 1,000 steps" in text
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert figures["quick_fp32_t1_share_of_peak"] > 0
    assert figures["quick_auto_t1"] in ("fp32", "bf16")
    assert figures["quick_split_t1_steps_per_s"] > 0
