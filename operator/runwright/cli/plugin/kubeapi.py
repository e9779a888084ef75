"""The plugin's own path to the API server: the kubeconfig read here, requests sent with aiohttp.

Why not kubernetes_asyncio's generated client: importing it costs about a second of
CPU (every model of every API group) before the first request, and `list` must show
its first page in under 2 s. The plugin needs a handful of REST calls on custom
objects, pods, logs and Events, so it sends them itself.

The kubeconfig is read like kubectl reads it: `--kubeconfig`, else `$KUBECONFIG`
(files joined by `:`, the first to name a context, cluster or user wins), else
~/.kube/config; `--context` or the current context. The server's CA (file or data),
`insecure-skip-tls-verify`, `tls-server-name`, `proxy-url`; the user's client
certificate (file or data), bearer token (or token file), basic auth, or an exec
credential plugin (client.authentication.k8s.io, as kubectl runs it). A user with an
`auth-provider` (the legacy OIDC/GCP plugins) is read by kubernetes_asyncio's loader
instead, so every kubeconfig that worked before still does.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

JSON = "application/json"
#: The API server's Table rendering of a list (kubectl's `get`): the CRD's printer columns.
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


class ConfigError(Exception):
    """The kubeconfig cannot be used; the message says which file, entry or field."""


class ApiError(Exception):
    """A non-2xx answer: its status, reason and body (the server's Status, usually)."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


@dataclass
class Connection:
    """Where the API server is and how to authenticate, as the kubeconfig says."""

    server: str
    namespace: str = "default"
    ssl: ssl.SSLContext | bool = True
    headers: dict[str, str] = field(default_factory=dict)
    tls_server_name: str | None = None
    proxy: str | None = None


def _files(flag: str | None) -> list[Path]:
    if flag:
        return [Path(flag).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _merged(files: list[Path]) -> tuple[dict[str, Any], Path]:
    """The kubeconfig files as one (the first to name an entry wins, like kubectl); the
    directory of the first file, against which relative paths are read."""
    merged: dict[str, Any] = {"contexts": {}, "clusters": {}, "users": {}}
    found: list[Path] = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            continue
        found.append(path)
        merged.setdefault("current-context", data.get("current-context"))
        if not merged["current-context"]:
            merged["current-context"] = data.get("current-context")
        for kind, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for entry in data.get(kind) or []:
                if isinstance(entry, dict) and entry.get("name") not in merged[kind]:
                    merged[kind][entry.get("name")] = (entry.get(key) or {}, path.parent)
    if not found:
        raise ConfigError(f"no kubeconfig at {', '.join(str(f) for f in files)}")
    return merged, found[0].parent


def _read(base: Path, value: str) -> bytes:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).read_bytes()


def _material(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    """`<key>-data` (base64) or the file `<key>` names; None when neither is set."""
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(data)
    if entry.get(key):
        return _read(base, str(entry[key]))
    return None


def _load_cert_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """SSLContext reads a client certificate only from files: a private temporary one."""
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        context.load_cert_chain(str(cert_file), str(key_file))


def _exec_credential(spec: Mapping[str, Any], server: str) -> dict[str, Any]:
    """Run the user's exec credential plugin as kubectl does; its ExecCredential status."""
    command = [str(spec.get("command") or ""), *(str(a) for a in spec.get("args") or [])]
    env = dict(os.environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or []})
    version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1")
    request: dict[str, Any] = {"interactive": False}
    if spec.get("provideClusterInfo"):
        request["cluster"] = {"server": server}
    info = {"apiVersion": version, "kind": "ExecCredential", "spec": request}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ConfigError(f"exec credential plugin {command[0]!r}: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(
            f"exec credential plugin {command[0]!r} exited {done.returncode}: "
            f"{done.stderr.strip()[:300]}"
        )
    try:
        status = json.loads(done.stdout).get("status") or {}
    except (ValueError, AttributeError):
        raise ConfigError(f"exec credential plugin {command[0]!r}: not an ExecCredential") from None
    return dict(status)


async def load(kubeconfig: str | None, context: str | None) -> Connection:
    """The connection a kubeconfig describes (see the module's docstring for what is read)."""
    found = _load(kubeconfig, context)
    if isinstance(found, Connection):
        return found
    name, namespace = found
    return await _from_kubernetes_asyncio(kubeconfig, name, namespace)


def _load(kubeconfig: str | None, context: str | None) -> Connection | tuple[str, str]:
    """The Connection; (context, namespace) for a user only kubernetes_asyncio can read."""
    merged, _ = _merged(_files(kubeconfig))
    name = context or merged.get("current-context")
    if not name:
        raise ConfigError("the kubeconfig has no current-context: pass --context NAME")
    if name not in merged["contexts"]:
        raise ConfigError(f"context {name!r} is not in the kubeconfig")
    ctx, _ = merged["contexts"][name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged["clusters"]:
        raise ConfigError(f"context {name!r}: cluster {cluster_name!r} is not in the kubeconfig")
    cluster, cluster_base = merged["clusters"][cluster_name]
    user, user_base = merged["users"].get(user_name, ({}, cluster_base))
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ConfigError(f"cluster {cluster_name!r}: no server")
    namespace = str(ctx.get("namespace") or "default")
    if user.get("auth-provider"):
        return (str(name), namespace)
    conn = Connection(
        server=server,
        namespace=namespace,
        tls_server_name=cluster.get("tls-server-name"),
        proxy=cluster.get("proxy-url"),
    )
    credential = _exec_credential(user["exec"], server) if user.get("exec") else {}
    if server.startswith("https://"):
        try:
            conn.ssl = _ssl_context(cluster, cluster_base, user, user_base, credential)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"context {name!r}: TLS material: {exc}") from None
    token = credential.get("token") or user.get("token")
    if token:
        conn.headers["Authorization"] = f"Bearer {token}"
    elif user.get("tokenFile"):
        token = _read(user_base, str(user["tokenFile"])).decode().strip()
        conn.headers["Authorization"] = f"Bearer {token}"
    elif user.get("username"):
        pair = f"{user['username']}:{user.get('password') or ''}".encode()
        conn.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
    return conn


def _ssl_context(
    cluster: Mapping[str, Any],
    cluster_base: Path,
    user: Mapping[str, Any],
    user_base: Path,
    credential: Mapping[str, Any],
) -> ssl.SSLContext:
    """Verify the server by the kubeconfig's CA (or not at all, when it says so); present
    the user's client certificate, or the one an exec plugin returned."""
    # Not create_default_context(): loading the system's CA store costs more than a
    # `list`'s requests, and a kubeconfig with a CA trusts only that one (as kubectl).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        ca = _material(cluster, "certificate-authority", cluster_base)
        if ca is not None:
            context.load_verify_locations(cadata=ca.decode())
        else:
            context.load_default_certs()
    cert = _material(user, "client-certificate", user_base)
    key = _material(user, "client-key", user_base)
    if credential.get("clientCertificateData") and credential.get("clientKeyData"):
        cert = str(credential["clientCertificateData"]).encode()
        key = str(credential["clientKeyData"]).encode()
    if cert is not None and key is not None:
        _load_cert_chain(context, cert, key)
    return context


async def _from_kubernetes_asyncio(
    kubeconfig: str | None, context: str, namespace: str
) -> Connection:
    """A user this module does not read (an auth-provider): kubernetes_asyncio's loader
    resolves it (slower to import, but complete); its result as a Connection."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    try:
        await config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except Exception as exc:  # its ConfigException and whatever its providers raise
        raise ConfigError(f"context {context!r}: {exc}") from None
    return from_configuration(configuration, namespace)


def from_configuration(configuration: Any, namespace: str) -> Connection:
    """A Connection from a kubernetes_asyncio `Configuration` (host, CA and client files,
    verify_ssl, its API key)."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    conn = Connection(server=str(configuration.host).rstrip("/"), namespace=namespace, ssl=context)
    token = configuration.get_api_key_with_prefix(
        "BearerToken"
    ) or configuration.get_api_key_with_prefix("authorization")
    if token:
        conn.headers["Authorization"] = str(token)
    return conn


class Rest:
    """One aiohttp session to one API server; use `async with Rest(conn) as rest`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        headers = dict(conn.headers)
        headers.setdefault("User-Agent", "kubectl-runwright")
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self.conn.ssl, limit=32),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
            )
        return self._session

    async def close(self) -> None:
        """Close the session (and its connections)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A response while the block runs (for streams: logs, watches); non-2xx is ApiError.
        aiohttp's errors (no connection) are the caller's to word."""
        headers = {"Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        query = {k: str(v) for k, v in (params or {}).items()}
        async with self._open().request(
            method,
            self.conn.server + path,
            params=query,
            data=data,
            headers=headers,
            server_hostname=self.conn.tls_server_name,
            proxy=self.conn.proxy,
        ) as response:
            if response.status >= 300:
                raise ApiError(response.status, response.reason or "", await response.read())
            yield response

    async def json(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The answer's JSON body."""
        async with self.request(method, path, params, **kwargs) as response:
            return json.loads(await response.read())
