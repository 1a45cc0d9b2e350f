"""A griffe extension for the API reference: docstrings that hold an RST "simple table"
(``====  ====`` borders) are rendered as Markdown tables, so such tables read as tables on the
site as they do in the source. mkdocs.yml loads it (mkdocstrings' ``extensions`` option)."""

from __future__ import annotations

import re
from typing import Any

import griffe

BORDER = re.compile(r"^(\s*)(=+)(\s+=+)+\s*$")
GAP = re.compile(r"\s{2,}")
BETWEEN_CODE = re.compile(r"(?<=`)\s+(?=`)")


def _row(line: str, starts: list[int]) -> list[str] | None:
    """A row's cells, or None for a line that continues the row above. Cells are cut where
    the border's columns start; where text runs across a column's start (a malformed table),
    at runs of two or more spaces, then between code spans; a line that yields too few cells
    this way, or whose first column is blank, is a continuation."""
    columns = len(starts)
    if all(len(line) <= b or line[b - 1] == " " for b in starts[1:]):
        cells = [line[b:e].strip() for b, e in zip(starts, [*starts[1:], len(line) + 1])]
        return None if not cells[0] else cells
    cells = GAP.split(line.strip(), maxsplit=columns - 1)
    if len(cells) < columns:
        cells = BETWEEN_CODE.split(line.strip(), maxsplit=columns - 1)
    return cells if len(cells) == columns else None


def rst_tables_to_markdown(text: str) -> str:
    """``text`` with each RST simple table (a border, a header row, a border, rows, a border)
    replaced by a Markdown table."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = BORDER.match(lines[i])
        if not (m and i + 2 < len(lines) and BORDER.match(lines[i + 2])):
            out.append(lines[i])
            i += 1
            continue
        starts = [r.start() for r in re.finditer(r"=+", lines[i])]
        rows = [_row(lines[i + 1], starts) or [lines[i + 1].strip()]]
        i += 3
        while i < len(lines) and not BORDER.match(lines[i]):
            if lines[i].strip():
                cells = _row(lines[i], starts)
                if cells is None:
                    rows[-1][-1] += " " + lines[i].strip()
                else:
                    rows.append(cells)
            i += 1
        i += 1  # the closing border
        indent, columns = m.group(1), len(starts)
        table = [r + [""] * (columns - len(r)) for r in rows]
        out.append(indent + "| " + " | ".join(table[0]) + " |")
        out.append(indent + "|" + " --- |" * columns)
        for row in table[1:]:
            out.append(indent + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


class RstSimpleTables(griffe.Extension):
    """Rewrites RST simple tables in every docstring as Markdown tables."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and "==" in obj.docstring.value:
            obj.docstring.value = rst_tables_to_markdown(obj.docstring.value)
