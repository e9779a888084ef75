"""Our objects' events go straight to their handler, past kopf's per-event machinery.

kopf handles every event of a watched object as a possible change to act on: a
memory record, three loggers, an error throttler, a diff base, cause detection, a
handler state with its outcome and a patch to apply. None of it matters to this
operator's on.event handlers for runs, Jobs and pods, which keep what they need in
their own stores and never patch through kopf; yet it was about 0.5 ms of CPU per
event on a 2-core machine, 8 of every 9 parts of a listed object's cost (issue 17:
6.4 s of CPU, 22-32 s to the first Job after a restart with 10,000 runs), and
about a fifth of the CPU per one-block run and of a DAG step's latency (issue 11:
diamond step p50 182 -> 104 ms, one-block run 16.9 -> 14.8 ms of CPU).

So every event of a kind registered here (`direct`) calls the handler at once, with
the keyword arguments our handlers read (event, memo, labels, namespace), still in
kopf's worker for the object (kopf's per-object queue keeps the events of one object
in order); other kinds go through kopf unchanged. A handler's error is logged with
the object's name and ignored, as kopf does for on.event.

Installed by replacing `kopf._core.reactor.processing.process_resource_event`
before `kopf.operator()` binds it (kopf 1.45: running.spawn_tasks); `install`
refuses, and the operator runs on kopf's path, if kopf's layout is not that one.

The first LIST of each kind skips even kopf's queueing (`bypass_first_listing`,
from the startup handler, which kopf runs before any watch): kopf gives every
object a worker task with its own queue, and that was two thirds of what was
left per listed object. The watch stream's listed objects are handed to their
handler in the watch task itself, in order; no worker exists yet for any of them
(each object is listed once, before the watch begins), so none is overtaken.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from kopf._cogs.clients import watching
from kopf._core.reactor import processing

log = logging.getLogger("runwright.kopflisting")

ListedHandler = Callable[..., Awaitable[None]]

#: plural -> (handler, label it requires or None): the kinds whose events skip kopf.
DIRECT: dict[str, tuple[ListedHandler, str | None]] = {}

_KOPF = processing.process_resource_event
_KOPF_WATCH = watching.infinite_watch


def direct(plural: str, label: str | None = None) -> Callable[[ListedHandler], ListedHandler]:
    """Decorator: events of `plural` (objects with `label`, if given) go straight to it."""

    def register(handler: ListedHandler) -> ListedHandler:
        DIRECT[plural] = (handler, label)
        return handler

    return register


async def handle_direct(
    handler: ListedHandler, label: str | None, raw_event: Mapping[str, Any], memo: Any
) -> None:
    """Call the handler as kopf would for an on.event handler, logging and ignoring its error."""
    meta = raw_event["object"].get("metadata") or {}
    labels = meta.get("labels") or {}
    if label is not None and label not in labels:
        return  # kopf's label filter of the handler: not one of ours
    try:
        await handler(event=raw_event, memo=memo, labels=labels, namespace=meta.get("namespace"))
    except Exception:
        log.exception(
            "event %s on %s/%s: %s failed; ignored (as kopf ignores an on.event handler's error)",
            raw_event.get("type") or "LISTED",
            meta.get("namespace"),
            meta.get("name"),
            getattr(handler, "__name__", handler),
        )


async def process_resource_event(**kwargs: Any) -> str | None:
    """kopf's processor, but an event of a DIRECT kind goes to its handler directly."""
    raw_event = kwargs["raw_event"]
    entry = DIRECT.get(kwargs["resource"].plural)
    if entry is not None:
        await handle_direct(*entry, raw_event, kwargs["memobase"])
        return None
    result: str | None = await _KOPF(**kwargs)
    return result


def install() -> bool:
    """Route our objects' events past kopf (before kopf.operator starts); False if kopf differs."""
    expected = {"raw_event", "resource", "memobase"}
    if not expected <= set(inspect.signature(_KOPF).parameters):
        log.warning("kopf's event processor changed: listed objects go through kopf")
        return False
    processing.process_resource_event = process_resource_event  # type: ignore[assignment]
    return True


def bypass_first_listing(memo: Any, on_listed: Callable[[str], None] = lambda _: None) -> bool:
    """Hand the first LIST's objects to their handler in kopf's watch task (no worker each).

    Called from the startup handler, with the memo the handlers read; `on_listed`
    hears the plural when one such LIST ended (all its objects handled). False
    (kopf's path unchanged) if kopf's watch stream is not the one this was written for.
    """
    if "resource" not in inspect.signature(_KOPF_WATCH).parameters:
        log.warning("kopf's watch stream changed: listed objects get kopf's workers")
        return False

    async def infinite_watch(**kwargs: Any) -> AsyncIterator[Any]:
        entry = DIRECT.get(kwargs["resource"].plural)
        listing = entry is not None
        async for item in _KOPF_WATCH(**kwargs):
            if listing and entry is not None:
                if item is watching.Bookmark.LISTED:
                    listing = False  # the LIST is over: the watch's events go to kopf
                    on_listed(kwargs["resource"].plural)
                elif isinstance(item, Mapping) and item.get("type") is None:
                    await handle_direct(*entry, item, memo)
                    continue
            yield item

    watching.infinite_watch = infinite_watch
    return True
