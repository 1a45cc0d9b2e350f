import atexit
import io
import logging
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

# Headless everywhere: pygame windows go to SDL's dummy driver.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# One torch (OpenMP) thread per test process, set before torch is imported: the suite runs two
# workers on two cores, and a second thread per worker spins on a core that the other worker
# uses (measured: the easy agents' evaluation 10-20x slower with two threads beside a busy core).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
# the precision probe's cache in a folder of the test session's, not in the user's home: made
# by the first process (pytest's, before its workers start; they inherit the variable) and
# removed when that process exits, after its workers
if "CHEESE_MAZE_CACHE" not in os.environ:
    os.environ["CHEESE_MAZE_CACHE"] = tempfile.mkdtemp(prefix="cheese-maze-cache-")
    atexit.register(shutil.rmtree, os.environ["CHEESE_MAZE_CACHE"], ignore_errors=True)
# every training start measures the other processes' load for its log line, over 0.25 s by
# default: a twentieth of a second is enough for the tests' runs (torch_threads=1, so the
# measurement decides nothing in them)
os.environ.setdefault("CHEESE_MAZE_LOAD_SECONDS", "0.05")


ROOT = Path(__file__).resolve().parent.parent
# The tests' training run: whole mechanics (rollouts, PPO updates, checkpoints, evaluations,
# TensorBoard) at the smallest size that has several of each: 4 rollouts of 8 envs x 16 steps,
# a checkpoint every rollout, an evaluation every second one, a network of 4 channels and 16
# units and 30-step episodes. Nothing a test claims depends on learning.
ROLLOUT = 8 * 16  # num_envs x agent.ppo.n_steps
TINY = [
    "total_steps=512",
    "num_envs=8",
    "agent.ppo.n_steps=16",
    "agent.ppo.batch_size=64",
    "agent.network.channels=4",
    "agent.network.fc=16",
    "env.max_steps=30",
    "checkpoint_every=128",
    "eval.every_steps=256",
    "eval.episodes=8",
    "eval.final_episodes=16",
    "progress=false",
    "torch_threads=1",  # one per test worker (conftest's OMP_NUM_THREADS)
]


@dataclass
class Ran:
    """What a command printed and its exit status (as `subprocess.CompletedProcess` has them)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(module, *args, env=None, cwd=ROOT, timeout=None):
    """``python -m experiments.<module> args...``, run in this process.

    `runpy` executes the module as ``__main__`` (its pre-Hydra check, then its Hydra main), with
    the arguments in ``sys.argv``, ``env`` (if given) as the whole environment, ``cwd`` as the
    working folder and stdout and stderr captured; ``sys.exit`` becomes the return code. That is
    the code path of a new process without paying torch's import again (1-2 s on a fast CPU, up
    to 8 s on a slow one, per command). What a new process would start without is reset: the
    logging handlers Hydra adds, its record of the last run, torch's thread count, the run-folder
    names claimed. Use `fork_cli` where the claim is about a process (signals, two runs at
    once) and `spawn_cli` where it is about a fresh interpreter (the wiring of the exit
    status). ``timeout`` is accepted for `spawn_cli`'s signature and ignored."""
    from hydra.core.hydra_config import HydraConfig

    from agents import cli

    out, err = io.StringIO(), io.StringIO()
    saved = (list(sys.argv), dict(os.environ), os.getcwd())
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    threads = _torch_threads()
    cli._claimed.clear()  # a new process has claimed no run folder yet
    HydraConfig.instance().cfg = None  # nor run Hydra (`agents.cli.overrides` reads its record)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = _run_module(module, args)
    finally:
        sys.argv = saved[0]
        os.environ.clear()
        os.environ.update(saved[1])
        os.chdir(saved[2])
        for h in root.handlers:
            if h not in handlers:
                h.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    return Ran(code, out.getvalue(), err.getvalue())


def _run_module(module, args) -> int:
    """Runs ``experiments.<module>`` as ``__main__`` with ``args`` in ``sys.argv``; returns the
    status its ``sys.exit`` gives (a message passed to it is printed to stderr, status 1)."""
    sys.argv = [f"experiments/{module}.py", *args]
    try:
        runpy.run_module(f"experiments.{module}", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def _torch_threads():
    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()


def spawn_cli(module, *args, env=None, cwd=ROOT, timeout=300):
    """``python -m experiments.<module> args...`` in a new process (see `run_cli`)."""
    return subprocess.run(
        [sys.executable, "-m", f"experiments.{module}", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


class Forked:
    """A command running in a forked child of this process, with `subprocess.Popen`'s
    ``pid``, ``stdout`` (text lines), ``returncode``, ``wait``, ``kill`` and ``communicate``."""

    def __init__(self, pid: int, out_fd: int, err_fd: int | None) -> None:
        self.pid = pid
        self.stdout = os.fdopen(out_fd, "r")
        self.stderr = None if err_fd is None else os.fdopen(err_fd, "r")
        self.returncode: int | None = None

    def wait(self, timeout=None):
        """The exit status (minus the signal's number for a child a signal ended, as Popen's);
        ``timeout`` is accepted for Popen's signature: the callers guard with a timer."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout=None):
        """Both outputs, read to their end, once the child has exited."""
        guard = threading.Timer(timeout, self.kill) if timeout else None
        if guard is not None:
            guard.start()
        err: list[str] = []
        reader = None
        if self.stderr is not None:  # drained beside stdout: a full pipe would block the child
            reader = threading.Thread(target=lambda: err.append(self.stderr.read()))
            reader.start()
        out = self.stdout.read()
        if reader is not None:
            reader.join()
        self.wait()
        if guard is not None:
            guard.cancel()
        return out, "".join(err) if self.stderr is not None else None


def fork_cli(module, *args, cwd=ROOT, merge_stderr=False):
    """``python -m experiments.<module> args...`` in a new process that starts from a fork of
    this one, so with torch, Hydra and the training code already imported (a fresh interpreter
    pays 3 s here, 20 s or more on a slow CPU, for its imports). For claims about a process:
    the signals it gets, several runs at once. The child runs the module as `run_cli` does,
    with its stdout and stderr (or both, ``merge_stderr``) on pipes, the default signal
    handlers of a new interpreter, and exits with the status the command's ``sys.exit`` gives.
    Returns a `Forked` (a `subprocess.Popen` where ``os.fork`` does not exist)."""
    if not hasattr(os, "fork"):
        return subprocess.Popen(
            [sys.executable, "-m", f"experiments.{module}", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
        )
    import torch._dynamo  # noqa: F401  (torch's optimizers import it when first built)
    from hydra.core.hydra_config import HydraConfig

    import agents.train.training  # noqa: F401
    from agents import cli

    # imported here once, not again in every child (a second or two each)
    out_r, out_w = os.pipe()
    err_r, err_w = (None, out_w) if merge_stderr else os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(out_w)
        if not merge_stderr:
            os.close(err_w)
        return Forked(pid, out_r, err_r)
    code = 1  # the child: never returns into pytest
    try:
        os.close(out_r)
        if err_r is not None:
            os.close(err_r)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        root = logging.getLogger()
        for h in list(root.handlers):  # pytest's capturing handlers are this process's
            root.removeHandler(h)
        cli._claimed.clear()
        HydraConfig.instance().cfg = None
        os.chdir(cwd)
        code = _run_module(module, args)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def train_cli(*args, check=True, timeout=240):
    """``python -m experiments.train args...`` in this process (`run_cli`); fails the test on a
    non-zero status unless ``check`` is false."""
    out = run_cli("train", *args, env=dict(os.environ, HYDRA_FULL_ERROR="0"), timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"train failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def train_config(*overrides):
    """The `TrainConfig` that ``python -m experiments.train`` would compose from ``overrides``."""
    from hydra import compose, initialize_config_dir

    from agents.cli import register_resolvers
    from agents.settings import register_schemas
    from agents.settings.train import to_train_config

    register_resolvers()
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        return to_train_config(compose("config", overrides=list(overrides)))


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory, request):
    """A folder of this test session's, common to its xdist workers (each worker's base folder
    is a child of the session's; without workers the base folder is the session's own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


@pytest.fixture(scope="session")
def tiny_run(session_dir):
    """A finished tiny training run, trained once per test session and shared by the xdist
    workers (the first to arrive trains it under a lock; tests copy it before changing it)."""
    import fcntl

    shared = session_dir
    run = shared / "tiny-run"
    with open(shared / "tiny-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (run / "metrics.json").is_file():
            out = train_cli(*TINY, f"hydra.run.dir={run}")
            assert "held-out P(cheese)" in out.stdout
    return run


def assert_same_grads_unlike_plain(explicit, hooked, plain, x):
    """``hooked`` (penalty installed, backward run) has the gradients of ``explicit`` (penalty
    written out, backward run), and they differ from those of ``plain`` (no penalty) on ``x``."""
    import torch

    hooked(x).pow(2).sum().backward()
    for a, b in zip(explicit.parameters(), hooked.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    plain(x).pow(2).sum().backward()
    assert not torch.allclose(plain[0].weight.grad, hooked[0].weight.grad)


#: The slowest default tests (`pytest --durations`), most expensive first: `pytest_collection_
#: modifyitems` puts them at the head of the run, so that the two workers start on them and
#: finish on the many short tests together, instead of one worker ending the run alone on a
#: long test drawn last. Only the order changes; a name that no longer exists is ignored.
SLOWEST_FIRST = (
    "test_docs.py::test_site_builds_strictly_and_refuses_what_is_broken",
    "test_study_headline.py::test_the_spread_penalty_grows_a_channel_that_steers_when_set_around",
    "test_study.py::test_study_measures_every_agent_into_one_table",
    "test_notebooks.py::test_notebook_runs_top_to_bottom[03_run_folder]",
    "test_patch.py::test_retarget_on_the_shipped_policy_reports_every_intervention",
    "test_study_headline.py::test_real_cheese_retargets_and_the_best_channels_do_not",
    "test_checkpoint2023.py::test_evaluate_runs",
    "test_patch.py::test_retarget_runs_on_the_impala_network",
    "test_play.py::test_recordings_are_readable_timed_and_can_compare",
    "test_study.py::test_study_pools_an_agents_figures_over_maze_sets",
    "test_run_safety.py::test_resume_honours_or_refuses_overrides_and_cleans_debris",
    "test_patch.py::test_patch_cli_positional_analysis_and_errors",
    "test_training.py::test_kill_then_resume_continues_steps_and_events",
    "test_study_headline.py::test_the_steering_agents_top_channel",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        node = item.nodeid.split("/")[-1]
        return next((i for i, name in enumerate(SLOWEST_FIRST) if node.startswith(name)), 99)

    items.sort(key=rank)  # stable: the rest keep their order
