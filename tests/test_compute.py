"""The machine a run computes on: the precision `auto` picks from measured speeds, the cache of
the probe, the log line, and the benchmark end to end at a tiny size."""

import json
import subprocess
import sys
import tempfile

import pytest
from conftest import ROOT

torch = pytest.importorskip("torch")

from agents.settings.train import NetworkConfig  # noqa: E402
from agents.train.compute import MAX_AUTO_THREADS, choose_threads, machine  # noqa: E402
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


@pytest.mark.parametrize(
    "fp32_s, bf16_s, picked",
    [
        ([0.012, 0.010, 0.011], [0.040, 0.050, 0.045], "fp32"),  # emulated bf16: 0.24x
        ([0.010, 0.009, 0.011], [0.004, 0.004, 0.005], "bf16"),  # AMX: 2.5x
        ([0.010, 0.010, 0.010], [0.0095, 0.0095, 0.0095], "fp32"),  # 1.05x: not worth it
    ],
)
def test_the_probe_decides_from_the_median_of_the_timed_steps(fp32_s, bf16_s, picked):
    """Given the seconds each precision's steps took, the probe's ratio is that of their
    medians and ``auto`` picks what those timings say; fp32 is timed first, then bf16, each
    on the network and a batch of the requested size."""
    seen = []

    def step(net, x, bf16, repeats, budget_s):
        seen.append((bf16, tuple(x.shape)))
        return bf16_s if bf16 else fp32_s

    net = NetworkConfig(kind="small", channels=4, fc=16)
    ratio, fp32, bf16 = probe_ratio(net, (3, 9, 9), 1.0, 8, step=step)
    assert (fp32, bf16) == (sorted(fp32_s)[1], sorted(bf16_s)[1])
    assert ratio == pytest.approx(sorted(fp32_s)[1] / sorted(bf16_s)[1])
    assert decide("auto", ratio).precision == picked
    assert seen == [(False, (8, 3, 9, 9)), (True, (8, 3, 9, 9))]


def test_the_real_probe_runs_bf16_autocast_and_times_it(monkeypatch):
    """The real timer: each precision is timed on the network's forward and backward, the bf16
    one under autocast (an emulated bf16 is what makes it slow on AVX2 CPUs)."""
    from agents.train import precision

    dtypes = []

    def spy(net, x, bf16, repeats, budget_s):
        hook = net.register_forward_hook(lambda m, i, o: dtypes.append((bf16, o.dtype)))
        try:
            return precision.time_step(net, x, bf16, repeats, budget_s)
        finally:
            hook.remove()

    ratio, fp32_s, bf16_s = probe_ratio(
        NetworkConfig(kind="small", channels=4, fc=16), (3, 9, 9), 1.0, 8, budget_s=0.3, step=spy
    )
    assert fp32_s > 0 and bf16_s > 0 and ratio > 0
    assert {d for b, d in dtypes if not b} == {torch.float32}
    assert {d for b, d in dtypes if b} == {torch.bfloat16}


def test_machine_facts():
    m = machine()
    assert m.capability == torch.backends.cpu.get_cpu_capability()
    assert m.cores >= 1 and m.cpu and m.capability in m.kind


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_tuned_allocator_serves_large_blocks_from_the_heap():
    """After `tune_allocator`, a 24 MiB block comes from the heap (kept and reused after it is
    freed) instead of a fresh mmap that is unmapped again on free; without it, from mmap.
    Checked in a new process, since this one's allocator was tuned by earlier tests."""
    code = """
import ctypes, sys
from agents.train.compute import tune_allocator
tuned = tune_allocator() if sys.argv[1] == "tune" else None
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
address = libc.malloc(24 << 20)
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
lo, hi = (int(x, 16) for x in heap[0].split("-"))
print(tuned, lo <= address < hi)
"""
    answers = {}
    for mode in ("tune", "plain"):
        out = subprocess.run(
            [sys.executable, "-c", code, mode], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        answers[mode] = out.stdout.split()
    assert answers == {"tune": ["True", "True"], "plain": ["None", "False"]}


@pytest.mark.parametrize(
    "requested, cores, busy, threads",
    [
        (0, 2, 0.1, 2),  # an idle 2-core machine: both cores
        (0, 2, 0.2, 2),
        (0, 2, 0.3, 1),  # another job on a quarter of a core or more: that core is left to it
        (0, 2, 1.0, 1),  # the other core busy
        (0, 2, 1.9, 1),  # both busy: still one thread
        (0, 2, None, 1),  # load unknown
        (0, 16, 0.0, 4),  # at most MAX_AUTO_THREADS
        (2, 2, 1.0, 2),  # an explicit count wins
        (3, 2, 0.0, 3),
    ],
)
def test_threads_are_the_idle_cores_unless_set(requested, cores, busy, threads):
    n, why = choose_threads(requested, cores, busy)
    assert n == threads and f"torch_threads={requested}" in why
    assert MAX_AUTO_THREADS == 4


def test_training_logs_its_compute_and_records_the_choice_in_its_config(tiny_run):
    log = (tiny_run / "train.log").read_text()
    assert "compute: CPU (" in log and "torch thread(s)" in log and "precision: " in log
    config = (tiny_run / "config.yaml").read_text()
    assert "precision: auto" in config
    assert "torch_threads: 1" in config and "torch_threads_chosen: 1" in config
    chosen = next(ln for ln in config.splitlines() if ln.startswith("precision_chosen:"))
    assert "fp32:" in chosen or "bf16:" in chosen


def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path, monkeypatch):
    from conftest import run_cli

    scratch = tmp_path / "tmp"  # the system's temporary folder, as the benchmark sees it
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
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
    # no empty folder left behind at every `learn` (SB3's default logger makes one)
    assert not list(scratch.glob("SB3-*"))
