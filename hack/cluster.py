#!/usr/bin/env python3
"""A real local Kubernetes control plane for tests, with kwok as the kubelet.

    hack/cluster.py up       start it (idempotent: a healthy cluster is kept)
    hack/cluster.py down     stop every process by its pid (idempotent)
    hack/cluster.py status   exit 0 when every component is alive and ready
    hack/cluster.py logs [N] print the last N lines of every component log

Everything lives in .cluster/ (git-ignored): bin/ (links made by
hack/tools.py), kubeconfig, state.json (ports and pids), pki/, etcd data,
and one log per component (.cluster/<component>.log).

Components, all on free ports of 127.0.0.1: etcd; kube-apiserver (RBAC, a
static admin token, service-account signing keys, its own self-signed
serving certificate); kube-controller-manager (every default controller, each
with its own service account); kube-scheduler; kwok managing one fake Node
with Runwright's Stages (hack/kwok/stages.yaml). Readiness is polled with a
timeout, never slept for.

Pod logs are real: the Node advertises kwok's server (127.0.0.1 and kwok's
port in status.daemonEndpoints), so the API server's pod log proxy reaches
kwok, which serves a container's log from a file named by a kwok `Logs`
(one pod) or `ClusterLogs` (pods by namespace/name) object. Both kinds are
CRDs here (hack/kwok/crds.yaml, --enable-crds), so tests create them at run
time; docs/testing-pod-logs.md tells test authors how.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / ".cluster"
BIN = CLUSTER / "bin"
PKI = CLUSTER / "pki"
STATE = CLUSTER / "state.json"
KUBECONFIG = CLUSTER / "kubeconfig"
STAGES = ROOT / "hack" / "kwok" / "stages.yaml"
KWOK_CRDS = ROOT / "hack" / "kwok" / "crds.yaml"  # Logs and ClusterLogs
POD_LOGS = CLUSTER / "pod-logs"  # a place for log files tests point kwok at

NODE_NAME = "kwok-node-0"  # = hack/kwokstages.py NODE_NAME
# Stop order: the reverse of start order.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
READY_TIMEOUT = float(os.environ.get("RUNWRIGHT_CLUSTER_TIMEOUT", "180"))


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    """Poll check() until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            if check():
                return
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(
                f"timed out after {timeout:.0f}s waiting for {what}; see {CLUSTER}/*.log"
            )
        time.sleep(delay)  # poll interval, not a fixed wait
        delay = min(delay * 1.5, 1.0)


def http_ok(url: str, ctx: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=3, context=ctx) as resp:
            return bool(resp.status == 200)
    except urllib.error.URLError:
        return False


def insecure_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def load_state() -> dict[str, object]:
    try:
        return dict(json.loads(STATE.read_text()))
    except (OSError, ValueError):
        return {}


def save_state(state: dict[str, object]) -> None:
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.rename(STATE)


def pid_alive(pid: int, binary: str) -> bool:
    """True when pid runs binary (so a recycled pid is never taken for ours)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return bool(cmdline) and Path(cmdline[0].decode()).name == binary


def pids(state: dict[str, object]) -> dict[str, int]:
    raw = state.get("pids", {})
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def start(name: str, args: list[str], state: dict[str, object]) -> None:
    binary = BIN / name
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run `make tools` (hack/tools.py build) first")
    logf = (CLUSTER / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        [str(binary), *args],
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=CLUSTER,
        start_new_session=True,  # outlives this script; stopped by pid in `down`
    )
    logf.close()
    p = pids(state)
    p[name] = proc.pid
    state["pids"] = p
    save_state(state)
    log(f"started {name} (pid {proc.pid}), log {CLUSTER / (name + '.log')}")


def openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        raise SystemExit("openssl is needed to make the cluster's keys: apt-get install openssl")
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def kubectl(*args: str, stdin: str | None = None) -> str:
    res = subprocess.run(
        [str(BIN / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise subprocess.SubprocessError(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def write_kubeconfig(path: Path, server: str, ca: Path, token: str) -> None:
    import base64

    ca_data = base64.b64encode(ca.read_bytes()).decode()
    path.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: runwright-local
  cluster:
    server: {server}
    certificate-authority-data: {ca_data}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: runwright-local
  context: {{cluster: runwright-local, user: admin, namespace: default}}
current-context: runwright-local
"""
    )
    path.chmod(0o600)


def healthy(state: dict[str, object]) -> bool:
    p = pids(state)
    if set(p) != set(COMPONENTS) or not all(pid_alive(p[c], c) for c in COMPONENTS):
        return False
    ports = state.get("ports")
    token = state.get("token")
    if not isinstance(ports, dict) or not isinstance(token, str) or not KUBECONFIG.exists():
        return False
    return http_ok(f"https://127.0.0.1:{ports['apiserver']}/readyz", insecure_ctx(), token)


def up() -> int:
    state = load_state()
    if healthy(state):
        log(f"already up; KUBECONFIG={KUBECONFIG}")
        return 0
    if state:
        log("found a stale or partial cluster; stopping it first")
        down()
    began = time.monotonic()
    for entry in CLUSTER.glob("*"):
        if entry.name != "bin":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    CLUSTER.mkdir(exist_ok=True)
    PKI.mkdir()
    ports = {
        k: free_port()
        for k in ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler", "kwok")
    }
    token = secrets.token_hex(24)
    state: dict[str, object] = {"ports": ports, "token": token, "pids": {}}
    save_state(state)

    # Service-account token signing keys; the apiserver makes its own serving cert.
    openssl("genrsa", "-out", str(PKI / "sa.key"), "2048")
    openssl("rsa", "-in", str(PKI / "sa.key"), "-pubout", "-out", str(PKI / "sa.pub"))
    # A client CA: lets the apiserver publish kube-system/extension-apiserver-authentication,
    # which the controller-manager and scheduler read for their own authentication.
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-subj", "/CN=runwright-local-client-ca",
        "-keyout", str(PKI / "client-ca.key"), "-out", str(PKI / "client-ca.crt"),
    )  # fmt: skip
    (PKI / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    (PKI / "tokens.csv").chmod(0o600)

    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
    start(
        "etcd",
        [
            "--name=runwright",
            f"--data-dir={CLUSTER / 'etcd-data'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=runwright={peer_url}",
            "--unsafe-no-fsync",  # test data only: trade durability for speed
            "--log-level=warn",
        ],
        state,
    )
    wait_for("etcd", lambda: http_ok(f"{etcd_url}/health"))

    api = f"https://127.0.0.1:{ports['apiserver']}"
    start(
        "kube-apiserver",
        [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--cert-dir={PKI}",  # self-signed serving cert generated here
            "--authorization-mode=Node,RBAC",
            f"--token-auth-file={PKI / 'tokens.csv'}",
            f"--client-ca-file={PKI / 'client-ca.crt'}",
            f"--requestheader-client-ca-file={PKI / 'client-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--service-account-key-file={PKI / 'sa.pub'}",
            f"--service-account-signing-key-file={PKI / 'sa.key'}",
            f"--service-account-issuer={api}",
            "--api-audiences=" + api,
            "--service-cluster-ip-range=10.96.0.0/16",
            "--endpoint-reconciler-type=none",  # a loopback address cannot be an endpoint
            "--allow-privileged=true",
            "--event-ttl=1h",
            # Pod logs: reach the kubelet (kwok) at the Node's InternalIP (127.0.0.1);
            # its name does not resolve. kwok's serving cert is self-signed and no
            # --kubelet-certificate-authority is set, so the API server does not verify it.
            "--kubelet-preferred-address-types=InternalIP",
        ],
        state,
    )
    ca = PKI / "apiserver.crt"
    wait_for("kube-apiserver serving certificate", ca.exists)
    write_kubeconfig(KUBECONFIG, api, ca, token)
    verified = ssl.create_default_context(cafile=str(ca))
    wait_for("kube-apiserver /readyz", lambda: http_ok(f"{api}/readyz", verified, token))
    # kwok watches Logs/ClusterLogs from its start: their CRDs must exist first.
    POD_LOGS.mkdir()
    kubectl("apply", "-f", str(KWOK_CRDS))
    crds = ("crd/logs.kwok.x-k8s.io", "crd/clusterlogs.kwok.x-k8s.io")
    established = ("wait", "--for=condition=Established", "--timeout=5s", *crds)
    wait_for("kwok Logs/ClusterLogs CRDs established", lambda: bool(kubectl(*established)))

    common = [
        f"--kubeconfig={KUBECONFIG}",
        f"--authentication-kubeconfig={KUBECONFIG}",
        f"--authorization-kubeconfig={KUBECONFIG}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]
    start(
        "kube-controller-manager",
        [
            *common,
            f"--secure-port={ports['controller_manager']}",
            # "*" = every default controller: job, garbage-collector, namespace,
            # serviceaccount(-token), root-ca-certificate-publisher, deployment,
            # replicaset, ttl-after-finished, pod-garbage-collector, cronjob, ...
            "--controllers=*",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={PKI / 'sa.key'}",
            f"--root-ca-file={ca}",
            "--cluster-name=runwright",
        ],
        state,
    )
    start("kube-scheduler", [*common, f"--secure-port={ports['scheduler']}"], state)
    kwok_addr = f"127.0.0.1:{ports['kwok']}"
    start(
        "kwok",
        [
            f"--kubeconfig={KUBECONFIG}",
            f"--config={STAGES}",
            f"--manage-single-node={NODE_NAME}",
            f"--server-address={kwok_addr}",
            "--node-lease-duration-seconds=40",
            "--cidr=10.0.0.1/16",  # pod IPs
            # The Node's InternalIP and kubelet port (the node-initialize Stage
            # writes them) are kwok's own server, so the API server proxies
            # `kubectl logs` to kwok.
            "--node-ip=127.0.0.1",
            f"--node-port={ports['kwok']}",
            "--enable-crds=Logs,ClusterLogs",
        ],
        state,
    )
    ctx = insecure_ctx()
    cm_url = f"https://127.0.0.1:{ports['controller_manager']}/healthz"
    sched_url = f"https://127.0.0.1:{ports['scheduler']}/healthz"
    wait_for("kube-controller-manager /healthz", lambda: http_ok(cm_url, ctx))
    wait_for("kube-scheduler /healthz", lambda: http_ok(sched_url, ctx))
    wait_for("kwok /healthz", lambda: http_ok(f"http://{kwok_addr}/healthz"))

    kubectl("apply", "-f", "-", stdin=NODE_MANIFEST)
    wait_for(
        "node Ready",
        lambda: bool(kubectl("wait", "--for=condition=Ready", f"node/{NODE_NAME}", "--timeout=5s")),
    )
    # The token controller and the root-CA publisher are working once these exist.
    wait_for("default service account", lambda: bool(kubectl("get", "serviceaccount", "default")))
    wait_for("kube-root-ca.crt", lambda: bool(kubectl("get", "configmap", "kube-root-ca.crt")))
    state["started_at"] = time.time()
    save_state(state)
    log(f"up in {time.monotonic() - began:.1f}s; export KUBECONFIG={KUBECONFIG}")
    return 0


NODE_MANIFEST = f"""
apiVersion: v1
kind: Node
metadata:
  name: {NODE_NAME}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: {NODE_NAME}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
status: {{}}
"""


def stop(name: str, pid: int, timeout: float = 30.0) -> None:
    if not pid_alive(pid, name):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid, name):
        if time.monotonic() > deadline:
            log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:.0f}s; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)  # poll for exit
    log(f"stopped {name} (pid {pid})")


def down() -> int:
    state = load_state()
    p = pids(state)
    for name in reversed(COMPONENTS):
        if name in p:
            stop(name, p[name])
    if state:
        state["pids"] = {}
        save_state(state)
    log("down")
    return 0


def status() -> int:
    state = load_state()
    p = pids(state)
    for name in COMPONENTS:
        alive = name in p and pid_alive(p[name], name)
        print(f"{name:24} {'running pid ' + str(p[name]) if alive else 'stopped'}")
    ok = healthy(state)
    print(f"{'kube-apiserver /readyz':24} {'ok' if ok else 'not ready'}")
    return 0 if ok else 1


def logs(lines: int = 40) -> int:
    print(tail_logs(lines))
    return 0


def tail_logs(lines: int = 40) -> str:
    out = []
    for name in COMPONENTS:
        path = CLUSTER / f"{name}.log"
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"==> {path} <==\n" + "\n".join(text))
    return "\n\n".join(out)


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "up":
        return up()
    if cmd == "down":
        return down()
    if cmd == "status":
        return status()
    if cmd == "logs":
        return logs(int(argv[2]) if len(argv) > 2 else 40)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
