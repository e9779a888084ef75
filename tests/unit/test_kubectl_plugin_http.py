"""The plugin's own HTTP path: the kubeconfig as kubectl reads it, the Table's ages as
bounds, and what `list` imports (its start-up is most of its time)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright.cli.plugin import kubeapi
from runwright.cli.plugin.firstpage import age_bounds
from runwright.cli.plugin.kubeapi import ConfigError, Connection


def kubeconfig(path: Path, user: dict[str, Any], **context: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", **context}}],
                "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1/"}}],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return path


def load(path: Path | None, context: str | None = None) -> Connection:
    return asyncio.run(kubeapi.load(None if path is None else str(path), context))


@pytest.mark.parametrize(
    ("cell", "bounds"),
    [
        ("44s", (44, 45)),
        ("5m44s", (344, 345)),
        ("5m", (300, 360)),
        ("50m", (3000, 3060)),
        ("3h5m", (11100, 11160)),
        ("6d22h", (6 * 86400 + 22 * 3600, 6 * 86400 + 23 * 3600)),
        ("12d", (12 * 86400, 13 * 86400)),
        ("3y45d", (3 * 365 * 86400 + 45 * 86400, 3 * 365 * 86400 + 46 * 86400)),
    ],
)
def test_a_table_age_is_a_bound_as_fine_as_its_smallest_unit(
    cell: str, bounds: tuple[int, int]
) -> None:
    assert age_bounds(cell) == bounds


@pytest.mark.parametrize("cell", [None, "", "<unknown>", "5 minutes", "5m44"])
def test_a_table_cell_that_is_not_an_age_has_no_bounds(cell: str | None) -> None:
    assert age_bounds(cell) is None


def test_a_time_in_the_future_comes_before_every_age() -> None:
    low, high = age_bounds("<invalid>") or (0.0, 1.0)
    assert low < 0 and high == 0


def test_a_token_user_and_the_context_s_namespace(tmp_path: Path) -> None:
    conn = load(kubeconfig(tmp_path / "k", {"token": "t0k"}, namespace="data"))
    assert conn.server == "http://127.0.0.1:1"
    assert conn.namespace == "data"
    assert conn.headers == {"Authorization": "Bearer t0k"}


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    conn = load(kubeconfig(tmp_path / "k", {"tokenFile": "token"}))
    assert conn.headers["Authorization"] == "Bearer from-file"
    assert conn.namespace == "default"


def test_basic_auth(tmp_path: Path) -> None:
    conn = load(kubeconfig(tmp_path / "k", {"username": "ann", "password": "pw"}))
    assert conn.headers["Authorization"] == "Basic " + base64.b64encode(b"ann:pw").decode()


def test_an_exec_credential_plugin_is_run_like_kubectl_runs_it(tmp_path: Path) -> None:
    script = tmp_path / "cred"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "token = os.environ['PREFIX'] + sys.argv[1] + info['spec']['cluster']['server']\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': token}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(script),
            "args": ["-x-"],
            "env": [{"name": "PREFIX", "value": "tok"}],
            "provideClusterInfo": True,
        }
    }
    conn = load(kubeconfig(tmp_path / "k", user))
    assert conn.headers["Authorization"] == "Bearer tok-x-http://127.0.0.1:1"


def test_a_failing_exec_plugin_is_named(tmp_path: Path) -> None:
    user = {"exec": {"command": "false"}}
    with pytest.raises(ConfigError, match="exec credential plugin 'false' exited 1"):
        load(kubeconfig(tmp_path / "k", user))


def test_kubeconfig_files_merge_and_the_first_to_name_an_entry_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a", {"token": "first"}, namespace="one")
    second = tmp_path / "b"
    second.write_text(
        yaml.safe_dump(
            {
                "current-context": "other",
                "contexts": [
                    {"name": "c", "context": {"cluster": "k", "user": "u"}},
                    {"name": "other", "context": {"cluster": "k", "user": "v"}},
                ],
                "users": [{"name": "u", "user": {"token": "second"}}, {"name": "v", "user": {}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert load(None).headers["Authorization"] == "Bearer first"  # current-context: first's
    assert load(None, "other").headers == {}


def test_a_missing_context_or_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "k", {"token": "t"})
    with pytest.raises(ConfigError, match="context 'nope' is not in the kubeconfig"):
        load(path, "nope")
    with pytest.raises(ConfigError, match="no kubeconfig at"):
        load(tmp_path / "absent")


def test_list_loads_neither_the_kubernetes_client_nor_the_api_models() -> None:
    """Their imports were most of `list`'s time (about a second each on a shared machine)."""
    code = (
        "import sys, runwright.cli.plugin.commands, runwright.cli.plugin.listing,"
        " runwright.cli.plugin.client, runwright.cli.plugin.watch;"
        "print(sorted(m for m in ('kubernetes_asyncio', 'pydantic', 'runwright.api')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []
