"""What every command line shares: one-line errors, validation before Hydra writes anything,
and the resolvers that name run folders. The entry points in ``experiments/`` are Hydra mains
that call this and one function of the package each.

Every entry point runs `precheck` on its own command line before ``hydra.main``: the config is
composed with Hydra's compose API and validated by the entry point's own check, so a typo, a
wrong type, an unknown key or an out-of-range value stops with one ``error:`` line (exit 2)
before a run folder exists.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from agents.settings.base import CONF, ConfigError, to_object


def _errors() -> tuple[type[BaseException], ...]:
    from agents.policy.errors import HookError
    from agents.run.folder import RunError
    from mazegen import MazeConfigError, MazeStateError

    return (ConfigError, RunError, HookError, MazeConfigError, MazeStateError)


def fail(message: str) -> None:
    """Prints ``error: <message>`` (one line) and exits with status 2."""
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


@contextlib.contextmanager
def fail_cleanly() -> Iterator[None]:
    """Turns the project's input errors into ``error: <one line>`` and exit status 2."""
    try:
        yield
    except _errors() as e:
        fail(str(e))


def _known_keys(schema: type, prefix: str = "") -> dict[str, type | None]:
    """Dotted setting names of a dataclass schema -> the nested dataclass (or None for a leaf)."""
    out: dict[str, type | None] = {}
    for f in fields(schema):
        name = prefix + f.name
        typ = f.default_factory() if callable(f.default_factory) else None  # type: ignore[misc]
        if is_dataclass(typ):
            out[name] = type(typ)
            out.update(_known_keys(type(typ), name + "."))
        else:
            out[name] = None
    return out


def unknown_key(cfg: Any, schema: type) -> str | None:
    """A one-line message for the first key of ``cfg`` that ``schema`` does not have."""
    known = _known_keys(schema)

    def walk(node: Any, prefix: str) -> str | None:
        for key in node:
            name = f"{prefix}{key}"
            if name == "hydra" and not prefix:
                continue
            if name not in known:
                siblings = [k.rsplit(".", 1)[-1] for k in known if k.startswith(prefix)]
                siblings = [k for k in siblings if "." not in k]
                close = difflib.get_close_matches(str(key), siblings, n=1)
                hint = f"did you mean {prefix}{close[0]}?" if close else "see --help"
                return f"unknown setting {name!r}; {hint}"
            child = node[key]
            if known[name] is not None and OmegaConf.is_dict(child):
                found = walk(child, name + ".")
                if found:
                    return found
        return None

    return walk(cfg, "")


def one_line(e: BaseException, schema: type | None = None) -> str:
    """Hydra's and OmegaConf's multi-line errors, condensed to one line that names the key."""
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(e).strip()
    cause = e.__cause__
    full_key = getattr(cause, "full_key", None) or getattr(e, "full_key", None)
    if isinstance(e, OverrideParseException):
        first = text.splitlines()[0]
        quoted = first.split("'")[1] if first.count("'") >= 2 else first
        return f"cannot parse the override {quoted!r}; write key=value (quote values with spaces)"
    if isinstance(e, MissingConfigException):
        lines = text.splitlines()
        options = [ln.strip() for ln in lines if ln.startswith("\t") and "=" not in ln]
        return f"{lines[0].strip()}; available: {', '.join(options)}"
    if "Could not override" in text:
        key = text.split("'")[1]
        hint = ""
        if schema is not None:
            known = [k for k in _known_keys(schema) if k.count(".") == key.count(".")]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown setting {key!r}{hint}"
    if cause is not None and full_key:
        msg = str(cause).strip().splitlines()[0]
        return f"{full_key}: {msg}"
    return text.splitlines()[0]


def _check_dir(path: str) -> None:
    """Refuses a run folder that cannot be created; leaves nothing behind."""
    p = Path(path).expanduser().absolute()
    top = p
    while not top.parent.exists():
        top = top.parent
    if p.exists():
        if not p.is_dir():
            fail(f"cannot use the run folder {path}: it is a file")
        return
    try:
        p.mkdir(parents=True)
    except OSError as e:
        fail(f"cannot create the run folder {path}: {e.strerror or e}")
    for d in [p, *p.parents]:  # remove what this probe made, deepest first
        d.rmdir()
        if d == top:
            break


def _help(config_name: str, args: list[str]) -> None:
    """Prints a command's ``--help`` and exits, where its help template shows only the
    command's own settings (``$CONFIG``): what Hydra prints, without the listing of every config
    group's options that Hydra composes for the template whether it shows them or not (2-3 s
    on a fast CPU, 10 s on a slow one). A template that shows more is left to Hydra."""
    import string

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    register()
    try:
        with initialize_config_dir(str(CONF), version_base=None):
            cfg = compose(config_name, overrides=args, return_hydra_config=True)
    except Exception:  # noqa: BLE001 (Hydra's own --help reports a bad override its way)
        return
    template = str(cfg.hydra.help.template)
    if any(f"${k}" in template for k in ("FLAGS_HELP", "HYDRA_CONFIG_GROUPS", "APP_CONFIG_GROUPS")):
        return
    with open_dict(cfg):
        del cfg["hydra"]
    print(string.Template(template).substitute(CONFIG=OmegaConf.to_yaml(cfg)))
    sys.exit(0)


def precheck(config_name: str, check: Callable[[Any], Any], schema: type) -> None:
    """Composes and validates this process's command line before ``hydra.main`` runs.

    Args:
        config_name: The entry point's config in ``conf/``.
        check: Validates the composed config (raises the project's errors).
        schema: The dataclass the config must fit (unknown keys are refused).
    """
    args = sys.argv[1:]
    if [a for a in args if a.startswith("-")] == ["--help"]:
        _help(config_name, [a for a in args if a != "--help"])
    if any(a.startswith("-") for a in args):
        return  # --help, --cfg, -m: Hydra's own modes (a sweep is checked job by job)
    from hydra import compose, initialize_config_dir

    settings = [a for a in args if not a.lstrip("+~").startswith("hydra")]
    for a in args:
        if a.startswith("hydra.run.dir="):
            _check_dir(a.split("=", 1)[1])
    register()
    try:
        with initialize_config_dir(str(CONF), version_base=None):
            cfg = compose(config_name, overrides=settings)
    except Exception as e:  # Hydra's and OmegaConf's errors, many lines each
        fail(one_line(e, schema))
    problem = unknown_key(cfg, schema)
    if problem:
        fail(problem)
    import logging

    logging.disable(logging.WARNING)  # notes are printed once, by the run itself
    try:
        with fail_cleanly():
            try:
                check(cfg)
            except _errors():
                raise
            except Exception as e:  # a type OmegaConf could not coerce
                fail(one_line(e, schema))
    finally:
        logging.disable(logging.NOTSET)


def checked(schema: type, validate: Callable[[Any], None]) -> Callable[[Any], None]:
    """A `precheck` check for a command with a ``run=`` setting: the settings are valid and
    ``run=`` names something loadable, before anything is written."""

    def check(cfg: Any) -> None:
        from agents.run.folder import resolve

        config = to_object(cfg, schema)
        validate(config)
        if getattr(config, "run", None) is not None:
            resolve(config.run)

    return check


def precheck_of(command: str) -> tuple[str, Callable[[Any], None], type]:
    """``python -m experiments.<command>``: its config name in ``conf/``, the check its command
    line gets before Hydra writes anything, and its schema (the one table of them), in the
    order `precheck` takes them."""
    from agents import settings
    from agents.settings import commands, sae

    def simple(schema: type, validate: Callable[[Any], None]) -> Callable[[Any], None]:
        return lambda cfg: validate(to_object(cfg, schema))

    if command == "train":

        def check_train(cfg: Any) -> None:
            config = settings.to_train_config(cfg)
            if config.resume:  # the run it names (torch is imported only here)
                from agents.train.training import check_command_line

                check_command_line(config, overrides())

        return "config", check_train, settings.TrainConfig
    from agents.play.app import check_play

    table: dict[str, tuple[type, Callable[[Any], None], bool]] = {
        "patch": (settings.PatchConfig, commands.validate_patch, True),
        "evaluate": (settings.EvaluateConfig, commands.validate_evaluate, True),
        "play": (settings.PlayConfig, check_play, True),
        "ship": (settings.ShipConfig, commands.validate_ship, False),
        "curves": (settings.CurvesConfig, commands.validate_curves, False),
        "study": (settings.StudyConfig, commands.validate_study, False),
        "benchmark": (settings.BenchmarkConfig, commands.validate_benchmark, False),
        "sae": (settings.SaeConfig, sae.validate_sae, True),
    }
    schema, validate, has_run = table[command]
    return command, checked(schema, validate) if has_run else simple(schema, validate), schema


def positional(argv: list[str], key: str) -> list[str]:
    """``cmd retarget x=1`` -> ``cmd <key>=retarget x=1``: a first bare word names ``key``."""
    if len(argv) > 1 and "=" not in argv[1] and not argv[1].startswith("-"):
        return [argv[0], f"{key}={argv[1]}", *argv[2:]]
    return argv


def overrides() -> list[str]:
    """The command line's ``key=value`` overrides (Hydra's record of them once it runs)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # before hydra.main: the raw command line
        return [a for a in sys.argv[1:] if not a.startswith("-")]


def register() -> None:
    """Registers the schemas and the run-folder resolvers (before Hydra composes anything)."""
    from agents.settings import register_schemas

    register_schemas()
    register_resolvers()


# ---- resolvers -------------------------------------------------------------------------------

_claimed: dict[str, str] = {}  # per process: Hydra resolves hydra.run.dir more than once


def _new_dir(base: str) -> str:
    """``base``, or ``base_2``, ``base_3``... : the first that this process creates itself.

    The folder is made with an exclusive ``mkdir``, so two runs started in the same second get
    two folders, never one shared one.
    """
    if base in _claimed:
        return _claimed[base]
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            os.mkdir(path)
            break
        except FileExistsError:
            n += 1
            path = f"{base}_{n}"
    _claimed[base] = path
    return path


def _is_unset(value: object) -> bool:
    return value in (None, "", "None", "null")


def _run_dir(resume: object, default: str) -> str:
    """The run folder: a resumed run continues in its own folder (a checkpoint's run)."""
    from agents.run.folder import run_of

    if _is_unset(resume):
        return _new_dir(default)
    p = Path(str(resume)).expanduser()
    return str(run_of(p) if p.is_file() else p)


def _hydra_subdir(resume: object) -> str:
    return ".hydra" if _is_unset(resume) else ".hydra-resume"


def register_resolvers() -> None:
    for name, fn in (("cm_run_dir", _run_dir), ("cm_hydra_subdir", _hydra_subdir)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
