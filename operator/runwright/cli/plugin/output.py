"""How rows reach the user: `-o table|wide|json|yaml|name|csv`, colour only on a terminal.

kubectl's habits: a table with upper-case headers and no borders; `wide` adds
columns; `name` prints `pipelinerun/NAME`; json and yaml print a `List`. Colour
(rich) only when stdout is a terminal; a pipe or a file gets plain text at full
width, never wrapped or cut.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

import yaml
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from runwright.cli.plugin.rows import RunRow
from runwright.engine.durations import human


class Format(StrEnum):
    """The `-o` values."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"
    CSV = "csv"


#: The seed's runs table, as `export` (and `list -o csv`) write it.
CSV_COLUMNS = (
    "id",
    "pipeline",
    "phase",
    "reason",
    "started",
    "completed",
    "duration",
    "items processed",
    "cost",
    "tokens",
    "triggered by",
    "error message",
)
#: Mark of a run that only the archive still has (the cluster deleted it).
ARCHIVED_MARK = " (archived)"


def console(stream: TextIO) -> Console:
    """A rich console: colour on a terminal; elsewhere plain text that is never wrapped."""
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, color_system=None, width=100_000, highlight=False)


def phase_text(phase: str) -> Text:
    """A run phase in its colour (shown only on a terminal)."""
    from runwright.cli.progress import RUN_STYLE  # the API models: not for every `list`

    return Text(phase, style=RUN_STYLE.get(phase, ""))  # type: ignore[call-overload]


def phase_cell(phase: str, colour: bool) -> Text | str:
    """A phase cell: coloured on a terminal, plain text elsewhere (where no colour is
    shown, the run-phase colours and the API models they are keyed by are not loaded)."""
    return phase_text(phase) if colour else phase


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with a Z, as Kubernetes writes times (runwright.api.common's, whose
    module would load pydantic and every model)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_line(message: str) -> str:
    """The last non-empty line of a message (cli/progress.py's, without its imports)."""
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def number(value: float | None) -> str:
    """A metric without a pointless `.0`; empty when the run did not report it."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def age(when: datetime | None, now: datetime) -> str:
    """How long ago, as kubectl's AGE column says it."""
    return "" if when is None else human((now - when).total_seconds())


def duration(row: RunRow, now: datetime) -> str:
    """The run's duration; a running run's so far."""
    if row.duration_seconds is not None:
        return human(row.duration_seconds)
    if row.started is not None and not row.finished:
        return human((now - row.started).total_seconds())
    return ""


def table(
    rows: Sequence[RunRow], now: datetime, *, wide: bool, namespaces: bool, colour: bool = True
) -> Table:
    """The runs as kubectl would print them (no borders, upper-case headers); phases in
    colour unless `colour` is False (for a pipe or a file, which shows none)."""
    grid = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    columns = ["NAME", "PIPELINE", "PHASE", "REASON", "PROGRESS", "TRIGGER", "BY"]
    columns += ["STARTED", "DURATION", "ITEMS", "COST"]
    if namespaces:
        columns.insert(0, "NAMESPACE")
    if wide:
        columns += ["TOKENS", "FAILED BLOCK", "MESSAGE"]
    for column in columns:
        right = column in ("ITEMS", "COST", "TOKENS", "DURATION")
        grid.add_column(column, no_wrap=column != "MESSAGE", justify="right" if right else "left")
    for row in rows:
        name = Text(row.name)
        if row.archived:
            name.append(ARCHIVED_MARK, style="dim")
        cells: list[RenderableType] = [
            name,
            row.pipeline,
            phase_cell(row.phase, colour),
            row.reason,
            row.progress,
            row.trigger,
            row.triggered_by,
            age(row.started, now),
            duration(row, now),
            number(row.items),
            number(row.cost),
        ]
        if namespaces:
            cells.insert(0, row.namespace)
        if wide:
            cells += [
                number(row.tokens),
                row.failed_block,
                last_line(row.message),
            ]
        grid.add_row(*cells)
    return grid


def footer(
    rows: Iterable[RunRow],
    archived_counts: dict[str, int] | None = None,
    count_cap: int | None = None,
) -> str:
    """Counts by phase of the rows shown, e.g. `3 runs: Failed 1, Succeeded 2`; with the
    archive, how many runs of each phase it holds for the same filters. A count that
    reached `count_cap` is at least that many: `10000+` (and so is the total)."""
    shown = list(rows)
    counts = Counter(row.phase for row in shown)
    text = f"{len(shown)} run{'s' if len(shown) != 1 else ''}"
    if counts:
        text += ": " + ", ".join(f"{phase} {counts[phase]}" for phase in sorted(counts))
    if archived_counts is not None:

        def shown_count(n: int) -> str:
            return f"{n}+" if count_cap is not None and n >= count_cap else str(n)

        total = sum(archived_counts.values())
        capped = any(shown_count(n).endswith("+") for n in archived_counts.values())
        parts = ", ".join(f"{p} {shown_count(archived_counts[p])}" for p in sorted(archived_counts))
        text += f"; archive holds {total}{'+' if capped else ''} matching" + (
            f" ({parts})" if parts else ""
        )
    return text


def row_dict(row: RunRow) -> dict[str, Any]:
    """The row as JSON/YAML (camelCase, RFC 3339 UTC, absent values left out)."""
    body: dict[str, Any] = {
        "namespace": row.namespace,
        "name": row.name,
        "uid": row.uid,
        "pipeline": row.pipeline,
        "phase": row.phase,
        "reason": row.reason,
        "message": row.message,
        "progress": row.progress,
        "trigger": row.trigger,
        "triggeredBy": row.triggered_by,
        "startedAt": format_time(row.started) if row.started else None,
        "completedAt": format_time(row.completed) if row.completed else None,
        "durationSeconds": row.duration_seconds,
        "itemsProcessed": row.items,
        "cost": row.cost,
        "tokens": row.tokens,
        "failedBlock": row.failed_block,
        "archived": row.archived,
    }
    return {k: v for k, v in body.items() if v not in (None, "")}


def csv_row(row: RunRow) -> list[str]:
    """One line of the seed's runs table (CSV_COLUMNS)."""
    return [
        row.name,
        row.pipeline,
        row.phase,
        row.reason,
        format_time(row.started) if row.started else "",
        format_time(row.completed) if row.completed else "",
        "" if row.duration_seconds is None else str(row.duration_seconds),
        number(row.items),
        number(row.cost),
        number(row.tokens),
        row.triggered_by,
        row.message if row.phase == "Failed" else "",
    ]


def write_csv(rows: Iterable[RunRow], stream: TextIO) -> int:
    """The rows as CSV with a header; returns how many rows were written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(csv_row(row))
        count += 1
    return count


def dump(value: Any, fmt: Format) -> str:
    """JSON (indented, like kubectl) or YAML of a plain value."""
    if fmt == Format.JSON:
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


def print_rows(
    rows: Sequence[RunRow],
    fmt: Format,
    stream: TextIO,
    *,
    namespaces: bool = False,
    archived_counts: dict[str, int] | None = None,
    count_cap: int | None = None,
    now: datetime | None = None,
) -> None:
    """Print runs in the chosen format (a footer of counts by phase under a table)."""
    now = now or datetime.now(UTC)
    if fmt in (Format.TABLE, Format.WIDE):
        out = console(stream)
        if rows:
            wide = fmt == Format.WIDE
            colour = out.color_system is not None
            out.print(table(rows, now, wide=wide, namespaces=namespaces, colour=colour))
        else:
            out.print("No runs found.")
        out.print(Text(footer(rows, archived_counts, count_cap), style="dim"))
    elif fmt == Format.NAME:
        for row in rows:
            stream.write(f"pipelinerun.runwright.dev/{row.name}\n")
    elif fmt == Format.CSV:
        write_csv(rows, stream)
    else:
        stream.write(dump({"kind": "List", "items": [row_dict(r) for r in rows]}, fmt))


def csv_text(rows: Iterable[RunRow]) -> str:
    """The rows as CSV text (for tests and --file)."""
    buffer = io.StringIO()
    write_csv(rows, buffer)
    return buffer.getvalue()
