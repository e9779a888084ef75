"""Objects created but not yet seen by the watch: the one memory of that window.

A controller that creates an object and decides again before its watch delivers it
would decide from a world without it: start the same block twice, fire a trigger
again under Forbid. So each creator *expects* the object, synchronously, before the
request is sent (a watch event that beats the response is then not lost), and the
expectation ends when the watch shows the object (`seen`), when the creator gives it
up (`forget`: the request was refused, the owner is gone), or when it is older than
the time-out (the object was deleted before the watch ever showed it, so it must
not count forever).

Keys name the objects (e.g. (namespace, name)); an owner groups them for the one
question every user asks: "what of X is on its way?" The value is whatever the
creator wants to answer that with (a (block, attempt), a run record).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class _Expected(Generic[V]):
    owner: Hashable
    value: V
    since: float


class Expectations(Generic[K, V]):
    """Keyed expectations with a time-out; every method is synchronous (no await)."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._items: dict[K, _Expected[V]] = {}

    def expect(self, key: K, owner: Hashable, value: V) -> None:
        """Expect `key` from now on (again, if it was already: the clock restarts)."""
        self._items[key] = _Expected(owner, value, self._clock())

    def seen(self, keys: Iterable[K]) -> None:
        """The watch shows these objects: they are no longer expected."""
        for key in keys:
            self._items.pop(key, None)

    def forget(self, key: K) -> None:
        """Stop expecting one object (its creation was refused, or it was deleted)."""
        self._items.pop(key, None)

    def forget_owner(self, owner: Hashable) -> None:
        """Stop expecting everything of an owner (it was deleted or is finished)."""
        for key in [k for k, e in self._items.items() if e.owner == owner]:
            del self._items[key]

    def of(self, owner: Hashable) -> dict[K, V]:
        """The owner's objects still expected, by key; expired ones are dropped first."""
        self._expire()
        return {k: e.value for k, e in self._items.items() if e.owner == owner}

    def __contains__(self, key: object) -> bool:
        self._expire()
        return key in self._items

    def __len__(self) -> int:
        self._expire()
        return len(self._items)

    def _expire(self) -> None:
        cutoff = self._clock() - self.timeout
        for key in [k for k, e in self._items.items() if e.since < cutoff]:
            del self._items[key]
