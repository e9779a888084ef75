"""The server's settings (its flags), kept on the aiohttp app under one key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.web.kubeapi import ClusterAccess


@dataclass(frozen=True)
class Settings:
    """What `runwright server` was started with."""

    access: ClusterAccess
    #: Namespaces to look in for users who may not list runs cluster-wide (`--namespace`).
    namespaces: tuple[str, ...] = ()
    read_only: bool = False
    #: The run archive (`--archive URL`), read-only here; None: live runs only.
    archive: AsyncEngine | None = None
    #: Host headers accepted (DNS-rebinding guard of `--kubeconfig` mode); empty: any.
    allowed_hosts: frozenset[str] = frozenset()
    #: Logs one identity may follow at once (`--log-followers`); more are refused (429).
    log_followers: int = 4


SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
