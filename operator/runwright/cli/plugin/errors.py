"""The plugin's exit statuses, and the one error type every command raises to end with one.

| status | meaning |
|---|---|
| 0 | done (every run acted on, or nothing to do) |
| 1 | an action failed for at least one run (each failure is named) |
| 2 | invalid input: a flag, a selector, a time (nothing was changed) |
| 4 | not found: the run, block, attempt or trigger does not exist |
| 5 | forbidden: your credentials lack the permission (RBAC); the message names it |
| 6 | unreachable: the API server or the archive cannot be reached |
| 70 | internal error (a bug of ours; RUNWRIGHT_DEBUG=1 shows the traceback) |
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
FAILED: Final = 1
INVALID_INPUT: Final = 2
NOT_FOUND: Final = 4
FORBIDDEN: Final = 5
UNREACHABLE: Final = 6
INTERNAL_ERROR: Final = 70

#: The table above, for `--help` and docs/kubectl-plugin.md (one source).
EXIT_STATUSES: Final = (
    (OK, "done (every run acted on, or nothing to do)"),
    (FAILED, "an action failed for at least one run (each failure is named)"),
    (INVALID_INPUT, "invalid input: a flag, a selector, a time; nothing was changed"),
    (NOT_FOUND, "not found: the run, block, attempt or trigger does not exist"),
    (FORBIDDEN, "forbidden: your credentials lack a permission (RBAC); the message names it"),
    (UNREACHABLE, "unreachable: the API server or the archive cannot be reached"),
    (INTERNAL_ERROR, "internal error (a bug of ours; RUNWRIGHT_DEBUG=1 shows the traceback)"),
)


class PluginError(Exception):
    """A command cannot go on: one line for the user, and the exit status it ends with."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status
