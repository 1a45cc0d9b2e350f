"""The documentation: the site builds strictly, every Python example of its pages and of the
README runs, and what the pages promise matches the code (links, the environment's options).

An example that cannot run in the tests (one that needs a GPU, say) opts out with an HTML
comment on the line above its fence: ``<!-- docs: skip (why) -->``; the reason is required.
"""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
SKIP = re.compile(r"<!-- docs: skip \((?P<why>[^)]+)\) -->\n$")
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
# Signatures on one line: their wrapping runs `ruff format` once per long signature, about half
# of a build's time, and cannot warn (mkdocs.yml, `line_length`).
MKDOCS_ENV = dict(os.environ, NO_MKDOCS_2_WARNING="1", CHEESE_MAZE_DOCS_SIGNATURE_WIDTH="100000")


def pages() -> list[Path]:
    """The README and every Markdown page under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def python_blocks(text: str) -> list[tuple[str, str | None]]:
    """``(code, skip reason or None)`` of each fenced Python block, in order."""
    blocks = []
    for m in FENCE.finditer(text):
        if m["info"].split()[:1] != ["python"]:
            continue
        skip = SKIP.search(text[: m.start()])
        blocks.append((m["code"], skip["why"] if skip else None))
    return blocks


def examples() -> list[tuple[str, str]]:
    """``(page, code)``: the runnable Python of each page, its blocks joined in order (later
    blocks use what earlier ones defined); a page whose code another page already has is left
    out, so the same tour does not run twice."""
    seen, out = set(), []
    for page in pages():
        code = "\n".join(c for c, why in python_blocks(page.read_text()) if why is None)
        if code and code not in seen:
            seen.add(code)
            out.append((page.relative_to(ROOT).as_posix(), code))
    return out


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env=MKDOCS_ENV,
        timeout=300,
    )


# Pages planted beside the real ones, each with one thing a strict build must refuse, and the
# link its warning names.
BROKEN = {
    "broken-link.md": ("[a link](missing.md)", "missing.md"),
    "broken-anchor.md": ("[an anchor](#no-such-heading)", "#no-such-heading"),
    "broken-figure.md": ("![a figure](missing.png)", "missing.png"),
}


def test_site_builds_strictly_and_refuses_what_is_broken(tmp_path):
    """One strict build of the real site (its mkdocs.yml inherited as is, its pages, its API
    reference) with `BROKEN`'s pages planted beside its pages: the build fails, each planted
    page is named by the warning of its broken link, and those are the only warnings, so the
    real pages build strictly; the site is written with the reference filled.

    A strict build counts every warning and aborts only at its end, after writing the pages
    (``Aborted with N warnings in strict mode!``): one build answers for the real site and for
    the project's settings refusing a link to nowhere, a missing anchor and a missing figure."""
    pytest.importorskip("mkdocs")
    # the build's folder mirrors the repository (the reference's `paths` and its extension are
    # relative to the config's folder): every entry linked, docs/ a folder of links plus the
    # planted pages
    for entry in ROOT.iterdir():
        if entry.name not in ("docs", "mkdocs.yml", "site"):
            (tmp_path / entry.name).symlink_to(entry)
    docs = tmp_path / "docs"
    docs.mkdir()
    for entry in DOCS.iterdir():
        (docs / entry.name).symlink_to(entry)
    for page, (broken, _) in BROKEN.items():
        (docs / page).write_text(f"# A page\n\n## A heading\n\nSee {broken}.\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\n")
    site = tmp_path / "site"
    out = mkdocs_build(config, site)
    warnings = re.findall(r"^(?:WARNING|ERROR) +- +(.*)$", out.stderr, re.M)
    for page, (broken, target) in BROKEN.items():
        assert any(f"'{page}'" in w and f"'{target}'" in w for w in warnings), (
            f"the strict build let {broken!r} through: {out.stderr[-3000:]}"
        )
    assert out.returncode != 0
    others = [w for w in warnings if not any(f"'{page}'" in w for page in BROKEN)]
    assert not others, f"the site's own pages warn: {others}"
    # and nothing else counted (a warning or error of several lines, say); mkdocs prints its
    # verdict to stdout
    verdict = f"Aborted with {len(BROKEN)} warnings in strict mode!"
    assert verdict in out.stdout, out.stdout[-1000:] + out.stderr[-3000:]
    for page in ("index.html", "getting-started/index.html", "api/policy/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "policy" / "index.html").read_text()
    assert 'id="agents.policy.hooked.HookedMazeNet"' in api  # the reference is filled


@pytest.mark.parametrize(("page", "code"), examples(), ids=[p for p, _ in examples()])
def test_python_examples_run(page, code, tmp_path, monkeypatch, capsys):
    """Every page's Python runs as written, in a scratch folder (what it writes lands there)."""
    if "agents" in code or "torch" in code:
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    else:
        threads = None
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict = {"__name__": "__docs__"}
    try:
        exec(compile(code, page, "exec"), namespace)  # noqa: S102
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
    check = CHECKS.get(page)
    if check is not None:
        check(namespace, tmp_path, capsys.readouterr().out)


def _tour(ns, _tmp, out):
    # the tour's claim: subtracting the cheese vector lowers P(cheese) on test mazes
    values = [float(v) for v in re.findall(r": ([01]\.[0-9]+)\n", out)]
    assert len(values) == 2, out
    plain, patched = values
    assert patched < plain - 0.05, (plain, patched)


def _environment(ns, _tmp, _out):
    assert ns["states"].num == 256
    assert all(s.cheese == s.top_right for s in ns["venv"].get_state())


def _hooks(ns, _tmp, _out):
    assert tuple(ns["cache"]["embedder.relu2_out"].shape) == (1, 16, 9, 9)
    assert set(ns["acts"]) >= {"embedder.relu2_out", "fc_policy"}


def _viewer(_ns, tmp, _out):
    from PIL import Image

    gif = Image.open(tmp / "docs" / "steering.gif")
    assert gif.n_frames == 31  # the first frame and 30 steps


CHECKS = {
    "README.md": _tour,
    "docs/environment.md": _environment,
    "docs/hooks.md": _hooks,
    "docs/viewer.md": _viewer,
}


def test_every_python_example_is_run_or_says_why_not():
    """A Python block is fenced as ``python`` (so the tests find it), and a skipped one says
    why; the README's tour is among the examples."""
    for page in pages():
        text = page.read_text()
        for m in FENCE.finditer(text):
            word = m["info"].split()[:1]
            assert word not in (["py"], ["python3"], ["pycon"], ["Python"]), (
                f"{page.name}: fence a Python example as ```python so that the tests run it"
            )
        assert "<!-- docs: skip" not in text.replace("<!-- docs: skip (", ""), (
            f"{page.name}: a skipped example must give its reason: <!-- docs: skip (why) -->"
        )
    assert examples()[0][0] == "README.md"


def test_readme_links_resolve():
    """The README is not part of the site's build: its relative links and pictures must exist."""
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links nothing of the repository"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_environment_page_lists_every_option():
    """The environment page's option table has a row for each `MazeConfig` field, and no row
    for a field that does not exist."""
    from mazegen import MazeConfig

    text = (DOCS / "environment.md").read_text()
    section = text.split("## Every option", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    fields = {f.name for f in dataclasses.fields(MazeConfig)}
    assert rows == fields, f"missing rows: {fields - rows}; rows for no field: {rows - fields}"
