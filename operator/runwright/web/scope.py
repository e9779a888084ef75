"""Which namespaces a user may list runs in, asked of the API server (SelfSubjectAccessReview).

Used twice: to list and watch live runs (a cluster-wide list when allowed,
else one per namespace) and to limit archive reads, which Kubernetes RBAC does
not guard by itself: an archived run is shown only from a namespace where the
user may list pipelineruns now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runwright.web.kubeapi import RUNS, UserKube

#: How a refused cluster-wide list is named to the user.
ALL_NAMESPACES = "all namespaces (choose one in the namespace filter)"


@dataclass(frozen=True)
class Scope:
    """Namespaces the user may list runs in (None: every one), and those refused."""

    namespaces: list[str] | None
    denied: list[str]

    def allows(self, namespace: str) -> bool:
        """True when runs of `namespace` may be shown."""
        return self.namespaces is None or namespace in self.namespaces


async def readable(kube: UserKube, requested: str, candidates: Sequence[str]) -> Scope:
    """The scope for a list: the requested namespace, else all, else the server's candidates.

    `candidates` are the namespaces the server was told to look in (`--namespace`);
    they matter only for a user who may not list runs cluster-wide.
    """
    if requested:
        if await kube.may("list", RUNS, requested):
            return Scope([requested], [])
        return Scope([], [requested])
    if not candidates:
        if await kube.may("list", RUNS, None):
            return Scope(None, [])
        return Scope([], [ALL_NAMESPACES])
    allowed: list[str] = []
    denied: list[str] = []
    for namespace in candidates:
        (allowed if await kube.may("list", RUNS, namespace) else denied).append(namespace)
    return Scope(allowed, denied)
