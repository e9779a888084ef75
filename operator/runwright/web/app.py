"""The aiohttp application: pages, the JSON API, the event stream, and the guards around them.

Guards, in the order a request meets them (`guard` middleware):
- the Host header must be one we serve (`--kubeconfig` mode: 127.0.0.1 only),
  so a DNS-rebinding page cannot reach the local identity;
- a state-changing request (POST) must pass the CSRF check (auth.py);
- every answer carries a strict Content-Security-Policy (only our own scripts
  and styles, no inline code, no frames) and the usual hardening headers.
A Kubernetes refusal becomes an answer with the same status and its words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.archive import InvalidCursor
from runwright.web import api, auth, follow, pipelines, sse
from runwright.web.actions import refusal
from runwright.web.kubeapi import Identity
from runwright.web.runs import QueryError
from runwright.web.settings import SETTINGS, Settings

STATIC = Path(str(resources.files("runwright.web") / "static"))
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer a form POST carries `Origin: null`,
    # and the login's origin check needs the real one.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Pages shown without a login (everything else needs an identity).
_PUBLIC = ("/login", "/static/", "/healthz")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _headers(response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host check, login check, CSRF on POSTs, security headers, Kubernetes refusals in words."""
    conf = request.app[SETTINGS]
    if conf.allowed_hosts and request.host not in conf.allowed_hosts:
        raise web.HTTPMisdirectedRequest(text=f"host {request.host!r} is not served here")
    public = request.path.startswith(_PUBLIC)
    if not public and auth.identity(request).token is None and not conf.access.kubeconfig_identity:
        if request.path.startswith("/api/"):
            raise web.HTTPUnauthorized(
                text="log in: send Authorization: Bearer <token>, or use /login"
            )
        raise web.HTTPFound("/login")
    if request.method == "POST" and request.path != "/login":
        problem = auth.csrf_problem(request)
        if problem:
            raise web.HTTPForbidden(text=problem)
    try:
        response = await handler(request)
    except ApiException as exc:
        status = exc.status if isinstance(exc.status, int) and 400 <= exc.status < 600 else 502
        response = web.Response(status=status, text=refusal(exc))
    except (QueryError, InvalidCursor) as exc:
        response = web.Response(status=400, text=str(exc))
    except web.HTTPException as exc:
        _headers(exc)
        raise
    if not response.prepared:
        _headers(response)
        if request.method == "GET" and not request.path.startswith(("/api/", "/static/")):
            auth.ensure_csrf(request, response)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _streamed_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """The same headers on responses a handler prepares itself (the event and log streams)."""
    _headers(response)


def _page(name: str) -> Handler:
    async def page(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

    return page


async def login(request: web.Request) -> web.StreamResponse:
    """POST /login: check the token with the API server, then keep it in the cookie."""
    origin = request.headers.get("Origin")
    cross_site = request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none")
    if cross_site or (origin and origin.split("://", 1)[-1] != request.host):
        raise web.HTTPForbidden(text="login from another site refused")
    form = await request.post()
    token = str(form.get("token", "")).strip()
    if not token:
        raise web.HTTPFound("/login?error=empty")
    async with request.app[SETTINGS].access.client(Identity(token)) as client:
        try:
            await client.may("list", "pipelineruns", None)
        except ApiException as exc:
            if exc.status == 401:
                raise web.HTTPFound("/login?error=rejected") from None
            raise
    response = web.HTTPFound("/")
    auth.set_login(response, request, token)
    raise response


async def logout(_request: web.Request) -> web.StreamResponse:
    """POST /logout: forget the token."""
    response = web.HTTPFound("/login")
    auth.clear_login(response)
    raise response


async def whoami(request: web.Request) -> web.Response:
    """GET /api/session: what the pages need to know about this server."""
    conf = request.app[SETTINGS]
    return web.json_response(
        {
            "readOnly": conf.read_only,
            "kubeconfig": conf.access.kubeconfig_identity,
            "archive": conf.archive is not None,
            "cookieLogin": auth.TOKEN_COOKIE in request.cookies,
        }
    )


async def healthz(_request: web.Request) -> web.Response:
    """GET /healthz: the server answers."""
    return web.Response(text="ok")


def create_app(settings: Settings) -> web.Application:
    """The web application for these settings."""
    app = web.Application(middlewares=[guard])
    app[SETTINGS] = settings
    app[follow.FOLLOWERS] = follow.Followers(settings.log_followers)
    app.on_response_prepare.append(_streamed_headers)
    app.add_routes(
        [
            web.get("/", _page("index.html")),
            web.get("/runs/{namespace}/{name}", _page("run.html")),
            web.get("/pipelines", _page("pipelines.html")),
            web.get("/login", _page("login.html")),
            web.post("/login", login),
            web.post("/logout", logout),
            web.get("/healthz", healthz),
            web.get("/api/session", whoami),
            web.get("/api/events", sse.events),
            *api.routes(),
            *follow.routes(),
            *pipelines.routes(),
            web.static("/static", STATIC, follow_symlinks=False),
        ]
    )
    if settings.archive is not None:
        engine = settings.archive

        async def close_archive(_app: web.Application) -> None:
            await engine.dispose()

        app.on_cleanup.append(close_archive)
    return app
