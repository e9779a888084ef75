"""A write whose answer the operator does not decode still reuses its connection.

aiohttp closes a connection that is released before its answer's body has all
arrived; the operator's writes skip decoding their answers (`_unread`), and each used
to cost a new connection and TLS handshake when the body (a pod, a run) came in more
than one piece. A real HTTP server here sends the body in two pieces, a moment apart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import ApiClient, Configuration, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.kube.client import _unread

BODY = b'{"kind": "PipelineRun", "pad": "' + b"x" * 65536 + b'"}'


async def serve(status: int, peers: set[Any]) -> TestServer:
    async def answer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        response = web.StreamResponse(status=status)
        response.content_type = "application/json"
        response.content_length = len(BODY)
        await response.prepare(request)
        await response.write(BODY[:100])
        await asyncio.sleep(0.05)  # the rest arrives after the caller has the headers
        await response.write(BODY[100:])
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def patch_twice(server: TestServer) -> list[Any]:
    api = ApiClient(Configuration(host=str(server.make_url(""))))
    custom = CustomObjectsApi(api)

    def patch() -> Any:
        return custom.patch_namespaced_custom_object_status(
            "runwright.dev", "v1alpha1", "ns", "pipelineruns", "r", {}, _preload_content=False
        )

    outcomes: list[Any] = []
    try:
        for _ in range(2):
            try:
                outcomes.append(await _unread(patch))
            except ApiException as error:
                outcomes.append(error)
    finally:
        await api.close()
    return outcomes


async def test_two_writes_share_one_connection() -> None:
    peers: set[Any] = set()
    server = await serve(200, peers)
    try:
        outcomes = await patch_twice(server)
    finally:
        await server.close()
    assert [o.status for o in outcomes] == [200, 200]
    assert len(peers) == 1


async def test_a_refusal_carries_its_whole_body_and_keeps_the_connection() -> None:
    peers: set[Any] = set()
    server = await serve(409, peers)
    try:
        outcomes = await patch_twice(server)
    finally:
        await server.close()
    assert all(isinstance(o, ApiException) and o.status == 409 for o in outcomes)
    assert outcomes[0].body == BODY
    assert len(peers) == 1
