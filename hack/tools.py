#!/usr/bin/env python3
"""Build the local control plane's tools from Go modules, only when missing.

Every tool is built from source with the Go toolchain on this machine
(GOTOOLCHAIN=local) into a cache keyed by version::

    ~/.cache/runwright/tools/<tool>-<version>/<binaries>

(override the root with RUNWRIGHT_CACHE). A directory appears there only
after a complete build (built into a temporary sibling, then renamed), so an
interrupted build is simply redone. Nothing built here is committed.

    hack/tools.py build [TOOL...]   build what is missing, link into .cluster/bin
    hack/tools.py path TOOL         print the cached directory of TOOL
    hack/tools.py gen-kube-mod      regenerate hack/tools/kube/go.mod (+ go mod tidy)

kube-apiserver, kube-controller-manager, kube-scheduler and kubectl come from
one wrapper module (hack/tools/kube) requiring k8s.io/kubernetes; etcd from a
wrapper module (hack/tools/etcd) calling etcdmain; kwok and helm from
`go install module@version`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HACK = ROOT / "hack"
LINK_DIR = ROOT / ".cluster" / "bin"

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"


def cache_root() -> Path:
    env = os.environ.get("RUNWRIGHT_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "runwright"
    return base / "tools"


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    env.pop("GOFLAGS", None)
    return env


def log(msg: str) -> None:
    print(f"[tools] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    log("$ " + " ".join(cmd))
    res = subprocess.run(
        cmd, cwd=cwd, env=env or go_env(), stdout=subprocess.PIPE, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd)}")
    return res.stdout


def build_date() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def module_gomod(module: str, version: str) -> str:
    """Text of a module's go.mod, through the Go module proxy."""
    out = run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=Path("/"))
    return Path(json.loads(out)["GoMod"]).read_text()


def kube_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": build_date(),
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{k}={v}" for k, v in values.items()]
    return " ".join(flags)


def build_kubernetes(out: Path) -> None:
    run(
        [
            "go",
            "build",
            "-mod=readonly",
            "-trimpath",
            "-ldflags",
            kube_ldflags(),
            "-o",
            f"{out}/",
            "./cmd/...",
        ],
        cwd=HACK / "tools" / "kube",
    )


def build_etcd(out: Path) -> None:
    ldflags = f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={ETCD_VERSION}"
    run(
        [
            "go",
            "build",
            "-mod=readonly",
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            f"{out}/",
            "./cmd/etcd",
        ],
        cwd=HACK / "tools" / "etcd",
    )


def go_install(out: Path, pkg: str, ldflags: str) -> None:
    env = go_env()
    env["GOBIN"] = str(out)
    run(["go", "install", "-trimpath", "-ldflags", ldflags, pkg], cwd=Path("/"), env=env)


def build_kwok(out: Path) -> None:
    ldflags = (
        f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}"
        f" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion={KUBERNETES_VERSION}"
    )
    go_install(out, f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}", ldflags)


def build_helm(out: Path) -> None:
    # Mirrors helm's Makefile: its default Kubernetes version is derived from
    # the k8s.io/client-go it requires (v0.X.Y -> 1.X).
    gomod = module_gomod("helm.sh/helm/v3", HELM_VERSION)
    m = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.", gomod, re.M)
    if not m:
        raise SystemExit("cannot find k8s.io/client-go in helm's go.mod")
    k8s_major, k8s_minor = "1", m.group(1)
    flags = [
        "-s",
        "-w",
        f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
    ]
    for pkg in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {pkg}.k8sVersionMajor={k8s_major}", f"-X {pkg}.k8sVersionMinor={k8s_minor}"]
    go_install(out, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}", " ".join(flags))


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    binaries: tuple[str, ...]
    build: object  # Callable[[Path], None]

    @property
    def dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}"

    def present(self) -> bool:
        return all(os.access(self.dir / b, os.X_OK) for b in self.binaries)


TOOLS = {
    t.name: t
    for t in (
        Tool("etcd", ETCD_VERSION, ("etcd",), build_etcd),
        Tool(
            "kubernetes",
            KUBERNETES_VERSION,
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
            build_kubernetes,
        ),
        Tool("kwok", KWOK_VERSION, ("kwok",), build_kwok),
        Tool("helm", HELM_VERSION, ("helm",), build_helm),
    )
}


def ensure(tool: Tool) -> float:
    """Build tool unless cached; return the seconds spent building (0 if cached)."""
    if tool.present():
        log(f"{tool.name} {tool.version}: cached in {tool.dir}")
        return 0.0
    if shutil.which("go") is None:
        raise SystemExit("go is not on PATH: the control plane tools are built from Go modules")
    tmp = tool.dir.with_name(f"{tool.dir.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"{tool.name} {tool.version}: building (this is the slow part on a cold machine)")
    start = time.monotonic()
    try:
        tool.build(tmp)  # type: ignore[operator]
        missing = [b for b in tool.binaries if not (tmp / b).exists()]
        if missing:
            raise SystemExit(f"{tool.name}: build produced no {missing}")
        shutil.rmtree(tool.dir, ignore_errors=True)
        tmp.rename(tool.dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - start
    log(f"{tool.name} {tool.version}: built in {took:.0f}s")
    with (cache_root() / "build-times.log").open("a") as fh:
        fh.write(f"{build_date()} {tool.name} {tool.version} {took:.0f}s go={go_version()}\n")
    return took


def go_version() -> str:
    try:
        return subprocess.run(
            ["go", "env", "GOVERSION"], env=go_env(), capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "none"


def link(tool: Tool) -> None:
    LINK_DIR.mkdir(parents=True, exist_ok=True)
    for b in tool.binaries:
        dst = LINK_DIR / b
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        dst.symlink_to(tool.dir / b)


def cmd_build(names: list[str]) -> int:
    selected = [TOOLS[n] for n in names] if names else list(TOOLS.values())
    cache_root().mkdir(parents=True, exist_ok=True)
    total = 0.0
    for tool in selected:
        total += ensure(tool)
        link(tool)
    if total:
        log(f"total build time {total:.0f}s")
    log(f"linked into {LINK_DIR}")
    return 0


def cmd_gen_kube_mod() -> int:
    """Write hack/tools/kube/go.mod: require k8s.io/kubernetes, replace staging modules."""
    upstream = module_gomod("k8s.io/kubernetes", KUBERNETES_VERSION)
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", upstream, re.M)
    staging_version = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    lines = [
        "// Wrapper module: builds kube-apiserver, kube-controller-manager, kube-scheduler",
        f"// and kubectl from k8s.io/kubernetes {KUBERNETES_VERSION}. Regenerate with: hack/tools.py gen-kube-mod",
        "module runwright.dev/hack/tools/kube",
        "",
        "go 1.26.0",
        "",
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}",
        "",
        "replace (",
        *[f"\t{m} => {m} {staging_version}" for m in staging],
        ")",
        "",
    ]
    kube = HACK / "tools" / "kube"
    (kube / "go.mod").write_text("\n".join(lines))
    run(["go", "mod", "tidy"], cwd=kube)
    log(f"wrote {kube / 'go.mod'} with {len(staging)} staging replacements")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build missing tools and link them into .cluster/bin")
    b.add_argument("tools", nargs="*", metavar="TOOL", help=", ".join(TOOLS))
    pa = sub.add_parser("path", help="print the cache directory of a tool")
    pa.add_argument("tool", choices=list(TOOLS))
    sub.add_parser("gen-kube-mod", help="regenerate hack/tools/kube/go.mod from upstream")
    args = p.parse_args(argv)
    if args.cmd == "build":
        unknown = sorted(set(args.tools) - set(TOOLS))
        if unknown:
            p.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
        return cmd_build(args.tools)
    if args.cmd == "path":
        print(TOOLS[args.tool].dir)
        return 0
    return cmd_gen_kube_mod()


if __name__ == "__main__":
    sys.exit(main())
