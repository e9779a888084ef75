"""Small helpers for integration tests: kubectl through subprocess, polling."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WAIT_TIMEOUT = 60.0


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cluster:
    """A cluster reached through one kubeconfig, driven with kubectl."""

    def __init__(self, kubeconfig: Path, kubectl: str, log_dir: Path | None) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_bin = kubectl
        self.log_dir = log_dir

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Result:
        proc = subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        res = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and not res.ok:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {res.stderr.strip()}")
        return res

    def apply(self, manifest: dict[str, Any] | str, ns: str, check: bool = True) -> Result:
        """`kubectl apply --server-side` (strict field validation) of one manifest."""
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=runwright-tests",
            "-n",
            ns,
            "-f",
            "-",
            stdin=text,
            check=check,
        )

    def get(self, kind: str, name: str, ns: str) -> Any:
        return self.kubectl("get", kind, name, "-n", ns, "-o", "json").json()

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = WAIT_TIMEOUT) -> Any:
        """Poll check() until it returns something truthy; return that."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(delay)  # poll interval
            delay = min(delay * 1.5, 1.0)

    def apply_crds(self, crd_dir: Path) -> list[str]:
        files = sorted(crd_dir.glob("*.yaml"))
        names = []
        for f in files:
            for doc in yaml.safe_load_all(f.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    names.append(doc["metadata"]["name"])
        if files:
            self.kubectl("apply", "--server-side", "--force-conflicts", *(f"-f={f}" for f in files))
        for name in names:
            self.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
        return names

    @staticmethod
    def tail_logs(log_dir: Path | None, lines: int = 30) -> str:
        if log_dir is None or not log_dir.is_dir():
            return ""
        out = []
        for path in sorted(log_dir.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"==> {path.name} <==\n" + "\n".join(tail))
        return "\n\n".join(out)
