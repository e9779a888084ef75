"""Where `runwright run` keeps block logs, and how old ones go away.

Each local run writes its blocks' logs (and output files) to one directory named
after the run, under a root the user can find again: `--log-dir`, else
`$RUNWRIGHT_CACHE/runs`, else `~/.cache/runwright/runs` (the cache the cluster tools
use too). A failed block's full log is worth reading after the run, so logs are kept;
but a demo run in a loop must not fill a disk, so each new run prunes the root to the
newest `keep` runs (default KEEP_RUNS). Only directories this module made (they hold
MARKER) are ever deleted: pointing `--log-dir` at a directory of your own files
deletes none of them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: How many runs' logs are kept under the root by default (the newest ones).
KEEP_RUNS = 20
#: The file that marks a directory as a run's logs (and so safe to prune).
MARKER = ".runwright-run"


def default_root() -> Path:
    """`$RUNWRIGHT_CACHE/runs`, else `~/.cache/runwright/runs`."""
    cache = os.environ.get("RUNWRIGHT_CACHE")
    base = Path(cache) if cache else Path.home() / ".cache" / "runwright"
    return base / "runs"


def new_run_dir(root: Path, run_name: str) -> Path:
    """The (new, empty) log directory of run `run_name`, marked as prunable."""
    directory = root / run_name
    directory.mkdir(parents=True, exist_ok=False)
    (directory / MARKER).write_text(f"{run_name}\n")
    return directory


def prune(root: Path, keep: int = KEEP_RUNS) -> list[Path]:
    """Delete all but the newest `keep` run directories under `root`; return the deleted.

    Newest by the marker's modification time (when the run started), the name breaking
    ties. Directories without MARKER are not ours and are left alone; a directory that
    vanishes meanwhile (another run pruning) is not an error.
    """
    if keep < 0:
        raise ValueError("keep must be 0 or more")
    runs: list[tuple[float, str, Path]] = []
    try:
        children = list(root.iterdir())
    except FileNotFoundError:
        return []
    for child in children:
        marker = child / MARKER
        try:
            runs.append((marker.stat().st_mtime, child.name, child))
        except (FileNotFoundError, NotADirectoryError):
            continue
    runs.sort(reverse=True)
    deleted = []
    for _, _, directory in runs[keep:]:
        shutil.rmtree(directory, ignore_errors=True)
        deleted.append(directory)
    return deleted
