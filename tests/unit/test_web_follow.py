"""Following a log live (web/follow.py): lines from chunks, and the bounds on bytes and followers.

The stream itself (kwok's followed log, the pod's watch, the page) is exercised in
tests/integration/test_web_follow.py; here are the parts that need no cluster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client import Configuration

from runwright.web import ClusterAccess, Identity, Settings, create_app
from runwright.web.follow import (
    FOLLOWERS,
    MAX_LINE_BYTES,
    Followers,
    TooManyFollowers,
    identity_key,
    lines_of,
)

NOWHERE = "https://127.0.0.1:9"  # no API server: a refused follow must not reach one


async def chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collected(parts: Iterable[bytes], limit: int = 1 << 20) -> list[list[str]]:
    return [batch async for batch in lines_of(chunks(parts), limit)]


async def test_a_line_split_across_chunks_is_sent_once_complete() -> None:
    assert await collected([b"first\nsec", b"ond\n", b"third"]) == [
        ["first"],
        ["second"],
        ["third"],
    ]


async def test_nothing_past_the_byte_limit_is_sent() -> None:
    batches = await collected([b"aaaa\nbbbb\n", b"cccc\n"], limit=7)
    assert batches == [["aaaa"], ["bb"]]


async def test_a_line_without_newline_is_sent_in_bounded_pieces() -> None:
    batches = await collected([b"x" * (MAX_LINE_BYTES * 2 + 5)])
    assert [len(line) for batch in batches for line in batch] == [
        MAX_LINE_BYTES,
        MAX_LINE_BYTES,
        5,
    ]


def test_one_identity_may_follow_at_most_its_limit_and_others_are_not_counted() -> None:
    followers = Followers(2)
    with followers.hold("alice"), followers.hold("alice"):
        with (
            pytest.raises(TooManyFollowers, match=r"at most 2 at once.*--log-followers"),
            followers.hold("alice"),
        ):
            pass
        with followers.hold("bob"):
            assert followers.count("bob") == 1
    assert followers.count("alice") == 0
    with followers.hold("alice"):
        assert followers.count("alice") == 1


def test_followers_are_counted_by_a_digest_never_the_token() -> None:
    key = identity_key(Identity("secret-token"))
    assert "secret-token" not in key
    assert key == identity_key(Identity("secret-token")) != identity_key(Identity("other"))
    assert identity_key(Identity(None)) == "kubeconfig"


async def test_one_follow_too_many_is_refused_with_429_before_any_api_call() -> None:
    access = ClusterAccess(Configuration(host=NOWHERE), kubeconfig_identity=False)
    app = create_app(Settings(access=access, log_followers=1))
    async with TestClient(TestServer(app)) as client:
        with app[FOLLOWERS].hold(identity_key(Identity("t0k"))):
            answer = await client.get(
                "/api/runs/ns/run-1/log/follow?block=a&attempt=1",
                headers={"Authorization": "Bearer t0k"},
            )
            assert answer.status == 429
            assert "at most 1 at once" in await answer.text()


async def test_a_stream_the_handler_prepares_carries_the_security_headers() -> None:
    """The event stream is prepared before its first Kubernetes call (none answers here)."""
    access = ClusterAccess(Configuration(host=NOWHERE), kubeconfig_identity=False)
    async with TestClient(TestServer(create_app(Settings(access=access)))) as client:
        answer = await client.get("/api/events", headers={"Authorization": "Bearer t0k"})
        assert answer.headers["Content-Type"] == "text/event-stream"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
        answer.close()
