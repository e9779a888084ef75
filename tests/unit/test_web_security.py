"""The web server's guards, through aiohttp's test client: CSP, login, CSRF, Host, read-only.

None of these requests reaches Kubernetes: each guard answers before any API call,
which is the point (a refused request must cost nothing and reveal nothing).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client import Configuration

from runwright.web import ClusterAccess, Settings, auth, create_app
from runwright.web.app import CSP, STATIC

NOWHERE = "https://127.0.0.1:9"  # no API server: a guard that let a request through would fail


def settings(
    *, kubeconfig: bool = False, read_only: bool = False, hosts: frozenset[str] = frozenset()
) -> Settings:
    base = Configuration(host=NOWHERE)
    return Settings(
        access=ClusterAccess(base, kubeconfig_identity=kubeconfig),
        read_only=read_only,
        allowed_hosts=hosts,
    )


@pytest_asyncio.fixture(loop_scope="function")
async def token_mode() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(create_app(settings(read_only=True)))) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="function")
async def local_mode() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app(settings(kubeconfig=True, read_only=True))
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_every_page_carries_the_content_security_policy(token_mode: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/login", "/static/runs.js", "/healthz"):
        response = await token_mode.get(path)
        assert response.status == 200, path
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP


async def test_without_a_token_pages_redirect_to_login_and_the_api_answers_401(
    token_mode: TestClient,
) -> None:  # type: ignore[type-arg]
    page = await token_mode.get("/", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/login"
    api = await token_mode.get("/api/runs")
    assert api.status == 401
    assert "Authorization: Bearer" in await api.text()


async def test_an_action_without_the_csrf_header_is_refused(local_mode: TestClient) -> None:  # type: ignore[type-arg]
    await local_mode.get("/")  # gets the CSRF cookie
    response = await local_mode.post("/api/actions", json={"action": "cancel"})
    assert response.status == 403
    assert "CSRF check failed" in await response.text()


async def test_an_action_with_a_wrong_csrf_header_is_refused(local_mode: TestClient) -> None:  # type: ignore[type-arg]
    await local_mode.get("/")
    response = await local_mode.post(
        "/api/actions", json={"action": "cancel"}, headers={auth.CSRF_HEADER: "guessed"}
    )
    assert response.status == 403
    assert "CSRF check failed" in await response.text()


async def test_an_action_from_another_site_is_refused_even_with_the_token(
    local_mode: TestClient,
) -> None:  # type: ignore[type-arg]
    await local_mode.get("/")
    csrf = local_mode.session.cookie_jar.filter_cookies(local_mode.make_url("/"))[
        auth.CSRF_COOKIE
    ].value
    response = await local_mode.post(
        "/api/actions",
        json={"action": "cancel"},
        headers={auth.CSRF_HEADER: csrf, "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status == 403
    assert "another site" in await response.text()


async def test_a_matching_csrf_header_passes_and_read_only_refuses_the_action(
    local_mode: TestClient,
) -> None:  # type: ignore[type-arg]
    page = await local_mode.get("/")
    cookie = page.cookies[auth.CSRF_COOKIE]
    assert cookie["samesite"] == "Strict"
    response = await local_mode.post(
        "/api/actions", json={"action": "cancel"}, headers={auth.CSRF_HEADER: cookie.value}
    )
    assert response.status == 403
    assert "read-only" in await response.text()


async def test_a_script_with_a_bearer_header_needs_no_csrf_token(token_mode: TestClient) -> None:  # type: ignore[type-arg]
    response = await token_mode.post(
        "/api/actions", json={"action": "cancel"}, headers={"Authorization": "Bearer abc"}
    )
    assert response.status == 403
    assert "read-only" in await response.text()


async def test_kubeconfig_mode_refuses_a_foreign_host_header() -> None:
    app = create_app(settings(kubeconfig=True, hosts=frozenset({"127.0.0.1:8090"})))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/healthz", headers={"Host": "attacker.example:8090"})
        assert response.status == 421
        ok = await client.get("/healthz", headers={"Host": "127.0.0.1:8090"})
        assert ok.status == 200


async def test_the_login_cookie_is_httponly_and_samesite_strict() -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.Response(text="in")
        auth.set_login(response, request, "the-token")
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/")
        cookie = response.cookies[auth.TOKEN_COOKIE]
        assert cookie.value == "the-token"
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"


@pytest.mark.parametrize("path", sorted(p.name for p in Path(STATIC).iterdir()))
def test_static_files_fetch_nothing_from_elsewhere_and_run_no_inline_code(path: str) -> None:
    text = (Path(STATIC) / path).read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), (
        "no CDN: everything comes from the package"
    )
    if path.endswith(".html"):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), (
            "no inline script (CSP forbids it)"
        )
        assert " style=" not in text and " on" + "click=" not in text


async def test_a_login_posted_from_another_site_is_refused(token_mode: TestClient) -> None:  # type: ignore[type-arg]
    response = await token_mode.post(
        "/login",
        data={"token": "t"},
        headers={"Origin": "https://attacker.example"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "another site" in await response.text()


async def test_a_bad_list_parameter_is_a_400_naming_it(token_mode: TestClient) -> None:  # type: ignore[type-arg]
    response = await token_mode.get(
        "/api/runs?sort=colour", headers={"Authorization": "Bearer abc"}
    )
    assert response.status == 400
    assert "sort='colour': not a column" in await response.text()
