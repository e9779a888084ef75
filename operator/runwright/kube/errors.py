"""What an API error says, in one line: the server's own words, or the missing permission.

One parser for every caller: the reconcile loops log it, the Job executor puts it in
an attempt's failure, the API endpoint answers it to its caller.
"""

from __future__ import annotations

import json
import re

from kubernetes_asyncio.client.exceptions import ApiException

#: The API server's RBAC denial: `... is forbidden: User "U" cannot VERB resource "R" in
#: API group "G" [in the namespace "N"]`.
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r' in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)
#: A body that is not a Status is quoted, but never at length (it may be an HTML page).
_BODY_CHARS = 300


def api_message(exc: ApiException) -> str:
    """The API server's own words (its Status `message`), else the body, else the HTTP reason."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    text = body if isinstance(body, str) else ""
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        return message
    if text.strip() and not text.lstrip().startswith("{"):
        return text.strip()[:_BODY_CHARS]
    return " ".join(str(part) for part in (exc.status, exc.reason) if part) or "no answer"


def describe(exc: BaseException) -> str:
    """An API answer in the server's words; a connection error by its type and text."""
    if isinstance(exc, ApiException):
        return api_message(exc)
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def permission_missing(message: str) -> str | None:
    """What an RBAC denial (403) lacks, in one line an admin can act on; None if not one.

    "permission missing: patch pipelineruns/status in API group runwright.dev in
    namespace data for system:serviceaccount:rw:runwright (grant it to the operator's
    ServiceAccount: the rules are in charts/runwright/templates/_helpers.tpl)".
    """
    found = _FORBIDDEN.search(message)
    if found is None:
        return None
    group = found["group"] or "core"
    where = f"in namespace {found['namespace']}" if found["namespace"] else "cluster-wide"
    return (
        f"permission missing: {found['verb']} {found['resource']} in API group {group} "
        f"{where} for {found['user']} (grant it to the operator's ServiceAccount: the rules "
        "are in charts/runwright/templates/_helpers.tpl)"
    )


def forbidden(exc: BaseException) -> str | None:
    """For a 403 from the API server (an ApiException, or an executor error carrying its
    status and message): what permission is missing; None for anything else."""
    if getattr(exc, "status", None) != 403:
        return None
    message = api_message(exc) if isinstance(exc, ApiException) else str(exc)
    return permission_missing(message) or f"forbidden: {message}"
