"""PURE: runs as the seed's export, JSON or CSV, with the same columns in both.

The columns are the seed table's (id, pipeline, phase, reason, started,
completed, duration, items processed, cost, tokens, triggered by, error
message) plus the namespace, so a row names its run unambiguously. A CSV cell
that a spreadsheet would run as a formula is quoted with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from runwright.web.runs import RunRow

#: (header, RunRow field) in export order.
EXPORT_COLUMNS = (
    ("id", "name"),
    ("namespace", "namespace"),
    ("pipeline", "pipeline"),
    ("phase", "phase"),
    ("reason", "reason"),
    ("started", "started"),
    ("completed", "completed"),
    ("duration", "duration"),
    ("items processed", "itemsProcessed"),
    ("cost", "cost"),
    ("tokens", "tokens"),
    ("triggered by", "triggeredBy"),
    ("error message", "error"),
    ("archived", "archived"),
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def records(rows: Sequence[RunRow]) -> list[dict[str, Any]]:
    """The export's records: one dict per run, keys are the export headers."""
    return [{header: getattr(row, key) for header, key in EXPORT_COLUMNS} for row in rows]


def to_json(rows: Sequence[RunRow]) -> str:
    """The runs as a JSON array of records."""
    return json.dumps(records(rows), indent=2)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(rows: Sequence[RunRow]) -> str:
    """The runs as CSV: a header line, then one line per run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([header for header, _ in EXPORT_COLUMNS])
    for row in rows:
        writer.writerow([_cell(getattr(row, key)) for _, key in EXPORT_COLUMNS])
    return out.getvalue()
