"""Every manifest in examples/ is accepted by the API server as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .kube import Cluster

pytestmark = pytest.mark.integration

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES, "examples/*.yaml is empty: the README promises runnable examples"
    kinds = [
        d.get("kind")
        for f in EXAMPLES
        for d in yaml.safe_load_all(f.read_text())
        if isinstance(d, dict)
    ]
    assert kinds.count("Pipeline") >= 3, kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_applies_server_side(cluster: Cluster, ns: str, path: Path) -> None:
    res = cluster.kubectl(
        "apply", "--server-side", "--field-manager=runwright-tests", "-n", ns, "-f", str(path),
        check=False,
    )  # fmt: skip
    assert res.ok, f"{path.name}: {res.stderr}"
    names = [line for line in res.stdout.splitlines() if "serverside-applied" in line]
    assert names, res.stdout
