"""Who a request acts as, and the CSRF token that guards every action.

A request carries the user's Kubernetes token in `Authorization: Bearer ...`,
or in the HttpOnly, SameSite=Strict cookie the login form sets. The server
passes that token to the API server on every call (kubeapi.py), so RBAC
decides; it keeps no session of its own and stores no token. In `--kubeconfig`
mode a request without a token acts as the kubeconfig's identity.

CSRF: actions are POSTs with a JSON body and an `X-CSRF-Token` header equal to
the `runwright_csrf` cookie (double submit). Another site can neither read the
cookie nor send that header without a CORS preflight, which this server never
grants; with a bearer header (a script, not a browser) no cookie rides along,
so no check is needed.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from runwright.web.kubeapi import Identity

TOKEN_COOKIE = "runwright_token"  # noqa: S105 (a cookie name, not a secret)
CSRF_COOKIE = "runwright_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: A login lasts at most this long (seconds); the token's own expiry may end it sooner.
SESSION_SECONDS = 8 * 3600


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def identity(request: web.Request) -> Identity:
    """The identity the request acts as (token None: the kubeconfig's, when allowed)."""
    return Identity(token=bearer(request) or request.cookies.get(TOKEN_COOKIE) or None)


def is_secure(request: web.Request) -> bool:
    """True when the browser reached us over HTTPS (directly or through a proxy that says so)."""
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_login(response: web.StreamResponse, request: web.Request, token: str) -> None:
    """Keep the token in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS)."""
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
        path="/",
    )


def clear_login(response: web.StreamResponse) -> None:
    """Forget the token (log out)."""
    response.del_cookie(TOKEN_COOKIE, path="/")


def ensure_csrf(request: web.Request, response: web.StreamResponse) -> None:
    """Give the browser a CSRF token cookie (readable by our script, SameSite=Strict)."""
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(32),
            httponly=False,
            samesite="Strict",
            secure=is_secure(request),
            path="/",
        )


def csrf_problem(request: web.Request) -> str | None:
    """Why an action request fails the CSRF check; None when it passes."""
    if bearer(request) is not None and TOKEN_COOKIE not in request.cookies:
        return None  # a script with its own header: no ambient credential to abuse
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        return (
            f"CSRF check failed: the {CSRF_HEADER} header must equal the {CSRF_COOKIE} "
            "cookie; reload the page and try again"
        )
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return "CSRF check failed: the request came from another site"
    return None
