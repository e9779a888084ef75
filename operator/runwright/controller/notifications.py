"""The operator's notifier: Secrets from the API server, Trigger notifications from the read model.

The operator reads a notification's URL and HMAC key with `get` on the Secret named
in the run's namespace, when it sends (never cached: a rotated key applies to the
next attempt). The chart's Role already grants `get` on secrets (for API-trigger
tokens) and nothing wider: no list, no watch. A missing Secret or key is retried with
the delivery's backoff, since it may be created after the Pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from runwright.api.notifications import Notification
from runwright.controller.readmodel import ReadModel
from runwright.engine.notifications import SecretRef
from runwright.kube.client import Kube
from runwright.notifier import Notifier

log = logging.getLogger("runwright.notifications")

_NOTIFICATIONS = TypeAdapter(list[Notification])


class KubeSecrets:
    """Secret keys read from the API server (`get secrets` in the run's namespace)."""

    retry_missing = True

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def read(self, namespace: str, ref: SecretRef) -> bytes | None:
        return await self.kube.secret_value(namespace, ref.name, ref.key)

    def missing(self, namespace: str, ref: SecretRef) -> str:
        return (
            f"Secret {namespace}/{ref.name} has no key {ref.key} (or does not exist, or the "
            f"operator may not get it): kubectl create secret generic {ref.name} -n {namespace} "
            f"--from-literal={ref.key}=..."
        )


def trigger_notifications(body: Mapping[str, Any] | None) -> Sequence[Notification]:
    """A Trigger body's spec.notifications; empty when it has none or they do not validate
    (the Trigger's Ready condition reports an invalid spec)."""
    raw = ((body or {}).get("spec") or {}).get("notifications")
    if not raw:
        return ()
    try:
        return _NOTIFICATIONS.validate_python(raw)
    except ValidationError as exc:
        meta = (body or {}).get("metadata") or {}
        log.warning(
            "Trigger %s/%s: spec.notifications ignored, invalid: %s",
            meta.get("namespace"),
            meta.get("name"),
            exc.errors()[0].get("msg"),
        )
        return ()


def operator_notifier(kube: Kube, model: ReadModel) -> Notifier:
    """The notifier of the operator's reconciles."""
    return Notifier(
        KubeSecrets(kube),
        trigger_notifications=lambda ns, name: trigger_notifications(model.trigger(ns, name)),
    )
